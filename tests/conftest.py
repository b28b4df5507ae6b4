"""Shared test settings and fixtures: Qt tests run on the X server from xvfb-run (make test).

* ``cryodrgn_installed``: cryoDRGN in this venv for the tests that run it for real (the
  runner's and the Methods tab's); installed with ``install_command()`` when missing (about
  4 minutes: torch's CPU build and cryoDRGN), and an install that fails fails those tests
  with pip's last lines, never skips them.
"""
from __future__ import annotations

import subprocess
import time

import pytest

from slurm_cluster import one_node_cluster

INSTALL_TIMEOUT_S = 1500


@pytest.fixture(scope="session")
def slurm_cluster():
    """A real one-node SLURM cluster (tests/slurm_cluster.py), SLURM_CONF set to it."""
    with one_node_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def cryodrgn_installed():
    from engine.methods.cryodrgn import check_cryodrgn, install_command
    from engine.methods.tools import ToolMissingError

    try:
        return check_cryodrgn()
    except ToolMissingError:
        pass
    t0 = time.monotonic()
    done = subprocess.run(install_command(), capture_output=True, text=True, errors="replace",
                          timeout=INSTALL_TIMEOUT_S)
    elapsed = time.monotonic() - t0
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(install_command())}` failed after {elapsed:.0f} s:\n"
                    f"{(done.stdout + done.stderr)[-3000:]}")
    print(f"installed cryoDRGN in {elapsed:.0f} s")
    return check_cryodrgn()

"""A real one-node SLURM cluster for the tests that submit jobs (DESIGN.md §7): the runners of
engine.methods through sbatch, and ``simulate --slurm``'s Dask workers (dask-jobqueue).

The ``slurm_cluster`` fixture in tests/conftest.py starts it once per session with
:func:`one_node_cluster`: Debian's ``slurm-wlm`` and ``munge`` (installed with apt-get when
missing; the tests run as root), a private munged with its own key and socket, a ``slurm.conf`` written here
with free ports and every state/spool/log/pid path in one temporary folder, ``slurmctld`` and
``slurmd`` started, and all three stopped by the pids in their pid files at the end. Nothing is
skipped: a cluster that cannot start fails the test with the reason and the daemons' logs.
The private munge socket and ports keep it apart from any other cluster on the machine.

Example::

    with one_node_cluster() as cluster:      # SLURM_CONF points at it inside
        subprocess.run(["sbatch", "-p", cluster.partition, "--wrap", "hostname"])
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

PACKAGES = ("slurm-wlm", "munge")
EXECUTABLES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def _run(argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, errors="replace", **kwargs)


def _install_packages() -> None:
    if all(shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin") for name in EXECUTABLES):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=300", *PACKAGES]
    done = _run(install, env=env)
    if done.returncode != 0:  # a fresh machine may have no package lists yet
        _run(["apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=300"], env=env)
        done = _run(install, env=env)
    if done.returncode != 0:
        pytest.fail(f"cannot install {' '.join(PACKAGES)}: {(done.stdout + done.stderr)[-2000:]}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stop_by_pid_file(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _alive(pid):
            return


class OneNodeCluster:
    """The daemons' files under ``root``; ``conf`` is the slurm.conf (SLURM_CONF)."""

    def __init__(self, root: Path):
        self.root = root
        self.munge_dir, self.slurm_dir = root / "munge", root / "slurm"
        self.socket = self.munge_dir / "munge.socket"
        self.conf = self.slurm_dir / "slurm.conf"
        self.node = socket.gethostname().split(".")[0]
        self.partition = "debug"
        self.started_in_s = 0.0

    def pid_files(self) -> list[Path]:
        return [self.slurm_dir / "slurmd.pid", self.slurm_dir / "slurmctld.pid", self.munge_dir / "munged.pid"]

    def logs(self) -> str:
        text = []
        for log in (self.munge_dir / "munged.log", self.slurm_dir / "slurmctld.log", self.slurm_dir / "slurmd.log"):
            if log.exists():
                text.append(f"--- {log.name}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(text)

    def fail(self, why: str) -> None:
        pytest.fail(f"the test SLURM cluster did not start: {why}\n{self.logs()}")

    def start_munge(self) -> None:
        munge = pwd.getpwnam("munge")
        self.munge_dir.mkdir(mode=0o755)  # munged wants its socket folder open to all, writable by it only
        key = self.munge_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        for path in (self.munge_dir, key):
            os.chown(path, munge.pw_uid, munge.pw_gid)
        done = _run(["runuser", "-u", "munge", "--", "munged", f"--socket={self.socket}", f"--key-file={key}",
                     f"--pid-file={self.munge_dir / 'munged.pid'}", f"--log-file={self.munge_dir / 'munged.log'}",
                     f"--seed-file={self.munge_dir / 'munged.seed'}"])
        if done.returncode != 0:
            self.fail(f"munged: {done.stderr.strip()}")

    def write_conf(self) -> None:
        d = self.slurm_dir
        for sub in ("state", "spool"):
            (d / sub).mkdir(parents=True)
        self.conf.write_text("\n".join([
            "ClusterName=elbenchtest", f"SlurmctldHost={self.node}",
            f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}",
            "SlurmUser=root", "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={self.socket}",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
            f"StateSaveLocation={d / 'state'}", f"SlurmdSpoolDir={d / 'spool'}",
            f"SlurmctldPidFile={d / 'slurmctld.pid'}", f"SlurmdPidFile={d / 'slurmd.pid'}",
            f"SlurmctldLogFile={d / 'slurmctld.log'}", f"SlurmdLogFile={d / 'slurmd.log'}",
            "AccountingStorageType=accounting_storage/none", "JobCompType=jobcomp/none",
            # a cancelled job gets SIGKILL 2 s after SIGTERM (default 30 s), to keep the tests short
            "ReturnToService=2", "KillWait=2",
            f"NodeName={self.node} CPUs=2 RealMemory=1000 State=UNKNOWN",
            f"PartitionName={self.partition} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP", ""]))

    def start(self) -> None:
        t0 = time.monotonic()
        self.start_munge()
        self.write_conf()
        env = {**os.environ, "SLURM_CONF": str(self.conf)}
        for daemon in ("slurmctld", "slurmd"):
            done = _run([daemon], env=env)
            if done.returncode != 0:
                self.fail(f"{daemon} exit code {done.returncode}: {done.stderr.strip()}")
        deadline = time.monotonic() + START_TIMEOUT_S
        state = ""
        while time.monotonic() < deadline:
            state = _run(["sinfo", "-h", "-o", "%T"], env=env).stdout.strip()
            if state == "idle":
                self.started_in_s = time.monotonic() - t0
                return
            time.sleep(0.2)
        self.fail(f"the node is {state or 'not listed'} after {START_TIMEOUT_S:g} s, not idle")

    def stop(self) -> None:
        for pid_file in self.pid_files():
            _stop_by_pid_file(pid_file)
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def one_node_cluster():
    """Start the cluster (installing the packages when missing), set SLURM_CONF to it while
    inside, stop the daemons and remove its folder on the way out."""
    if os.geteuid() != 0:
        pytest.fail("the SLURM tests start a one-node cluster and need root (DESIGN.md §7)")
    _install_packages()
    root = Path(tempfile.mkdtemp(prefix="elbench-slurm-"))
    root.chmod(0o755)  # the munge user must reach its socket inside
    cluster = OneNodeCluster(root)
    try:
        cluster.start()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", str(cluster.conf))
            yield cluster
    finally:
        cluster.stop()

"""``simulate`` refusals on the command line: one line each, naming the file, field or
address, before anything heavy is allocated."""
import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def simulate(*args, timeout=60):
    t0 = time.monotonic()
    run = subprocess.run([sys.executable, str(ROOT / "main.py"), "simulate", *map(str, args)], cwd=ROOT,
                         capture_output=True, text=True, timeout=timeout)
    run.seconds = time.monotonic() - t0
    return run


def one_error_line(run) -> str:
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, run.stderr
    return lines[0]


def test_a_billion_particles_at_box_1024_is_refused_at_once_saying_what_fits(tmp_path):
    """Used to build the object first and be killed by the kernel at 22 GB."""
    run = simulate("--preset", "paper-3x4", "--n", 1_000_000_000, "--box", 1024, "--workers", 1,
                   "--out", tmp_path / "ds")
    line = one_error_line(run)
    assert "would fit" in line and run.seconds < 30
    assert not (tmp_path / "ds").exists()


def test_a_box_that_needs_more_memory_than_there_is_is_refused(tmp_path):
    from engine.simulation.resources import available_memory_bytes, run_memory_bytes

    if run_memory_bytes(1024, 1) <= available_memory_bytes():
        pytest.skip("this machine has the memory for box 1024")
    line = one_error_line(simulate("--preset", "paper-3x4", "--n", 10, "--box", 1024, "--workers", 1,
                                   "--out", tmp_path / "ds"))
    assert line.startswith("error: box_size: box 1024 needs about ") and "would fit with --workers 1" in line


def test_a_bad_scheduler_address_is_one_line_at_once(tmp_path):
    run = simulate("--preset", "paper-3x4", "--n", 10, "--box", 32, "--scheduler", "notaurl", "--out", tmp_path / "ds")
    assert one_error_line(run) == ("error: --scheduler 'notaurl': not a Dask scheduler address (expected "
                                   "tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786)")
    assert run.seconds < 20 and not (tmp_path / "ds").exists()


def test_a_fifo_or_huge_plan_is_refused_naming_the_file(tmp_path):
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)
    run = simulate(fifo, "--out", tmp_path / "ds", timeout=30)
    assert one_error_line(run) == f"error: {fifo}: is a named pipe (FIFO), not a regular file"


def test_a_landscape_without_wells_names_the_file(tmp_path):
    from engine.landscape.io import landscape_to_dict
    from engine.landscape.presets import load_preset

    land = tmp_path / "empty.json"
    land.write_text(json.dumps({**landscape_to_dict(load_preset("paper-3x4")), "wells": []}))
    assert str(land) in one_error_line(simulate("--landscape", land, "--out", tmp_path / "ds"))
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"format_version": 1, "landscape": {**landscape_to_dict(load_preset("paper-3x4")),
                                                                   "wells": []}}))
    assert one_error_line(simulate(plan, "--out", tmp_path / "ds")).startswith(f"error: {plan}: landscape: ")


def test_resume_of_a_start_without_manifest_says_how_to_go_on(tmp_path):
    out = tmp_path / "ds"
    (out / "maps").mkdir(parents=True)
    (out / "landscape.json").write_text("{}")
    line = one_error_line(simulate("--out", out, "--resume"))
    assert line == (f"error: {out}: the run that made it stopped before writing manifest.json, so its plan is not "
                    "recorded; run the first command again without --resume (it takes over the folder)")


def test_a_full_disk_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    """ENOSPC at the stack's write call (a write names no file), through the command's main."""
    import argparse

    from engine.commands import simulate as command
    from engine.formats import mrc_stack

    def full(self, images):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(mrc_stack.MrcStackWriter, "write", full)
    parser = argparse.ArgumentParser()
    command.add_args(parser)
    out = tmp_path / "ds"
    args = parser.parse_args(["--preset", "paper-3x4", "--n", "100", "--box", "32", "--workers", "1", "--quiet",
                              "--out", str(out)])
    assert command.main(args) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert err == [f"error: cannot write {out / 'particles/particles_00000.mrcs'}: No space left on device (free some "
                   f"space first); finish with: python main.py simulate --out {out} --resume"]

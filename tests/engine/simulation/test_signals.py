"""Real processes, real signals: pool workers die with a SIGKILLed parent; SIGTERM stops as
cleanly as Ctrl-C; a second Ctrl-C aborts in one line, leaving a resumable dataset."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.landscape.presets import load_preset
from engine.simulation.manifest import read_manifest
from engine.simulation.plan import SimulationPlan, save_plan
from engine.simulation.verify import verify_dataset

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def start_run(tmp_path, box_size=48, n_particles=20_000, until_workers=False, new_session=True):
    """The command line with 2 workers in its own process group, returned once a chunk is
    recorded (or, ``until_workers``, once both pool workers run, still building their projector)."""
    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=n_particles, box_size=box_size,
                          chunk_size=500, seed=8)
    save_plan(plan, tmp_path / "plan.json")
    out = tmp_path / "ds"
    cmd = [sys.executable, str(ROOT / "main.py"), "simulate", str(tmp_path / "plan.json"), "--workers", "2",
           "--quiet", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=new_session, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not (
            len(pool_workers(proc.pid)) == 2 if until_workers else chunk_done(out)):
        time.sleep(0.01)
    assert proc.poll() is None, f"the run ended too soon: {proc.stderr.read()[-2000:]}"
    return proc, out


def chunk_done(out) -> bool:
    try:
        return any(c["status"] == "done" for c in json.loads((out / "manifest.json").read_text())["chunks"])
    except (OSError, ValueError, KeyError):
        return False


def pool_workers(pid: int) -> list[int]:
    found = []
    for child in children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            pass
    return found


def children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def alive(pids) -> list[int]:
    live = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] != "Z":
            live.append(pid)
    return live


def gone_within(pids, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


def resident_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return 0.0


def test_workers_die_with_a_sigkilled_parent(tmp_path):
    """Killed while its workers build a box-128 projector (they used to finish it, then wait
    on a queue nobody fills, for good): they die with it, within seconds."""
    proc, out = start_run(tmp_path, box_size=128, n_particles=2000, until_workers=True)
    workers = children(proc.pid)
    try:
        pool = pool_workers(proc.pid)
        deadline = time.monotonic() + 120
        while min(map(resident_mb, pool)) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)  # imports take ~110 MB; past 200 MB both build their projector
        assert min(map(resident_mb, pool)) >= 200 and proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)  # the parent alone, as the OOM killer does
        proc.wait()
        assert gone_within(workers, 3) == []
    finally:
        for pid in alive(workers):
            os.kill(pid, signal.SIGKILL)


def test_sigterm_stops_like_ctrl_c_and_the_run_resumes(tmp_path):
    proc, out = start_run(tmp_path)
    workers = children(proc.pid)
    os.killpg(proc.pid, signal.SIGTERM)  # a batch system's scancel: the whole process group
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert "Traceback" not in stderr and f"finish with: python main.py simulate --out {out} --resume" in stderr
    assert read_manifest(out)["status"] == "cancelled" and not list(out.rglob("*.tmp"))
    assert gone_within(workers, 5) == []
    resumed = subprocess.run([sys.executable, str(ROOT / "main.py"), "simulate", "--out", str(out), "--resume",
                              "--workers", "2", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert verify_dataset(out) == []


def test_a_second_ctrl_c_aborts_in_one_line_and_leaves_a_resumable_dataset(tmp_path):
    proc, out = start_run(tmp_path)
    workers = children(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr and lines[-1] == (f"aborted: the finished chunks are kept; finish with: "
                                                       f"python main.py simulate --out {out} --resume"), stderr[-2000:]
    manifest = read_manifest(out)
    assert manifest["status"] == "cancelled" and "error" not in manifest
    assert gone_within(workers, 5) == []
    done = [c for c in manifest["chunks"] if c["status"] == "done"]
    assert done and verify_dataset(out)[0].startswith("manifest.json: status 'cancelled'")

"""``simulate --slurm`` for real, on the one-node SLURM cluster (tests/slurm_cluster.py): the
chunks run on Dask workers that dask-jobqueue's SLURMCluster submits with sbatch, the dataset
is byte-identical to one made by one local process, squeue lists the worker job while the run
goes on and none is left after; sbatch's refusal is one clear line; the job sizes come from
the plan where the flags leave them open."""
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.atomic_files import sha256_file
from engine.landscape.presets import load_preset
from engine.simulation.manifest import read_manifest
from engine.simulation.plan import SimulationPlan
from engine.simulation.run import estimate_seconds, run_simulation
from engine.simulation.slurm_cluster import (JOB_NAME, SlurmDaskSettings, job_memory_bytes, job_time_limit,
                                             parse_memory, queue_states)
from engine.simulation.verify import verify_dataset

ROOT = Path(__file__).resolve().parents[3]
N, BOX, CHUNK, SEED = 600, 32, 200, 21
GONE_WITHIN_S = 20.0


def plan() -> SimulationPlan:
    return SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=N, box_size=BOX, chunk_size=CHUNK, seed=SEED)


def fingerprint(folder: Path) -> dict:
    """sha256 of every file of the dataset but the manifest (it records times and the executor)
    and the lock; the manifest's own record of each chunk's bytes."""
    files = {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name not in ("manifest.json", ".lock")}
    chunks = [(c["file"], c["sha256"], c["status"]) for c in read_manifest(folder)["chunks"]]
    return {"files": files, "chunks": chunks}


def simulate_cli(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), "simulate", "--preset", "paper-3x4", "--n", str(N),
                             "--box", str(BOX), "--chunk-size", str(CHUNK), "--seed", str(SEED), "--quiet", *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(run: subprocess.Popen, timeout_s=120) -> tuple[str, str]:
    """stdout and stderr of a run that ends within ``timeout_s`` (killed otherwise)."""
    try:
        return run.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        run.kill()
        run.communicate()
        raise


def our_jobs() -> dict[str, str]:
    listed = subprocess.run(["squeue", "-h", "-n", JOB_NAME, "-o", "%i|%T"], capture_output=True, text=True).stdout
    return dict(line.split("|") for line in listed.splitlines())


def wait_until_gone(job_ids, timeout_s=GONE_WITHIN_S) -> dict:
    deadline = time.monotonic() + timeout_s
    while (left := queue_states(job_ids)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_slurm_dask_run_is_byte_identical_to_a_local_run(slurm_cluster, tmp_path):
    local = tmp_path / "local"
    assert run_simulation(plan(), local, workers=1).status == "complete"
    out = tmp_path / "slurm"
    t0 = time.monotonic()
    run = simulate_cli("--out", str(out), "--slurm", "--slurm-partition", slurm_cluster.partition,
                       "--slurm-cpus", "2", "--slurm-memory", "900MB", "--slurm-time", "10")
    seen = {}
    while run.poll() is None and time.monotonic() - t0 < 120:    # squeue, while the run goes on
        for job_id, state in our_jobs().items():
            seen.setdefault(job_id, set()).add(state)
        time.sleep(0.2)
    stdout, stderr = finish(run, timeout_s=1)
    elapsed = time.monotonic() - t0
    assert run.returncode == 0, stderr
    assert f"wrote {out}: {N:,} particles" in stdout and "dask); noise sigma" in stdout
    assert len(seen) == 1, seen                          # one job of two worker processes
    (job_id, states), = seen.items()
    assert "RUNNING" in states
    assert f"submitted SLURM job {job_id} ({JOB_NAME})" in stderr and f"SLURM job {job_id}: RUNNING" in stderr
    assert fingerprint(out) == fingerprint(local)
    assert len(fingerprint(out)["chunks"]) == 3 and verify_dataset(out) == []
    assert wait_until_gone([job_id]) == {}               # cancelled when the run ended
    shown = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True).stdout
    assert "JobState=CANCELLED" in shown and "TimeLimit=00:10:00" in shown and "NumCPUs=2" in shown
    logs = (tmp_path / "slurm_slurm").glob(f"{JOB_NAME}-{job_id}.*")
    assert sorted(p.suffix for p in logs) == [".err", ".out"]   # the jobs' logs beside the dataset
    print(f"simulate --slurm: {N} particles in {elapsed:.1f} s, job {job_id} states {sorted(states)}")


def test_sbatch_refusal_is_one_clear_line_and_leaves_no_job(slurm_cluster, tmp_path):
    before = set(our_jobs())
    run = simulate_cli("--out", str(tmp_path / "ds"), "--slurm", "--slurm-partition", "nosuchpartition")
    stdout, stderr = finish(run)
    assert run.returncode == 2 and "Traceback" not in stderr
    assert "error: --slurm: sbatch refused the Dask worker job" in stderr and "invalid partition specified: nosuchpartition" in stderr
    assert set(our_jobs()) == before
    assert not (tmp_path / "ds" / "manifest.json").exists()


@pytest.mark.parametrize("args, message", [
    (["--slurm-cpus", "4"], "--slurm-cpus: for --slurm only"),
    (["--slurm", "--workers", "2"], "--slurm and --workers: give one"),
    (["--slurm", "--scheduler", "tcp://127.0.0.1:8786"], "--slurm and --scheduler: give one"),
    (["--slurm", "--slurm-time", "soon"], "--slurm-time 'soon': not a SLURM time limit"),
    (["--slurm", "--slurm-memory", "lots"], "--slurm-memory 'lots': not a size"),
    (["--slurm", "--slurm-jobs", "0"], "--slurm-jobs: must be a whole number of at least 1"),
])
def test_bad_slurm_flags_are_refused_before_any_job(tmp_path, args, message):
    run = simulate_cli("--out", str(tmp_path / "ds"), *args)
    stdout, stderr = finish(run)
    assert run.returncode == 2 and message in stderr and "Traceback" not in stderr
    assert not (tmp_path / "ds").exists()


def test_job_sizes_follow_the_plan_where_the_flags_leave_them_open():
    p = plan()
    assert parse_memory("900MB") == 900 * 10**6 and parse_memory("2GiB") == 2 * 2**30 and parse_memory("4") == 4 * 10**9
    assert job_memory_bytes(SlurmDaskSettings(memory_bytes=123 * 10**6), p) == 123 * 10**6
    # box 32: 311 MB per worker (resources.process_memory_bytes) plus a quarter is under the 1 GB floor
    assert job_memory_bytes(SlurmDaskSettings(cpus_per_job=3), p) == 3 * 10**9
    big = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=N, box_size=256)
    assert job_memory_bytes(SlurmDaskSettings(cpus_per_job=2), big) == 2 * int(1.25 * 2_111_939_328)
    assert job_time_limit(SlurmDaskSettings(time_limit=" 1-00:00:00 "), p) == "1-00:00:00"
    assert job_time_limit(SlurmDaskSettings(), p) == "00:30:00"        # a small run: the 30 min floor
    for n, expected_days in ((5_000_000, 0), (150_000_000, 1)):           # ~1 h and ~28 h for 8 workers
        huge = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=n, box_size=256)
        seconds = 3 * estimate_seconds(huge, 1) / 8                      # 2 jobs of 4 workers share it
        limit = job_time_limit(SlurmDaskSettings(jobs=2, cpus_per_job=4), huge)
        days, hours, minutes, zero = map(int, re.fullmatch(r"(?:(\d+)-)?(\d\d):(\d\d):(\d\d)", limit).groups("0"))
        assert days == expected_days and hours < 24 and zero == 0
        assert seconds <= ((days * 24 + hours) * 60 + minutes) * 60 < seconds + 60

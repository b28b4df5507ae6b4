"""Simulation runs: bytes independent of workers, order and interruptions; cancel and resume;
a real SIGKILL mid-run; memory bounded by the batch; the command line."""
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from engine.atomic_files import sha256_file
from engine.simulation.manifest import read_manifest
from engine.landscape.presets import load_preset
from engine.simulation.chunks import BATCH_SIZE, RENDER_THREADS_ENV, write_chunk
from engine.simulation.context import get_context
from engine.simulation.errors import SimulationError
from engine.simulation.objects import build_object
from engine.simulation.plan import PlanError, SimulationPlan, save_plan, with_overrides
from engine.simulation.run import run_simulation
from engine.simulation.verify import verify_dataset

ROOT = Path(__file__).resolve().parents[3]
COMPARED = ("particles.star", "cryodrgn/poses.pkl", "cryodrgn/ctf.pkl", "cryosparc/particles.cs")


def small_plan(**kw):
    base = dict(landscape=load_preset("paper-3x4"), n_particles=700, box_size=32, chunk_size=100, seed=5,
                max_shift_A=8.0)
    return SimulationPlan(**{**base, **kw})


def fingerprint(folder) -> dict:
    """sha256 of every stack and of the metadata files whose bytes carry no timestamp."""
    folder = Path(folder)
    files = sorted(p.relative_to(folder).as_posix() for p in (folder / "particles").glob("*.mrcs"))
    return {name: sha256_file(folder / name) for name in files + [c for c in COMPARED if (folder / c).exists()]}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted, single-process run every other run must equal byte for byte."""
    folder = tmp_path_factory.mktemp("ref") / "ds"
    assert run_simulation(small_plan(), folder, workers=1).status == "complete"
    return folder, fingerprint(folder)


def test_process_pool_gives_the_same_bytes_as_one_process(tmp_path, reference):
    folder = tmp_path / "ds"
    seen = []
    result = run_simulation(small_plan(), folder, workers=2, progress=seen.append)
    assert result.status == "complete" and result.executor == "processes"
    assert fingerprint(folder) == reference[1]
    assert seen[-1].particles_done == 700 and seen[-1].stage == "complete"
    assert max(p.chunks_done for p in seen) == 7
    assert verify_dataset(folder) == []


def test_a_chunk_alone_is_the_same_chunk(tmp_path, reference):
    """Chunk 4 made by itself, in an empty folder, equals the full run's chunk 4."""
    plan = small_plan()
    sigma = read_manifest(reference[0])["noise"]["sigma"]
    (tmp_path / "particles").mkdir()
    record = write_chunk(get_context(plan), 4, sigma, tmp_path)
    assert record["sha256"] == reference[1]["particles/particles_00004.mrcs"]
    assert (record["first"], record["count"]) == (400, 100)


def test_cancel_leaves_a_valid_partial_dataset_that_resumes_identically(tmp_path, reference):
    folder = tmp_path / "ds"
    calls = []

    def stop_after_two_chunks():
        calls.append(1)
        return len(list((folder / "particles").glob("particles_*.mrcs"))) >= 2

    result = run_simulation(small_plan(), folder, workers=1, should_stop=stop_after_two_chunks)
    assert result.status == "cancelled" and 0 < result.particles_done < 700
    manifest = read_manifest(folder)
    assert manifest["status"] == "cancelled"
    done = [c for c in manifest["chunks"] if c["status"] == "done"]
    assert 0 < len(done) < 7 and result.particles_done == 100 * len(done)
    for c in done:  # every finished stack is complete, valid and recorded
        assert sha256_file(folder / c["file"]) == c["sha256"]
        assert mrcfile.validate(str(folder / c["file"]), print_file=open(os.devnull, "w"))
    assert not list(folder.rglob("*.tmp")) and not (folder / "particles.star").exists()
    with pytest.raises(SimulationError, match="already holds a dataset"):
        run_simulation(small_plan(), folder, workers=1)
    with pytest.raises(SimulationError, match="n_particles"):
        run_simulation(small_plan(n_particles=800), folder, workers=1, resume=True)
    # what a kill in the middle of a write leaves behind (SIGKILL test below hits these at random)
    (folder / ".manifest.json.x1y2.tmp").write_text("{")
    (folder / "particles/.particles_00006.mrcs.999.abcd.tmp").write_bytes(b"\0" * 100)
    assert run_simulation(small_plan(), folder, workers=2, resume=True).status == "complete"
    assert fingerprint(folder) == reference[1] and not list(folder.rglob("*.tmp"))


def test_resume_remakes_a_damaged_stack(tmp_path, reference):
    folder = tmp_path / "ds"
    run_simulation(small_plan(), folder, workers=1)
    stack = folder / "particles/particles_00003.mrcs"
    stack.write_bytes(stack.read_bytes()[:5000])  # truncated, e.g. copied from a full disk
    assert verify_dataset(folder) != []
    assert run_simulation(small_plan(), folder, workers=1, resume=True).status == "complete"
    assert fingerprint(folder) == reference[1] and verify_dataset(folder) == []


def test_sigkill_mid_run_then_resume_is_byte_identical(tmp_path):
    """Start the command line with 2 worker processes, SIGKILL the whole process group once a
    few chunks are recorded, resume with the same command: every byte equals an uninterrupted
    run's."""
    plan = small_plan(n_particles=20_000, box_size=48, chunk_size=500, seed=8)
    save_plan(plan, tmp_path / "plan.json")
    killed, full = tmp_path / "killed", tmp_path / "full"
    cmd = [sys.executable, str(ROOT / "main.py"), "simulate", str(tmp_path / "plan.json"), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd + ["--out", str(killed)], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = sum(c["status"] == "done" for c in json.loads((killed / "manifest.json").read_text())["chunks"])
        except (OSError, ValueError, KeyError):
            done = 0
        if done >= 3:
            break
        time.sleep(0.01)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()[-2000:]}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    manifest = read_manifest(killed)
    done_at_kill = [c for c in manifest["chunks"] if c["status"] == "done"]
    assert manifest["status"] == "running" and 3 <= len(done_at_kill) < plan.n_chunks
    assert not (killed / "particles.star").exists()

    resumed = subprocess.run(cmd + ["--out", str(killed), "--resume"], cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stderr
    assert run_simulation(plan, full, workers=1).status == "complete"
    assert fingerprint(killed) == fingerprint(full)
    assert verify_dataset(killed) == [] and not list(killed.rglob("*.tmp"))


def test_a_folder_in_use_is_refused_by_a_second_run(tmp_path):
    """Two processes: while a command-line run works in the folder, a resume (here, in this
    process) and a second command line are refused naming the folder and the holder's pid,
    and touch nothing; once the holder is SIGKILLed the kernel drops its lock and resume works."""
    plan = small_plan(n_particles=20_000, box_size=48, chunk_size=500, seed=8)
    save_plan(plan, tmp_path / "plan.json")
    out = tmp_path / "ds"
    cmd = [sys.executable, str(ROOT / "main.py"), "simulate", str(tmp_path / "plan.json"), "--workers", "1",
           "--quiet", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if any(c["status"] == "done" for c in json.loads((out / "manifest.json").read_text())["chunks"]):
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.01)
        assert proc.poll() is None, f"the run ended too soon: {proc.stderr.read()[-2000:]}"
        in_use = f"{out} is in use by another elbench run (pid {proc.pid})"
        with pytest.raises(SimulationError) as info:
            run_simulation(plan, out, workers=1, resume=True)
        assert in_use in str(info.value)
        with pytest.raises(SimulationError, match="in use by another elbench run"):
            run_simulation(plan, out, workers=1)  # a new run on the same folder
        second = run_cli("--out", str(out), "--resume", "--workers", "1", "--quiet")
        assert second.returncode == 2 and in_use in second.stderr and "Traceback" not in second.stderr
        assert proc.poll() is None  # the first run went on, untouched
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert run_simulation(plan, out, workers=2, resume=True).status == "complete"
    assert verify_dataset(out) == []


def test_manifest_records_the_cpu_and_resume_warns_on_another(tmp_path):
    from engine.simulation.manifest import cpu_summary, write_manifest

    folder = tmp_path / "ds"
    run_simulation(small_plan(n_particles=200), folder, workers=1)
    manifest = read_manifest(folder)
    assert manifest["software"]["cpu"] == cpu_summary() and manifest["software"]["cpu"]["machine"]
    logs = []
    run_simulation(small_plan(n_particles=200), folder, workers=1, resume=True, log=logs.append)
    assert not any("CPU" in line for line in logs)
    manifest["software"]["cpu"] = {"machine": "x86_64", "model": "Old Xeon", "simd": ["sse4_2", "avx"]}
    write_manifest(folder, manifest)
    run_simulation(small_plan(n_particles=200), folder, workers=1, resume=True, log=logs.append)
    warning = [line for line in logs if "differs from the one that started" in line]
    assert len(warning) == 1 and "Old Xeon; sse4_2 avx" in warning[0] and "float32 rounding" in warning[0]


def test_ctrl_c_stops_cleanly_and_the_run_resumes(tmp_path):
    """SIGINT to the command line's process group (what Ctrl-C does in a terminal): exit 130,
    a cancelled manifest naming the finished stacks, then --resume completes the dataset."""
    plan = small_plan(n_particles=20_000, box_size=48, chunk_size=500, seed=8)
    save_plan(plan, tmp_path / "plan.json")
    out = tmp_path / "ds"
    cmd = [sys.executable, str(ROOT / "main.py"), "simulate", str(tmp_path / "plan.json"), "--workers", "2",
           "--quiet", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if any(c["status"] == "done" for c in json.loads((out / "manifest.json").read_text())["chunks"]):
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, stderr[-2000:]
    assert "--resume" in stderr and "Traceback" not in stderr
    manifest = read_manifest(out)
    assert manifest["status"] == "cancelled" and not list(out.rglob("*.tmp"))
    resumed = run_cli("--out", str(out), "--resume", "--workers", "1", timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert verify_dataset(out) == []


def test_memory_is_bounded_by_the_batch_not_the_chunk(tmp_path, monkeypatch):
    """Peak Python/numpy allocations while writing a chunk do not grow with the chunk: a few
    batches are in flight (two render threads, each with a spectrum, a CTF and an image, and
    the writer's batch with its noise), never the chunk."""
    monkeypatch.setenv(RENDER_THREADS_ENV, "2")
    peaks = {}
    for n in (1000, 4000):
        plan = small_plan(n_particles=n, box_size=48, chunk_size=n, snr=1.0)
        get_context(plan).projector  # built outside the measurement
        folder = tmp_path / str(n)
        (folder / "particles").mkdir(parents=True)
        tracemalloc.start()
        write_chunk(get_context(plan), 0, 1.0, folder)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    stack_bytes = 4000 * 48 * 48 * 4
    batch_bytes = BATCH_SIZE * 48 * 48 * 4
    assert (tmp_path / "4000/particles/particles_00000.mrcs").stat().st_size > stack_bytes
    assert peaks[4000] < 1.2 * peaks[1000] + 1e6, peaks
    assert peaks[4000] < 8 * batch_bytes, peaks  # the chunk is 16 batches


def test_noiseless_plan_and_noise_level_follow_the_snr(tmp_path):
    clean = run_simulation(small_plan(n_particles=100, snr=None), tmp_path / "clean", workers=1)
    noisy = run_simulation(small_plan(n_particles=100, snr=0.25), tmp_path / "noisy", workers=1)
    assert clean.noise.sigma == 0.0 and clean.noise.signal_variance > 0
    assert noisy.noise.sigma == pytest.approx(np.sqrt(clean.noise.signal_variance / 0.25))
    a = mrcfile.read(tmp_path / "clean/particles/particles_00000.mrcs")
    b = mrcfile.read(tmp_path / "noisy/particles/particles_00000.mrcs")
    assert (b - a).std() == pytest.approx(noisy.noise.sigma, rel=0.02)


def test_bad_inputs_are_refused_before_anything_is_written(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full/other.txt").write_text("x")
    with pytest.raises(SimulationError, match="not an empty folder"):
        run_simulation(small_plan(), tmp_path / "full", workers=1)
    star_plan = small_plan(orientations="star", orientations_star=str(tmp_path / "missing.star"))
    with pytest.raises(PlanError, match="orientations_star"):
        run_simulation(star_plan, tmp_path / "new", workers=1)
    assert not (tmp_path / "new").exists()


def test_orientations_from_a_star_file(tmp_path, reference):
    star = reference[0] / "particles.star"
    plan = small_plan(n_particles=200, orientations="star", orientations_star=str(star))
    run_simulation(plan, tmp_path / "ds", workers=1)
    import starfile

    source = starfile.read(star, always_dict=True)["particles"][["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]]
    made = starfile.read(tmp_path / "ds/particles.star", always_dict=True)["particles"]
    angles = made[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy()
    known = {tuple(np.round(r, 4)) for r in source.to_numpy()}
    assert all(tuple(np.round(r, 4)) in known for r in angles)


def test_user_maps_reproduce_the_builtin_object(tmp_path, reference):
    """The built-in object's own maps, given back as user maps (two-maps; box and pixel size
    from the files), make the same images; a map-and-mask object runs too; a missing map is
    refused naming the object field."""
    from engine.structure.maps import write_map
    from engine.simulation.plan import ObjectSpec

    obj = build_object(small_plan())
    write_map(tmp_path / "lsu.mrc", obj.lsu, obj.apix_A)
    write_map(tmp_path / "ssu.mrc", obj.ssu, obj.apix_A)
    write_map(tmp_path / "full.mrc", obj.lsu + obj.ssu, obj.apix_A)
    write_map(tmp_path / "mask.mrc", obj.ssu_mask, obj.apix_A)
    geometry = dict(pivot_A=tuple(obj.pivot_A), axis1=tuple(obj.axis1), axis2=tuple(obj.axis2))
    two_maps = small_plan(box_size=None, object=ObjectSpec(kind="two-maps", lsu_map=str(tmp_path / "lsu.mrc"),
                                                           ssu_map=str(tmp_path / "ssu.mrc"), **geometry))
    assert two_maps.effective_box_size() == 32 and two_maps.effective_apix_A() == pytest.approx(obj.apix_A)
    run_simulation(two_maps, tmp_path / "two", workers=1)
    for k in range(7):  # equal up to the pixel size's float32 rounding in the MRC header
        name = f"particles/particles_{k:05d}.mrcs"
        mine, builtin = mrcfile.read(tmp_path / "two" / name), mrcfile.read(reference[0] / name)
        assert np.abs(mine - builtin).max() < 1e-3 * builtin.std()
    masked = small_plan(n_particles=100, box_size=None, object=ObjectSpec(
        kind="map-and-mask", full_map=str(tmp_path / "full.mrc"), ssu_mask=str(tmp_path / "mask.mrc"), **geometry))
    assert run_simulation(masked, tmp_path / "masked", workers=1).status == "complete"
    missing = small_plan(object=ObjectSpec(kind="two-maps", lsu_map=str(tmp_path / "nope.mrc"),
                                           ssu_map=str(tmp_path / "ssu.mrc"), **geometry))
    with pytest.raises(PlanError, match="nope.mrc"):
        run_simulation(missing, tmp_path / "missing", workers=1)
    assert not (tmp_path / "missing").exists()


def run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "simulate", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_cli_preset_without_files_and_overrides(tmp_path):
    out = tmp_path / "ds"
    run = run_cli("--preset", "paper-3x4", "--n", "300", "--box", "32", "--chunk-size", "150", "--seed", "4",
                  "--snr", "2", "--workers", "1", "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert "300 particles" in run.stdout and "img" in run.stderr  # summary and the tqdm bar
    assert "2 chunks of 150," in run.stdout
    plan = read_manifest(out)["plan"]
    assert (plan["n_particles"], plan["box_size"], plan["chunk_size"], plan["seed"], plan["snr"]) == (300, 32, 150, 4, 2.0)
    assert verify_dataset(out) == []


@pytest.mark.parametrize("args, message", [
    (["--preset", "paper-3x4", "--n", "0", "--out", "X"], "n_particles"),
    (["--preset", "paper-3x4", "--box", "33", "--out", "X"], "box_size"),
    (["--preset", "paper-3x4", "--n", "10"], "output folder"),
    (["--out", "X", "--resume"], "manifest.json"),
    (["BADPLAN", "--out", "X"], "voltage_kV"),
])
def test_cli_bad_input_is_a_clear_error(tmp_path, args, message):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format_version": 1, "landscape_preset": "paper-3x4", "voltage_kV": -300}))
    args = [str(bad) if a == "BADPLAN" else (str(tmp_path / "X") if a == "X" else a) for a in args]
    run = run_cli(*args)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
    assert "error:" in run.stderr


def test_cli_summary_counts_the_real_chunks():
    from engine.commands.simulate import _chunks_text

    assert _chunks_text(small_plan(n_particles=100, chunk_size=10_000)) == "1 chunk of 100"
    assert _chunks_text(small_plan(n_particles=250, chunk_size=100)) == "3 chunks (100 each, the last 50)"
    assert _chunks_text(small_plan(n_particles=300, chunk_size=100)) == "3 chunks of 100"


def test_default_workers_follow_the_affinity_mask():
    """A process limited to one CPU (as a batch job's allocation does) gets one worker by default."""
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from engine.simulation.executors import ProcessExecutor, available_cpus; ex = ProcessExecutor(); "
            "print(available_cpus(), ex.workers); ex.close()")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1", "1"]


def test_plan_overrides_keep_the_rest(tmp_path):
    p = with_overrides(small_plan(), n_particles=50, chunk_size=20)
    assert p.n_chunks == 3 and p.box_size == 32 and p.max_shift_A == 8.0


def test_the_estimate_counts_preparation_and_metadata_not_only_images():
    """What a user plans with: a tiny run still costs the start-up and preparation, and each
    image adds the same time whatever the size (bench/bench_simulate.py checks it against
    measured runs, within 25 %)."""
    from engine.simulation.run import START_S, estimate_seconds

    def seconds(n, box=128, workers=1):
        return estimate_seconds(small_plan(n_particles=n, box_size=box, chunk_size=10_000), workers)

    assert seconds(1) > START_S
    per_image = (seconds(40_000) - seconds(20_000)) / 20_000
    assert seconds(60_000) - seconds(40_000) == pytest.approx(20_000 * per_image, rel=1e-9)
    assert per_image * 1000 > seconds(1) / 10           # images dominate a big run, not the start
    assert seconds(20_000, box=256) > 4 * seconds(20_000, box=128) - 4 * START_S

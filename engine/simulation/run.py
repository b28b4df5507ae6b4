"""Simulate a dataset: plan in, a dataset folder that RELION, cryoDRGN and cryoSPARC read out.

``run_simulation`` prepares the folder (landscape.json, maps/, noise calibration
(engine.simulation.calibration), manifest.json (engine.simulation.manifest)), runs the chunks
on an executor (engine.simulation.executors: local processes by default, Dask with a scheduler
address), records each finished chunk in the manifest, and finally writes particles.star,
cryodrgn/poses.pkl + ctf.pkl, cryosparc/particles.cs and ground_truth.npz from the chunks'
metadata (engine.simulation.metadata; regenerated from the seed, never kept).

Guarantees: chunk k's bytes depend on (plan, k) only (engine.simulation.chunks); a run killed at
any moment resumes with ``resume=True`` and ends byte-identical to an uninterrupted one; a
cancelled run (``should_stop``) leaves finished stacks and a manifest that say exactly what
is done, and resumes the same way. One run at a time per folder: a second one (GUI and CLI
alike) gets SimulationError "in use by another elbench run (pid N)" (engine.simulation.lock).

Limit of byte-identity: it holds on one CPU family (same numpy/numba and SIMD extensions).
numpy and the FFT pick SIMD code paths by CPU, so chunks made on, say, AVX-512 and AVX2 nodes
may differ in the last bits: across families images agree to float32 rounding, not bit for
bit (the projector kernel itself uses no reassociating fast-math). The manifest records the
CPU (model, SIMD extensions); a resume on a different CPU logs a warning. Memory is bounded by the workers' batches, plus the
per-particle metadata (~100 bytes per particle) while the final files are written.

Example::

    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=20_000, box_size=64)
    result = run_simulation(plan, "runs/ds1", workers=2, progress=print)
    result.status          # "complete"
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from engine.imaging.noise import NoiseCalibration
from engine.landscape.io import save_landscape
from engine.simulation import manifest as mf
from engine.simulation.calibration import dataset_noise
from engine.simulation.context import get_context
from engine.simulation.errors import SimulationError
from engine.simulation.lock import LOCK_FILE, FolderLock
from engine.simulation.metadata import write_metadata_files
from engine.simulation.plan import SimulationPlan, check_disk_space, plan_from_dict, plan_to_dict

# Whole-pipeline speed of one worker at box 64 (bench/bench_simulate.py on a 2-core VM), for
# the time estimate shown before a run; cost per image grows like D^2 log D.
IMAGES_PER_S_PER_WORKER_BOX64 = 6000.0


@dataclass(frozen=True)
class SimulationProgress:
    """Where a run stands. ``elapsed_s``: seconds since this run's images phase began (after
    maps and noise calibration); ``rate_per_s`` counts the images made by this run only."""

    particles_done: int
    particles_total: int
    chunks_done: int
    n_chunks: int
    elapsed_s: float
    made_this_run: int
    stage: str = "images"

    @property
    def fraction(self) -> float:
        return self.particles_done / self.particles_total if self.particles_total else 1.0

    @property
    def rate_per_s(self) -> float:
        return self.made_this_run / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        rate = self.rate_per_s
        return (self.particles_total - self.particles_done) / rate if rate > 0 else None


@dataclass(frozen=True)
class SimulationResult:
    folder: Path
    status: str              # "complete" or "cancelled"
    particles_done: int
    particles_total: int
    elapsed_s: float
    noise: NoiseCalibration
    executor: str


def estimate_seconds(plan: SimulationPlan, workers: int | None = None) -> float:
    """Rough wall time of a run on ``workers`` local cores (default all)."""
    from engine.simulation.executors import available_cpus

    d = plan.effective_box_size()
    workers = workers or available_cpus()
    per_image = (d * d * math.log2(d)) / (64 * 64 * 6) / IMAGES_PER_S_PER_WORKER_BOX64
    return plan.n_particles * per_image / workers


def run_simulation(plan: SimulationPlan, out_dir=None, workers: int | None = None, scheduler=None,
                   resume: bool = False, progress=None, should_stop=None, log=None) -> SimulationResult:
    """Make (or, with ``resume``, finish) the dataset of ``plan`` in ``out_dir``
    (default ``plan.output_folder``).

    workers: local processes (default: the cores this process may use, its affinity mask; 1 = in
    this process). scheduler: a Dask address "tcp://host:port" (or a distributed.Client) to run
    the chunks on a cluster. The folder is locked (``.lock``, fcntl.flock) for the whole run.
    progress(SimulationProgress), should_stop() -> bool, log(str): optional callbacks, called
    in the calling thread. Raises PlanError (bad plan or inputs, not enough disk),
    SimulationError (folder in use, plan differs from the manifest) or a chunk's error.
    """
    log = log or (lambda message: None)
    if not str(out_dir if out_dir is not None else plan.output_folder or ""):
        raise SimulationError("no output folder given (out_dir or plan.output_folder)")
    folder = Path(out_dir if out_dir is not None else plan.output_folder)
    t0 = time.monotonic()
    ctx = get_context(plan)  # reads the landscape grid and a STAR file of orientations, if any
    ctx.object  # user maps are read and checked here, before anything is written
    if not folder.is_dir():
        if resume:
            mf.read_manifest(folder)  # raises: no dataset there
        _check_new_folder(plan, folder)  # a file in the way, not enough disk: refused before creating it
        folder.mkdir(parents=True, exist_ok=True)
    with FolderLock(folder):  # SimulationError "in use by another elbench run" while another run holds it
        return _run_locked(plan, folder, ctx, workers, scheduler, resume, progress, should_stop, log, t0)


def _run_locked(plan, folder, ctx, workers, scheduler, resume, progress, should_stop, log, t0) -> SimulationResult:
    """run_simulation's body, with the folder's lock held."""
    from engine.simulation.executors import make_executor

    if resume:
        manifest = _open_for_resume(plan, folder, log)
    else:
        _check_new_folder(plan, folder)  # again, under the lock: another run may have started here
    state = {"made": 0, "t_images": time.monotonic()}

    def report(stage):
        if progress is not None:
            progress(SimulationProgress(mf.particles_done(manifest), plan.n_particles, len(mf.done_chunks(manifest)),
                                        plan.n_chunks, time.monotonic() - state["t_images"], state["made"], stage))

    with make_executor(workers, scheduler) as executor:
        executor.warm_up(plan.content_key)  # workers start and build their projector while we prepare
        if not resume:
            manifest = _prepare(plan, folder, ctx, log)
        finished = _run_chunks(plan, folder, manifest, executor, state, progress, should_stop, log)
        executor_name = executor.name
    noise = NoiseCalibration(**manifest["noise"])
    done = mf.particles_done(manifest)
    if not finished:
        log(f"cancelled: {done} of {plan.n_particles} particles in finished chunks; resume to complete")
        return SimulationResult(folder, "cancelled", done, plan.n_particles, time.monotonic() - t0, noise, executor_name)
    # the workers are gone: the metadata files get the memory (~90 bytes per particle)
    report("metadata")
    log("writing particles.star, cryoDRGN, cryoSPARC and ground-truth files")
    manifest["files"] = write_metadata_files(plan, folder)
    manifest["status"] = "complete"
    manifest.pop("error", None)
    mf.write_manifest(folder, manifest)
    report("complete")
    elapsed = time.monotonic() - t0
    log(f"complete: {plan.n_particles} particles in {elapsed:.1f} s")
    return SimulationResult(folder, "complete", done, plan.n_particles, elapsed, noise, executor_name)


def _run_chunks(plan, folder, manifest, executor, state, progress, should_stop, log) -> bool:
    """Run the pending chunks, recording each in the manifest; False when stopped."""
    noise = NoiseCalibration(**manifest["noise"])
    done = mf.particles_done(manifest)
    n_done_chunks = len(mf.done_chunks(manifest))
    state["t_images"] = time.monotonic()

    def report(stage="images"):
        if progress is not None:
            progress(SimulationProgress(done, plan.n_particles, n_done_chunks, plan.n_chunks,
                                        time.monotonic() - state["t_images"], state["made"], stage))

    def on_done(record: dict) -> None:
        nonlocal n_done_chunks
        row = manifest["chunks"][record["index"]]
        row.update(status="done", bytes=record["bytes"], sha256=record["sha256"])
        mf.write_manifest(folder, manifest)
        n_done_chunks += 1
        report()

    def on_progress(n: int) -> None:
        nonlocal done
        done += n
        state["made"] += n
        report()

    report()
    tasks = [(plan.content_key, row["index"], noise.sigma, str(folder)) for row in manifest["chunks"] if row["status"] != "done"]
    manifest["status"] = "running"
    mf.write_manifest(folder, manifest)
    log(f"{len(tasks)} chunks to make on {executor.workers} {executor.name} worker(s)")
    try:
        finished = executor.run(tasks, on_done, should_stop, on_progress)
    except BaseException as exc:
        manifest["status"] = "failed"
        manifest["error"] = f"{type(exc).__name__}: {exc}"
        mf.write_manifest(folder, manifest)
        raise
    if not finished:
        manifest["status"] = "cancelled"
        mf.write_manifest(folder, manifest)
    return finished


def _check_new_folder(plan: SimulationPlan, folder: Path) -> None:
    if mf.manifest_path(folder).exists():
        raise SimulationError(f"{folder} already holds a dataset (manifest.json); resume it "
                              "(--resume) or choose another folder")
    if folder.exists() and (not folder.is_dir() or any(p.name != LOCK_FILE for p in folder.iterdir())):
        raise SimulationError(f"{folder} exists and is not an empty folder; choose a new or empty folder")
    check_disk_space(plan, folder)


def _prepare(plan: SimulationPlan, folder: Path, ctx, log) -> dict:
    (folder / "particles").mkdir(parents=True, exist_ok=True)
    save_landscape(plan.landscape, folder / "landscape.json")
    log("writing maps")
    _write_maps(plan, folder, ctx)
    log("calibrating noise")
    noise = dataset_noise(ctx)
    log(f"noise sigma {noise.sigma:.4g} (signal variance {noise.signal_variance:.4g} in a "
        f"{noise.mask_radius_px:.1f} px disk, SNR {plan.snr})")
    manifest = mf.new_manifest(plan, ctx, noise)
    mf.write_manifest(folder, manifest)
    return manifest


def _write_maps(plan: SimulationPlan, folder: Path, ctx, only_missing: bool = False) -> None:
    """maps/: the two bodies, the SSU mask and the full map at each well centre (only those
    not there yet with ``only_missing``); the SSU is spline-filtered once for all wells."""
    from engine.structure.maps import write_map
    from engine.structure.object_model import composite_maps

    obj = ctx.object
    maps = folder / "maps"
    maps.mkdir(exist_ok=True)
    for name, volume in (("lsu.mrc", obj.lsu), ("ssu.mrc", obj.ssu), ("ssu_mask.mrc", obj.ssu_mask)):
        if not (only_missing and (maps / name).exists()):
            write_map(maps / name, volume, obj.apix_A)
    wells = [(f"well_{i:02d}.mrc", (w.cc1_deg, w.cc2_deg)) for i, w in enumerate(plan.landscape.wells, start=1)]
    wanted = [(name, cc) for name, cc in wells if not (only_missing and (maps / name).exists())]
    for (name, _), volume in zip(wanted, composite_maps(obj, [cc for _, cc in wanted])):
        write_map(maps / name, volume, obj.apix_A)


def _open_for_resume(plan: SimulationPlan, folder: Path, log) -> dict:
    manifest = mf.read_manifest(folder)
    stored = plan_from_dict(manifest["plan"], str(mf.manifest_path(folder)))
    if stored.content_key != plan.content_key:
        mine, theirs = plan_to_dict(plan), manifest["plan"]
        differ = sorted(k for k in set(mine) | set(theirs) if k != "output_folder" and mine.get(k) != theirs.get(k))
        raise SimulationError(f"{folder}: the plan differs from the one in manifest.json (fields {differ}); "
                              "resume with the same plan or start a new folder")
    now = mf.software_versions()
    if manifest["software"].get("numpy") != now.get("numpy"):
        log("warning: numpy version differs from the run that started this dataset; bytes may differ")
    before = manifest["software"].get("cpu")
    if before != now["cpu"]:
        log(f"warning: this CPU ({_cpu_text(now['cpu'])}) differs from the one that started this dataset "
            f"({_cpu_text(before)}); new chunks may differ from an uninterrupted run in the last bits "
            "(images agree to float32 rounding)")
    for tmp in folder.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)  # temporary files of writes that were interrupted (stacks, manifest, maps)
    for row in manifest["chunks"]:
        path = folder / row["file"]
        if row["status"] == "done" and (not path.is_file() or path.stat().st_size != row["bytes"]):
            log(f"chunk {row['index']}: {row['file']} is missing or has the wrong size; making it again")
            row.update(status="pending", bytes=None, sha256=None)
    done_bytes = sum(row["bytes"] for row in mf.done_chunks(manifest))
    check_disk_space(plan, folder, already_written_bytes=done_bytes)
    _write_maps(plan, folder, get_context(plan), only_missing=True)
    if not (folder / "landscape.json").exists():
        save_landscape(plan.landscape, folder / "landscape.json")
    log(f"resuming: {len(mf.done_chunks(manifest))} of {plan.n_chunks} chunks already done")
    return manifest


def _cpu_text(cpu) -> str:
    if not isinstance(cpu, dict):
        return "not recorded"
    return f"{cpu.get('model') or cpu.get('machine') or '?'}; {' '.join(cpu.get('simd') or []) or 'no SIMD flags'}"

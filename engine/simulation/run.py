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

Before anything heavy is allocated: the scheduler address, the shift limit at the effective
pixel size, the folder (engine.simulation.folder: a start that never wrote its manifest is
taken over), the disk and the memory of every process (engine.simulation.resources) are
checked; local workers are capped at the chunks left and the CPUs this job may use (a capped
request is logged). A resume re-hashes every finished stack and map and remakes those whose
sha256 differs. A KeyboardInterrupt (a second Ctrl-C) leaves the manifest "cancelled", so the
run resumes; an error leaves it "failed" with the message.

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
import os
import time
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from engine.imaging.noise import NoiseCalibration
from engine.landscape.io import save_landscape
from engine.simulation import manifest as mf
from engine.simulation.calibration import dataset_noise
from engine.simulation.context import get_context
from engine.simulation.errors import SimulationError
from engine.atomic_files import sha256_file
from engine.simulation.folder import check_new_folder, map_names, open_for_resume, unfinished_start
from engine.simulation.lock import FolderLock
from engine.simulation.metadata import write_metadata_files
from engine.simulation.plan import SimulationPlan, check_disk_space
from engine.simulation.resources import check_memory, workers_for

# The time estimate shown before a run (estimate_seconds), from bench/bench_simulate.py on a
# 2-core VM: core-seconds per image at box 64 (render, noise, write; grows like D^2 log D),
# the share of a core a busy thread gets, the fixed start (interpreter, imports, landscape
# grid, manifest), the projector's transforms at box 128 (grow like D^3), starting worker
# processes, each well map at box 128, and the metadata files per particle.
CORE_S_PER_IMAGE_BOX64 = 1.36e-4
THREAD_EFFICIENCY = 0.8
START_S = 1.0
PROJECTOR_S_BOX128 = 0.3
WORKER_START_S = 1.0
MAP_S_BOX128 = 0.08
METADATA_S_PER_PARTICLE = 1.2e-5


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
    """Wall time of a whole run on ``workers`` local processes (default: one per core), as the
    user waits for it: start-up, preparation (projector, noise calibration), the images (each
    worker renders with its share of the cores ahead of its writer thread), the well maps
    where they outlast the images (they are made meanwhile) and the metadata files. Within
    25 % of the measured time on the 2-core VM it was fitted on (bench/bench_simulate.py)."""
    from engine.cpus import available_cpus
    from engine.simulation.chunks import MAX_RENDER_THREADS
    from engine.simulation.calibration import N_CALIBRATION_IMAGES

    d = plan.effective_box_size()
    n = plan.n_particles
    cores = available_cpus()
    workers = max(1, min(workers or cores, plan.n_chunks))
    threads = workers * (min(max(cores // workers, 1), MAX_RENDER_THREADS) + 1)  # render + writer
    core_s = CORE_S_PER_IMAGE_BOX64 * (d / 64) ** 2 * math.log2(d) / 6
    per_image = core_s / (THREAD_EFFICIENCY * min(cores, threads))
    prepare = (START_S + PROJECTOR_S_BOX128 * (d / 128) ** 3 + N_CALIBRATION_IMAGES * core_s / 2
               + (WORKER_START_S if workers > 1 else 0.0))
    maps = MAP_S_BOX128 * (len(plan.landscape.wells) + 3) * (d / 128) ** 3
    return prepare + max(n * per_image, maps) + n * METADATA_S_PER_PARTICLE


def run_simulation(plan: SimulationPlan, out_dir=None, workers: int | None = None, scheduler=None,
                   resume: bool = False, progress=None, should_stop=None, log=None) -> SimulationResult:
    """Make (or, with ``resume``, finish) the dataset of ``plan`` in ``out_dir``
    (default ``plan.output_folder``).

    workers: local processes (default: the cores this process may use, its affinity mask; 1 = in
    this process). scheduler: a Dask address "tcp://host:port" (or a distributed.Client) to run
    the chunks on a cluster. The folder is locked (``.lock``, fcntl.flock) for the whole run.
    progress(SimulationProgress), should_stop() -> bool, log(str): optional callbacks, called
    in the calling thread. Raises PlanError (bad plan or inputs; NotEnoughDiskError and
    NotEnoughMemoryError with what would fit), SimulationError (folder in use, plan differs
    from the manifest, bad or unreachable scheduler), OSError naming the file (a full disk) or a
    chunk's error. The checks come before anything heavy is allocated (see the module docstring).
    """
    log = log or (lambda message: None)
    if not str(out_dir if out_dir is not None else plan.output_folder or ""):
        raise SimulationError("no output folder given (out_dir or plan.output_folder)")
    folder = Path(out_dir if out_dir is not None else plan.output_folder)
    t0 = time.monotonic()
    if isinstance(scheduler, str):
        from engine.simulation.executors import check_scheduler_address

        check_scheduler_address(scheduler)  # at once, not after a minute of connection attempts
    resume = resume and not unfinished_start(folder)  # a start that never wrote its manifest: start again
    ctx = get_context(plan)  # reads the landscape grid and a STAR file of orientations, if any
    # an existing folder is locked first: "in use by another elbench run (pid N)" is the answer
    # while another run works there, whatever the folder holds
    lock = FolderLock(folder).acquire() if folder.is_dir() else None
    try:
        _preflight(plan, folder, resume, workers, scheduler)  # disk and memory, before anything heavy
        ctx.object  # user maps are read and checked here, before anything is written
        if lock is None:
            folder.mkdir(parents=True, exist_ok=True)
            lock = FolderLock(folder).acquire()
        return _run_locked(plan, folder, ctx, workers, scheduler, resume, progress, should_stop, log, t0)
    finally:
        if lock is not None:
            lock.release()


def _preflight(plan: SimulationPlan, folder: Path, resume: bool, workers, scheduler) -> None:
    """The checks that cost nothing, before the object is built: the folder (a dataset to
    resume, or one a fresh run may take), the disk and the memory of every process."""
    if resume:
        manifest = mf.read_manifest(folder)  # raises: no dataset there
        check_disk_space(plan, folder, sum(row["bytes"] or 0 for row in mf.done_chunks(manifest)))
    else:
        check_new_folder(plan, folder)  # a file in the way, not enough disk: refused before creating it
    if plan.max_shift_A:
        plan.check_shift_limit()  # user maps: at their pixel size, from the header
    local_workers = 1 if scheduler else workers_for(workers, plan.n_chunks)[0]
    check_memory(plan, local_workers)


def _run_locked(plan, folder, ctx, workers, scheduler, resume, progress, should_stop, log, t0) -> SimulationResult:
    """run_simulation's body, with the folder's lock held."""
    from engine.simulation.executors import make_executor

    if resume:
        manifest, maps_to_write = open_for_resume(plan, folder, log)
        n_pending = plan.n_chunks - len(mf.done_chunks(manifest))
    else:
        check_new_folder(plan, folder, log)  # again, under the lock: another run may have started here
        n_pending = plan.n_chunks
    if not scheduler:
        workers, note = workers_for(workers, n_pending)
        if note:
            log(note)
    state = {"made": 0, "t_images": time.monotonic()}

    def report(stage):
        if progress is not None:
            progress(SimulationProgress(mf.particles_done(manifest), plan.n_particles, len(mf.done_chunks(manifest)),
                                        plan.n_chunks, time.monotonic() - state["t_images"], state["made"], stage))

    with _render_threads_for(None if scheduler else workers), make_executor(workers, scheduler) as executor:
        executor.warm_up(plan.content_key)  # workers start and build their projector while we prepare
        maps = None
        if resume:
            _refresh_maps(plan, folder, ctx, manifest, maps_to_write)
        else:
            manifest, maps = _prepare(plan, folder, ctx, log)
        try:
            finished = _run_chunks(plan, folder, manifest, executor, state, progress, should_stop, log)
        except BaseException:
            if maps is not None:
                _record_maps(folder, manifest, maps, quiet=True)
            raise
        if maps is not None:
            _record_maps(folder, manifest, maps)
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


@contextmanager
def _render_threads_for(workers: int | None):
    """Give each of ``workers`` local processes (and this one) its share of the cores to render
    with (engine.simulation.chunks.render_threads reads it; processes inherit it when they
    start), for the length of the run. None (a cluster): each worker uses its own cores."""
    from engine.cpus import available_cpus
    from engine.simulation.chunks import RENDER_THREADS_ENV

    before = os.environ.get(RENDER_THREADS_ENV)
    if workers is not None:
        os.environ[RENDER_THREADS_ENV] = str(max(1, available_cpus() // max(workers, 1)))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(RENDER_THREADS_ENV, None)
        else:
            os.environ[RENDER_THREADS_ENV] = before


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
    except KeyboardInterrupt:  # an abort (second Ctrl-C): the finished chunks are recorded, resume goes on
        manifest["status"] = "cancelled"
        mf.write_manifest(folder, manifest)
        raise
    except BaseException as exc:
        manifest["status"] = "failed"
        manifest["error"] = f"{type(exc).__name__}: {exc}"
        mf.write_manifest(folder, manifest)
        raise
    if not finished:
        manifest["status"] = "cancelled"
        mf.write_manifest(folder, manifest)
    return finished


def _prepare(plan: SimulationPlan, folder: Path, ctx, log):
    """Start a new dataset: landscape.json, the noise calibration and the manifest; the maps
    are written by a thread meanwhile (and on through the images: they are compiled, nogil
    and need no image), so the first image does not wait for them. Returns (manifest, the
    maps' Future of {name: sha256})."""
    (folder / "particles").mkdir(parents=True, exist_ok=True)
    save_landscape(plan.landscape, folder / "landscape.json")
    log("writing maps (in the background)")
    pool = ThreadPoolExecutor(1, thread_name_prefix="maps")
    maps = pool.submit(_write_maps, plan, folder, ctx, map_names(plan))
    pool.shutdown(wait=False)
    log("calibrating noise")
    try:
        noise = dataset_noise(ctx)
    except BaseException:
        _record_maps(folder, None, maps, quiet=True)
        raise
    log(f"noise sigma {noise.sigma:.4g} (signal variance {noise.signal_variance:.4g} in a "
        f"{noise.mask_radius_px:.1f} px disk, SNR {plan.snr})")
    manifest = mf.new_manifest(plan, ctx, noise)
    mf.write_manifest(folder, manifest)
    return manifest, maps


def _record_maps(folder: Path, manifest: dict | None, maps, quiet: bool = False) -> None:
    """Wait for the background maps and put their sha256 in ``manifest`` (None: only wait). A
    failure (a full disk, say) is raised, unless ``quiet`` (another error is on its way: that
    one is the user's answer). Maps that never got written are written by a resume
    (folder.open_for_resume finds them missing)."""
    try:
        shas = maps.result()
    except BaseException:
        if quiet:
            return
        raise
    if manifest is not None:
        manifest["maps"] = shas
        mf.write_manifest(folder, manifest)


def _refresh_maps(plan: SimulationPlan, folder: Path, ctx, manifest: dict, names: list[str]) -> None:
    """Write the maps a resume found missing or damaged (and landscape.json if missing), and
    record their sha256 (a dataset made before the maps were hashed gets them now)."""
    (folder / "particles").mkdir(exist_ok=True)
    if not (folder / "landscape.json").exists():
        save_landscape(plan.landscape, folder / "landscape.json")
    maps = manifest.setdefault("maps", {})
    maps.update(_write_maps(plan, folder, ctx, names))
    for name in map_names(plan):
        maps.setdefault(name, sha256_file(folder / name))
    mf.write_manifest(folder, manifest)


def _write_maps(plan: SimulationPlan, folder: Path, ctx, names: list[str]) -> dict:
    """Write the maps/ files ``names`` (of map_names: the two bodies, the SSU mask and the full
    map at each well centre); returns {name: sha256}. The SSU is spline-filtered once for all
    wells. Bytes depend on the maps alone (write_map's header holds no time)."""
    from engine.structure.maps import write_map
    from engine.structure.object_model import composite_maps

    obj = ctx.object
    (folder / "maps").mkdir(exist_ok=True)
    bodies = {"maps/lsu.mrc": obj.lsu, "maps/ssu.mrc": obj.ssu, "maps/ssu_mask.mrc": obj.ssu_mask}
    for name in names:
        if name in bodies:
            write_map(folder / name, bodies[name], obj.apix_A)
    wells = dict(zip(map_names(plan)[3:], ((w.cc1_deg, w.cc2_deg) for w in plan.landscape.wells)))
    wanted = [name for name in names if name in wells]
    for name, volume in zip(wanted, composite_maps(obj, [wells[name] for name in wanted])):
        write_map(folder / name, volume, obj.apix_A)
    return {name: sha256_file(folder / name) for name in names}

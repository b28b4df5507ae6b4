"""Simulate a dataset: plan in, a dataset folder that RELION, cryoDRGN and cryoSPARC read out.

``run_simulation`` prepares the folder (landscape.json, maps/, noise calibration,
manifest.json), runs the chunks on an executor (engine.simulation.executors: local processes by default,
Dask with a scheduler address), records each finished chunk in the manifest, and finally
writes particles.star, cryodrgn/poses.pkl + ctf.pkl, cryosparc/particles.cs and
ground_truth.npz from the chunks' metadata (regenerated from the seed, never kept).

Guarantees: chunk k's bytes depend on (plan, k) only (engine.simulation.chunks); a run killed at
any moment resumes with ``resume=True`` and ends byte-identical to an uninterrupted one; a
cancelled run (``should_stop``) leaves finished stacks and a manifest that say exactly what
is done, and resumes the same way. One run at a time per folder: a second one (GUI and CLI
alike) gets SimulationError "in use by another elbench run (pid N)" (flock on ``.lock``).

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

import fcntl
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from engine.simulation import manifest as mf
from engine.formats.writer import (Optics, write_cryodrgn_ctf, write_cryodrgn_poses, write_cryosparc_particles,
                                   write_particles_star)
from engine.formats.ground_truth import GroundTruth
from engine.landscape.io import save_landscape
from engine.simulation.chunks import (BATCH_SIZE, CALIBRATION_STREAM, CHUNK_STREAM, UID_STREAM, NoiseLevel, calibrate_noise,
                               chunk_metadata, chunk_uids, get_context, plan_key)
from engine.simulation.plan import SimulationPlan, check_disk_space, plan_from_dict, plan_to_dict

METADATA_FILES = ("particles.star", "cryodrgn/poses.pkl", "cryodrgn/ctf.pkl", "cryosparc/particles.cs",
                  "ground_truth.npz")
# Whole-pipeline speed of one worker at box 64 (bench/bench_simulate.py on a 2-core VM), for
# the time estimate shown before a run; cost per image grows like D^2 log D.
IMAGES_PER_S_PER_WORKER_BOX64 = 6000.0


LOCK_FILE = ".lock"


class SimulationError(RuntimeError):
    """A run that cannot start or go on (folder in use, plan differs from the manifest...)."""


class FolderLock:
    """An exclusive ``fcntl.flock`` on ``folder/.lock``, held for a whole run so that two runs
    (GUI and CLI, two terminals, two threads of one process) never write one dataset folder.
    The file keeps the holder's pid for the message; it is left in place (removing a lock file
    while another process opens it would let two runs lock different files). The kernel drops
    the lock when the holder dies, so a SIGKILLed run never leaves the folder locked."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self._fd = None

    def acquire(self) -> FolderLock:
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                pid = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise SimulationError(f"{self.folder} is in use by another elbench run (pid {pid}); wait for it to "
                                  "finish or stop it, then resume") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


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
    noise: NoiseLevel
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
    plan_dict = plan_to_dict(plan)
    state = {"made": 0, "t_images": time.monotonic()}

    def report(stage):
        if progress is not None:
            progress(SimulationProgress(mf.particles_done(manifest), plan.n_particles, len(mf.done_chunks(manifest)),
                                        plan.n_chunks, time.monotonic() - state["t_images"], state["made"], stage))

    with make_executor(workers, scheduler) as executor:
        executor.warm_up(plan_dict)  # workers start and build their projector while we prepare
        if not resume:
            manifest = _prepare(plan, folder, ctx, log)
        finished = _run_chunks(plan, plan_dict, folder, manifest, executor, state, progress, should_stop, log)
        executor_name = executor.name
    noise = NoiseLevel(**manifest["noise"])
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


def _run_chunks(plan, plan_dict, folder, manifest, executor, state, progress, should_stop, log) -> bool:
    """Run the pending chunks, recording each in the manifest; False when stopped."""
    noise = NoiseLevel(**manifest["noise"])
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
    tasks = [(plan_dict, row["index"], noise.sigma, str(folder)) for row in manifest["chunks"] if row["status"] != "done"]
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
    noise = calibrate_noise(ctx)
    log(f"noise sigma {noise.sigma:.4g} (signal variance {noise.signal_variance:.4g} in a "
        f"{noise.mask_radius_px:.1f} px disk, SNR {plan.snr})")
    obj = ctx.object
    manifest = {
        "format_version": mf.FORMAT_VERSION, "kind": mf.KIND, "status": "prepared",
        "created": mf.now_iso(), "updated": mf.now_iso(), "software": mf.software_versions(),
        "plan": plan_to_dict(plan),
        "derived": {"box_size": ctx.box_size, "apix_A": ctx.apix_A, "n_particles": plan.n_particles,
                    "n_chunks": plan.n_chunks, "batch_size": BATCH_SIZE,
                    "object": {"name": obj.name, "diameter_A": obj.diameter_A, "pivot_A": list(map(float, obj.pivot_A)),
                               "axis1": list(map(float, obj.axis1)), "axis2": list(map(float, obj.axis2))}},
        "seeds": {"seed": plan.seed,
                  "chunk": f"SeedSequence(seed, spawn_key=({CHUNK_STREAM}, k)).spawn(2) -> [metadata, noise]",
                  "calibration": f"SeedSequence(seed, spawn_key=({CALIBRATION_STREAM},))",
                  "cryosparc_uid": f"SeedSequence(seed, spawn_key=({UID_STREAM}, k))"},
        "noise": asdict(noise),
        "chunks": mf.chunk_table(plan),
    }
    mf.write_manifest(folder, manifest)
    return manifest


def _write_maps(plan: SimulationPlan, folder: Path, ctx, only_missing: bool = False) -> None:
    from engine.structure.maps import write_map
    from engine.structure.object_model import composite_map

    obj = ctx.object
    (folder / "maps").mkdir(exist_ok=True)
    jobs = [("lsu.mrc", lambda: obj.lsu), ("ssu.mrc", lambda: obj.ssu), ("ssu_mask.mrc", lambda: obj.ssu_mask)]
    for i, well in enumerate(plan.landscape.wells, start=1):
        jobs.append((f"well_{i:02d}.mrc", lambda w=well: composite_map(obj, w.cc1_deg, w.cc2_deg)))
    for name, make in jobs:
        if not (only_missing and (folder / "maps" / name).exists()):
            write_map(folder / "maps" / name, make(), obj.apix_A)


def _open_for_resume(plan: SimulationPlan, folder: Path, log) -> dict:
    manifest = mf.read_manifest(folder)
    stored = plan_from_dict(manifest["plan"], str(mf.manifest_path(folder)))
    if plan_key(stored) != plan_key(plan):
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


def write_metadata_files(plan: SimulationPlan, folder) -> dict:
    """Write particles.star, cryodrgn/*.pkl, cryosparc/particles.cs (if planned) and
    ground_truth.npz from the chunks' metadata, regenerated from the seed chunk by chunk for
    each file (a chunk's metadata costs ~2 ms per 1,000 particles); returns {file: sha256}.
    Memory: the whole-dataset arrays each file needs (cryoDRGN poses: 88 bytes per particle;
    ground truth: 91), never the metadata of all chunks at once."""
    from engine.atomic_files import sha256_file

    folder = Path(folder)
    ctx = get_context(plan)
    optics = Optics(ctx.box_size, ctx.apix_A, plan.voltage_kV, plan.cs_mm, plan.amplitude_contrast, plan.bfactor_A2)

    def chunks():
        return (chunk_metadata(ctx, k) for k in range(plan.n_chunks))

    n = plan.n_particles
    write_particles_star(folder / "particles.star", optics, chunks())
    (folder / "cryodrgn").mkdir(exist_ok=True)
    write_cryodrgn_poses(folder / "cryodrgn/poses.pkl", optics, chunks(), n)
    write_cryodrgn_ctf(folder / "cryodrgn/ctf.pkl", optics, chunks(), n)
    if plan.write_cryosparc:
        (folder / "cryosparc").mkdir(exist_ok=True)
        write_cryosparc_particles(folder / "cryosparc/particles.cs", optics, chunks(), n, lambda m: chunk_uids(plan, m))
    save_ground_truth_streaming(plan, folder / "ground_truth.npz", chunks())
    return {name: sha256_file(folder / name) for name in METADATA_FILES if (folder / name).exists()}


# GroundTruth's per-particle fields (engine.formats.ground_truth) from a chunk's ParticleMetadata
_GT_COLUMNS = {
    "cc1_deg": (np.float64, lambda m: m.cc1_deg), "cc2_deg": (np.float64, lambda m: m.cc2_deg),
    "well": (np.int16, lambda m: m.well), "core": (bool, lambda m: m.core),
    "energy_kcal_per_mol": (np.float64, lambda m: m.energy_kcal_per_mol),
    "rot_deg": (np.float64, lambda m: m.euler_deg[:, 0]), "tilt_deg": (np.float64, lambda m: m.euler_deg[:, 1]),
    "psi_deg": (np.float64, lambda m: m.euler_deg[:, 2]),
    "origin_x_A": (np.float64, lambda m: m.origin_A[:, 0]), "origin_y_A": (np.float64, lambda m: m.origin_A[:, 1]),
    "defocus_u_A": (np.float64, lambda m: m.defocus_u_A), "defocus_v_A": (np.float64, lambda m: m.defocus_v_A),
    "defocus_angle_deg": (np.float64, lambda m: m.defocus_angle_deg),
}


def save_ground_truth_streaming(plan: SimulationPlan, path, metas) -> None:
    """ground_truth.npz of the chunks ``metas`` (an iterable, consumed once, in particle order):
    the same file as ``save_ground_truth(ground_truth_of(plan, metas))`` (engine.formats.ground_truth's
    format), but the numeric columns are filled in place (91 bytes per particle) and the image
    names, the largest field (4 bytes per character), are made chunk by chunk into the file."""
    from dataclasses import fields

    from engine.formats.writer import stack_file_name, write_npz_streaming

    n = plan.n_particles
    columns = {name: np.empty(n, dtype) for name, (dtype, _) in _GT_COLUMNS.items()}
    sizes = []
    for meta in metas:
        s = slice(meta.first, meta.first + len(meta))
        for name, (_, get) in _GT_COLUMNS.items():
            columns[name][s] = get(meta)
        sizes.append((meta.chunk, len(meta)))
    if sum(size for _, size in sizes) != n:
        raise SimulationError(f"{path}: chunks hold {sum(size for _, size in sizes)} particles, plan has {n}")
    width = max((len(f"{size:06d}@{stack_file_name(chunk)}") for chunk, size in sizes), default=1)
    gt = _ground_truth(plan, np.broadcast_to(np.array("x"), (n,)), columns)  # validates (well labels...)

    def image_names():
        for chunk, size in sizes:
            name = stack_file_name(chunk)
            yield np.array([f"{i:06d}@{name}" for i in range(1, size + 1)], dtype=f"<U{width}")

    entries = []
    for f in fields(gt):
        if f.name == "image_name":
            entries.append((f.name, f"<U{width}", (n,), image_names()))
        else:
            value = np.asarray(getattr(gt, f.name))
            entries.append((f.name, value.dtype, value.shape, value))
    write_npz_streaming(path, entries)


def ground_truth_of(plan: SimulationPlan, metas) -> GroundTruth:
    """The GroundTruth (engine.formats.ground_truth) of the chunks ``metas``, in particle order (all in
    memory; the dataset's file is written by :func:`save_ground_truth_streaming`)."""
    metas = list(metas)
    n = sum(len(m) for m in metas)
    columns = {name: np.empty(n, dtype) for name, (dtype, _) in _GT_COLUMNS.items()}
    first = 0
    for m in metas:
        for name, (_, get) in _GT_COLUMNS.items():
            columns[name][first:first + len(m)] = get(m)
        first += len(m)
    names = np.array([name for m in metas for name in m.image_names()]) if metas else np.zeros(0)
    return _ground_truth(plan, names, columns)


def _ground_truth(plan: SimulationPlan, image_name: np.ndarray, columns: dict) -> GroundTruth:
    land = plan.landscape
    basins = land.sampling_grid().basins
    return GroundTruth(
        image_name=image_name, **columns,
        well_centres_deg=land.centres_deg, well_names=np.array([w.name for w in land.wells]),
        merged_into=np.array([m or 0 for m in basins.merged_into], dtype=np.int16),
        kT_kcal_per_mol=float(land.kT_kcal_per_mol))


def verify_dataset(folder) -> list[str]:
    """Re-hash every stack and metadata file against the manifest; returns the problems
    (empty when the dataset is intact)."""
    from engine.atomic_files import sha256_file

    folder = Path(folder)
    manifest = mf.read_manifest(folder)
    problems = []
    for row in manifest["chunks"]:
        if row["status"] != "done":
            problems.append(f"chunk {row['index']}: not done")
        elif not (folder / row["file"]).is_file():
            problems.append(f"{row['file']}: missing")
        elif sha256_file(folder / row["file"]) != row["sha256"]:
            problems.append(f"{row['file']}: sha256 differs from the manifest")
    for name, sha in manifest.get("files", {}).items():
        if not (folder / name).is_file() or sha256_file(folder / name) != sha:
            problems.append(f"{name}: missing or sha256 differs from the manifest")
    return problems

"""The ideal-observer ceiling of a dataset folder, with its controls (a job function).

:func:`dataset_ceiling` takes a seeded random subsample of a dataset's particles
(engine.scoring.ceiling.subsample), reads their poses, origins (Angstrom) and CTF from
``particles.star`` and their images from the MRC stacks that ``rlnImageName`` names, and
computes each particle's posterior over conformations (engine.scoring.ceiling.IdealObserver,
built from the dataset's own maps, pivot, axes and optics: engine.formats.dataset_geometry,
with the manifest's noise sigma). It scores, on the same particles:

- "ground truth": the true (cc1, cc2) as a method's output (near 100 %);
- "random": coordinates independent of the truth (chance, 1 / wells);
- "ideal observer (posterior mean)": the paper's metric on the posterior means;
- "ideal observer (Bayes label)": the balanced Bayes label (largest posterior / prior basin
  mass), optimal for the paper's balanced Accuracy: the ceiling a method's accuracy is read
  against (:attr:`DatasetCeiling.ceiling`);

each with a 95 % confidence interval (engine.scoring.ceiling.accuracy_ci).

Parallel: worker processes (spawned, one IdealObserver each, built once per process), or the
workers of a Dask cluster (``scheduler``, the same clusters ``simulate --scheduler`` uses),
take pieces of TASK_PARTICLES particles and read those particles' images themselves; the
pieces are concatenated by index. A piece holds whole observer batches at the same offsets whatever
the worker count, so the result does not depend on it. ``progress(fraction)`` as pieces
finish; ``should_stop()`` between them: True returns None (pending pieces are dropped).

:func:`dataset_snr_sweep` is engine.scoring.ceiling.snr_sweep with the dataset's object,
landscape, optics and defocus range.

Example::

    c = dataset_ceiling("runs/ds1", n_subsample=2000, seed=0, workers=2, progress=print)
    c.ceiling.accuracy, c.ci[c.ceiling.label], len(c.subsample)
    for scores in c.rows: print(scores.label, scores.accuracy, c.ci[scores.label])
    points = dataset_snr_sweep("runs/ds1", [0.03, 0.1, 0.3, 1, 3], n_particles=300)
"""
from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

import mrcfile
import numpy as np

from engine.dask_client import DaskConnectError, connect, worker_threads
from engine.formats.dataset import LANDSCAPE_FILE, STAR_FILE, load_dataset
from engine.formats.dataset_geometry import DatasetGeometry, DatasetGeometryError, dataset_object, read_dataset_geometry
from engine.formats.image_names import parse_image_names
from engine.formats.star import read_star_blocks
from engine.landscape.io import load_landscape
from engine.scoring.ceiling import (BATCH, CeilingResult, IdealObserver, SweepPoint, accuracy_ci, bayes_label_scores,
                                    ground_truth_scores, posterior_mean_scores, random_scores, snr_sweep, subsample)
from engine.scoring.metric import Scores
from engine.cpus import available_cpus

#: Particles per piece of work: whole observer batches (so batches do not depend on the worker
#: count) and small enough for progress and cancelling to answer within about a second.
TASK_PARTICLES = 4 * BATCH
#: How often (seconds) the main process looks at should_stop while pieces run.
POLL_S = 0.2
LABELS = ("ground truth", "random", "ideal observer (posterior mean)", "ideal observer (Bayes label)")
STAR_COLUMNS = ("rlnImageName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnDefocusU", "rlnDefocusV",
                "rlnDefocusAngle")


class CeilingError(ValueError):
    """A dataset whose ceiling cannot be computed; the message names the file and the reason."""


@dataclass(frozen=True, eq=False)
class DatasetCeiling:
    """The ceiling and controls of one dataset on ``subsample`` ((M,) sorted dataset indices).

    rows: Scores in LABELS order (ground truth, random, posterior mean, Bayes label), their
    ``particle_index`` dataset indices; ci: {label: (low, high)} 95 % interval of each
    accuracy (fractions); result: the posteriors (engine.scoring.ceiling.CeilingResult, rows
    in ``subsample`` order); seed: the subsample's (and the random control's); snr,
    noise_sigma: the dataset's; elapsed_s: wall time of the posteriors (worker start-up and
    observer set-up included); workers: processes used.
    """

    rows: tuple[Scores, ...]
    ci: dict
    subsample: np.ndarray
    seed: int
    result: CeilingResult
    snr: float | None
    noise_sigma: float
    elapsed_s: float
    workers: int

    @property
    def ceiling(self) -> Scores:
        """The Bayes-label Scores: the ceiling of the paper's Accuracy."""
        return self.rows[-1]

    def bayes_labels(self, n_particles: int) -> np.ndarray:
        """(n_particles,) int64: the Bayes label of each subsampled particle (its dataset
        index), 0 for the particles not in the subsample: a labelling to make maps from."""
        labels = np.zeros(int(n_particles), dtype=np.int64)
        labels[self.ceiling.particle_index] = self.ceiling.assigned
        return labels

    def fraction_of_ceiling(self, accuracy: float) -> float:
        """A method's accuracy (fraction) as a fraction of the ceiling's."""
        return accuracy / self.ceiling.accuracy if self.ceiling.accuracy > 0 else float("nan")

    def as_dict(self) -> dict:
        """JSON-ready: {"subsample", "seed", "snr", "noise_sigma", "elapsed_s", "workers",
        "particles_per_s", "controls": [...], "ceiling": [...]}, each row {"label", "accuracy",
        "ci": [low, high], "recall_std", "recall": {well: r}, "n_scored"} (fractions)."""
        rows = [{"label": s.label, "accuracy": s.accuracy, "ci": list(self.ci[s.label]), "recall_std": s.recall_std,
                 "recall": {str(w): float(r) for w, r in zip(s.wells, s.recall)}, "n_scored": s.n_scored}
                for s in self.rows]
        return {"subsample": len(self.subsample), "seed": self.seed, "snr": self.snr, "noise_sigma": self.noise_sigma,
                "elapsed_s": self.elapsed_s, "workers": self.workers,
                "particles_per_s": len(self.subsample) / self.elapsed_s if self.elapsed_s > 0 else None,
                "controls": rows[:2], "ceiling": rows[2:]}


@dataclass(frozen=True)
class _Piece:
    """The particles of one piece of work: where their images are and what the STAR says."""

    first: int
    stacks: np.ndarray
    positions: np.ndarray
    euler_deg: np.ndarray
    origin_A: np.ndarray
    defocus: tuple


def dataset_ceiling(folder, n_subsample: int | None = 2000, seed: int = 0, workers: int | None = None,
                    progress=None, should_stop=None, log=None, core_only: bool = False,
                    scheduler=None) -> DatasetCeiling | None:
    """The ceiling of the dataset ``folder`` on ``n_subsample`` random particles (all when None
    or more than there are; seeded by ``seed``, core particles only with ``core_only``).
    workers: processes (default: the CPUs this process may use; 1 runs here). ``scheduler``: a
    Dask scheduler address (or Client) to run the pieces on instead, as ``simulate
    --scheduler`` does (engine.dask_client; the workers must see ``folder`` at the same path);
    ``workers`` is then the cluster's thread count. CeilingError names the file when the folder
    is not a complete elbench dataset with maps and noise, or the scheduler it cannot reach."""
    say = log or (lambda text: None)
    geometry = ceiling_geometry(folder)
    ds = load_dataset(geometry.root)
    gt = ds.ground_truth
    candidates = np.flatnonzero(gt.core) if core_only else np.arange(ds.n_particles)
    chosen = candidates[subsample(len(candidates), n_subsample, seed)]
    pieces = _pieces(geometry.root, chosen, gt.image_name)
    start = time.perf_counter()
    if scheduler:
        client, owned = _dask_client(scheduler)
        try:
            workers = worker_threads(client)
            say(f"ideal observer: {len(chosen)} of {ds.n_particles} particles, SNR {geometry.snr:g}, on the Dask "
                f"cluster at {client.scheduler.address} ({workers} worker threads)")
            results = _run_pieces_on_dask(client, geometry.root, geometry.noise_sigma, pieces, progress, should_stop)
        finally:
            if owned:
                client.close()
    else:
        workers = max(1, min(int(workers or available_cpus()), len(pieces)))
        say(f"ideal observer: {len(chosen)} of {ds.n_particles} particles, SNR {geometry.snr:g}, "
            f"{workers} worker process{'es' if workers > 1 else ''}")
        results = _run_pieces(geometry.root, geometry.noise_sigma, pieces, workers, progress, should_stop)
    if results is None:
        return None
    elapsed_s = time.perf_counter() - start
    result = _concatenate(results, len(chosen))
    well = gt.well[chosen]
    cc = np.stack([gt.cc1_deg[chosen], gt.cc2_deg[chosen]], axis=1)
    rows = tuple(replace(s, label=label, particle_index=chosen[s.particle_index], core_only=core_only)
                 for label, s in zip(LABELS, (ground_truth_scores(cc, well), random_scores(well, seed),
                                              posterior_mean_scores(result, well), bayes_label_scores(result, well))))
    say(f"ideal observer: {len(chosen) / elapsed_s:.0f} particles/s")
    return DatasetCeiling(rows, {s.label: accuracy_ci(s) for s in rows}, chosen, int(seed), result, geometry.snr,
                          geometry.noise_sigma, elapsed_s, workers)


def dataset_snr_sweep(folder, snrs, n_particles: int = 300, seed: int = 0, workers: int = 1, progress=None,
                      should_stop=None) -> list[SweepPoint]:
    """Ceiling accuracy (Bayes label) against SNR for the dataset's object, landscape, optics
    and defocus range, from ``n_particles`` simulated in memory per SNR
    (engine.scoring.ceiling.snr_sweep; ``workers`` threads)."""
    geometry = ceiling_geometry(folder, need_noise=False)
    landscape = load_landscape(geometry.root / LANDSCAPE_FILE)
    return snr_sweep(dataset_object(geometry.root, geometry), landscape, snrs, n_particles, seed,
                     optics=geometry.optics, defocus_range_A=geometry.defocus_range_A,
                     max_astigmatism_A=geometry.astigmatism_max_A, workers=workers, progress=progress,
                     should_stop=should_stop)


def ceiling_geometry(folder, need_noise: bool = True) -> DatasetGeometry:
    """The geometry of a dataset that can have a ceiling: complete, made by elbench, with its
    maps and (``need_noise``) noise; CeilingError naming the file and the reason otherwise."""
    try:
        geometry = read_dataset_geometry(folder)
    except DatasetGeometryError as exc:
        raise CeilingError(f"{exc}; a ceiling needs a dataset made by elbench, with its maps") from None
    manifest = geometry.root / "manifest.json"
    if geometry.status != "complete":
        raise CeilingError(f"{manifest}: status {geometry.status!r}, not 'complete' (finish or resume the run first)")
    if need_noise and not geometry.noise_sigma > 0:
        raise CeilingError(f"{manifest}: a noiseless dataset (sigma 0): every conformation is read exactly from "
                           "its image, so the ideal observer's ceiling is 100 % by construction")
    return geometry


def _pieces(root: Path, chosen: np.ndarray, truth_names: np.ndarray) -> list[_Piece]:
    """The chosen particles' STAR rows, in pieces of TASK_PARTICLES (checked against the truth)."""
    path = root / STAR_FILE
    block = read_star_blocks(path).get("particles")
    missing = [c for c in STAR_COLUMNS if c not in getattr(block, "columns", ())]
    if missing:
        raise CeilingError(f"{path}: data_particles lacks {missing}")
    if len(block) != len(truth_names):
        raise CeilingError(f"{path}: {len(block)} particles, but the ground truth has {len(truth_names)}")
    rows = block.iloc[chosen]
    names = rows["rlnImageName"].to_numpy().astype(str)
    if np.any(names != np.asarray(truth_names)[chosen].astype(str)):
        raise CeilingError(f"{path}: rlnImageName differs from the ground truth's image names (rows reordered?)")
    positions, stacks, ok = parse_image_names(names)
    if not ok.all():
        raise CeilingError(f"{path}: rlnImageName {names[~ok][0]!r} is not 'N@stack'")

    def column(name: str, default: float = 0.0) -> np.ndarray:
        values = rows[name] if name in rows.columns else np.full(len(rows), default)
        return np.asarray(values, dtype=np.float64)

    euler = np.stack([column(c) for c in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")], axis=1)
    origin = np.stack([column("rlnOriginXAngst"), column("rlnOriginYAngst")], axis=1)
    defocus = [column(c) for c in ("rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnPhaseShift")]
    return [_Piece(lo, stacks[lo:lo + TASK_PARTICLES], positions[lo:lo + TASK_PARTICLES],
                   euler[lo:lo + TASK_PARTICLES], origin[lo:lo + TASK_PARTICLES],
                   tuple(d[lo:lo + TASK_PARTICLES] for d in defocus))
            for lo in range(0, len(chosen), TASK_PARTICLES)]


def read_images(root, stacks, positions, box_size: int) -> np.ndarray:
    """(M, D, D) float32 images: 1-based ``positions`` in the ``stacks`` (paths relative to
    ``root``), each stack memory-mapped once. CeilingError names a stack that is missing,
    shorter than a position, or of another box."""
    images = np.empty((len(positions), box_size, box_size), dtype=np.float32)
    for stack in np.unique(stacks):
        path = Path(root) / stack
        take = np.flatnonzero(stacks == stack)
        try:
            with mrcfile.mmap(path, mode="r", permissive=True) as mrc:
                data = mrc.data.reshape(-1, *mrc.data.shape[-2:])
                fits = data.shape[1:] == (box_size, box_size) and positions[take].max() <= len(data)
                if fits:
                    images[take] = data[positions[take] - 1]
        except (OSError, ValueError, AttributeError) as exc:  # AttributeError: a header mrcfile found no data in
            raise CeilingError(f"{path}: cannot read the particle images ({exc})") from None
        if not fits:
            raise CeilingError(f"{path}: {len(data)} images of {data.shape[1:]} px, but particles.star asks for "
                               f"image {positions[take].max()} of {box_size} px")
    return images


_worker_observer: IdealObserver | None = None


def _observer_of(root: Path) -> IdealObserver:
    geometry = read_dataset_geometry(root)
    return IdealObserver(dataset_object(root, geometry), load_landscape(root / LANDSCAPE_FILE),
                         optics=geometry.optics)


def _init_worker(root: Path) -> None:
    global _worker_observer
    _worker_observer = _observer_of(root)


def _posterior_of(observer: IdealObserver, root: Path, sigma: float, piece: _Piece) -> tuple[int, CeilingResult]:
    images = read_images(root, piece.stacks, piece.positions, observer.obj.box_size)
    return piece.first, observer.posterior(images, sigma, piece.euler_deg, piece.origin_A, *piece.defocus)


def _worker_posterior(root: Path, sigma: float, piece: _Piece) -> tuple[int, CeilingResult]:
    return _posterior_of(_worker_observer, root, sigma, piece)


_dask_observers: dict[str, IdealObserver] = {}   # on a Dask worker: one observer per dataset


def _dask_posterior(root: str, sigma: float, piece: _Piece) -> tuple[int, CeilingResult]:
    """Runs on a Dask worker: the piece's posteriors, with the worker's observer of ``root``
    (built at its first piece, kept for the next)."""
    observer = _dask_observers.get(root)
    if observer is None:
        observer = _dask_observers[root] = _observer_of(Path(root))
    return _posterior_of(observer, Path(root), sigma, piece)


def _dask_client(scheduler):
    try:
        return connect(scheduler)
    except DaskConnectError as exc:
        raise CeilingError(str(exc)) from None


def _run_pieces_on_dask(client, root: Path, sigma: float, pieces, progress, should_stop) -> list | None:
    """_run_pieces on a Dask cluster: every piece submitted at once (the scheduler spreads
    them), results as they come; should_stop() cancels those not finished."""
    total = sum(len(p.positions) for p in pieces)
    futures = [client.submit(_dask_posterior, str(root), sigma, p, pure=False) for p in pieces]
    results, done_particles = [], 0
    try:
        running = set(futures)
        while running:
            if should_stop is not None and should_stop():
                return None
            finished = {f for f in running if f.done()}
            if not finished:
                time.sleep(POLL_S)
                continue
            running -= finished
            for future in finished:
                item = future.result()   # a worker's exception is raised here, as a local one would be
                results.append(item)
                done_particles += len(item[1])
                if progress is not None:
                    progress(done_particles / total)
        return results
    finally:
        client.cancel([f for f in futures if not f.done()])


def _run_pieces(root: Path, sigma: float, pieces, workers: int, progress, should_stop) -> list | None:
    """(first, CeilingResult) of every piece, or None when should_stop() became true."""
    total = sum(len(p.positions) for p in pieces)
    done_particles, results = 0, []

    def finished(item) -> bool:
        nonlocal done_particles
        results.append(item)
        done_particles += len(item[1])
        if progress is not None:
            progress(done_particles / total)
        return bool(should_stop and should_stop())

    if workers == 1:
        observer = _observer_of(root)
        for piece in pieces:
            if (should_stop and should_stop()) or finished(_posterior_of(observer, root, sigma, piece)):
                return None
        return results
    # spawn: a fork of a process with threads (the GUI's) may inherit held locks
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                               initargs=(root,))
    stopped = False
    try:
        running = {pool.submit(_worker_posterior, root, sigma, p) for p in pieces}
        while running and not stopped:
            done, running = wait(running, timeout=POLL_S, return_when=FIRST_COMPLETED)
            stopped = any([finished(f.result()) for f in done]) or bool(should_stop and should_stop())
    finally:
        # stopped: return at once; the workers end after the piece each is on (never a
        # result anyone reads)
        pool.shutdown(wait=not stopped, cancel_futures=True)
    return None if stopped else results


def _concatenate(results, n: int) -> CeilingResult:
    """One CeilingResult of the pieces' (first, result), in subsample order (index 0..n-1);
    every piece is whole, since the observer is never stopped inside one."""
    results = sorted(results, key=lambda item: item[0])
    parts = [r for _, r in results]
    first = parts[0]

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(r, name) for r in parts])

    return CeilingResult(index=np.arange(n), mean_deg=cat("mean_deg"), basin_mass=cat("basin_mass"),
                         map_well=cat("map_well"), balanced_well=cat("balanced_well"), level=cat("level"),
                         n_evaluations=cat("n_evaluations"), basin_prior=first.basin_prior,
                         well_centres_deg=first.well_centres_deg, complete=True)

"""The ideal-observer ceiling and the controls: the best score possible on an elbench dataset.

For particles made by elbench everything but the noise is known (object, poses, CTF, noise
sigma, landscape), so the posterior over conformations per particle is computable: the
Boltzmann prior of the landscape (its sampling grid, exactly what the simulation draws from)
times the Gaussian white-noise likelihood of the image (engine.scoring.ceiling_likelihood,
Fourier space, two-body), searched coarse to fine (engine.scoring.ceiling_grid). Outputs per
particle: the posterior mean (cc1, cc2), scored by the paper's metric like any method (the
ceiling of that metric in practice: the best estimate of each conformation, though the
metric's nearest-centroid rule is not a Bayes rule, so it is not a proven bound), and the
posterior mass of each ground-truth basin, whose best label is the ceiling of classification
(a proven bound, in expectation). Two labels are given:

- ``map_well``: the basin of largest posterior mass, Bayes-optimal for plain accuracy; with no
  information it is the well most likely under the prior;
- ``balanced_well``: the basin of largest posterior / prior mass ratio (largest marginal
  likelihood), Bayes-optimal for the paper's Accuracy, which is *balanced* (mean of per-well
  recalls: a correct particle of well n is worth 1 / P(n)). The classification ceiling uses it.

Controls scored the same way (engine.scoring.metric.Scores): "ground truth" (the true cc1, cc2
as a method's output: near 100 %, not exactly, since basins are not Voronoi cells of their
centroids) and "random" (coordinates independent of the truth: chance, 1 / n_wells in
expectation). :func:`accuracy_ci` gives a 95 % interval; :func:`snr_sweep` the ceiling against
SNR from small samples simulated in memory.

Example::

    obs = IdealObserver(obj, landscape)
    idx = subsample(len(gt), 500, seed=0)
    res = obs.posterior(images[idx], sigma, euler[idx], origin[idx], dfu[idx], dfv[idx], dfang[idx])
    ceiling = bayes_label_scores(res, gt.well[idx])        # Scores; .accuracy, .recall
    metric = posterior_mean_scores(res, gt.well[idx])      # the paper's metric on the mean
    lo, hi = accuracy_ci(ceiling)
    rows = snr_sweep(obj, landscape, [0.03, 0.1, 0.3, 1, 3], n_particles=300)
"""
from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from engine.imaging.ctf import CTFParams, ctf_2d, sample_defocus
from engine.imaging.noise import add_white_noise, calibrate_noise, particle_mask_radius_px
from engine.imaging.projector import TwoBodyProjector
from engine.landscape.sampling import sample_conformations
from engine.scoring.ceiling_grid import ConformationGrid
from engine.scoring.ceiling_likelihood import TwoBodyLikelihood, default_bands
from engine.scoring.metric import Scores, score_labels
from engine.structure.rotations import uniform_euler_angles

#: Particles handed to a worker at a time (progress and should_stop are checked between them).
BATCH = 16
#: Clean images the SNR sweep calibrates its noise on, drawn like its sample (as a dataset's 512).
N_CALIBRATION_IMAGES = 512


@dataclass(frozen=True, eq=False)
class CeilingResult:
    """Posteriors of M particles (the ``index`` of each in the arrays given; all N unless
    stopped early: ``complete`` False).

    mean_deg: (M, 2) posterior mean (cc1, cc2) degrees; basin_mass: (M, W) posterior mass per
    ground-truth basin (column w - 1 for well w); map_well, balanced_well: (M,) int16 1-based
    labels (module docstring); level: (M,) final grid level; n_evaluations: (M, n_bands)
    likelihood evaluations per band; basin_prior: (W,) prior basin masses; well_centres_deg:
    (W, 2) the landscape's well centres.
    """

    index: np.ndarray
    mean_deg: np.ndarray
    basin_mass: np.ndarray
    map_well: np.ndarray
    balanced_well: np.ndarray
    level: np.ndarray
    n_evaluations: np.ndarray
    basin_prior: np.ndarray
    well_centres_deg: np.ndarray
    complete: bool = True

    def __len__(self) -> int:
        return len(self.index)


class IdealObserver:
    """The ideal observer of one object and landscape (build once, reuse for any sigma).

    pad: padding of the 3D transforms, as the dataset's projector (2). coarse_cells /
    fine_cells: blocks per axis of the first and finest grid levels (engine.scoring.ceiling_grid).
    tail_mass: posterior mass a level may prune; max_step_sd: largest grid step, in local
    posterior standard deviations, accepted as resolved. optics: the dataset's CTFParams.
    """

    def __init__(self, obj, landscape, *, pad: int = 2, coarse_cells: int = 8, fine_cells: int | None = None,
                 tail_mass: float = 1e-3, max_step_sd: float = 3.0, optics: CTFParams = CTFParams()):
        self.obj = obj
        self.landscape = landscape
        self.optics = optics
        self.tail_mass = float(tail_mass)
        self.max_step_sd = float(max_step_sd)
        self.model = TwoBodyLikelihood(obj, pad)
        self.grid = ConformationGrid(landscape.sampling_grid(), coarse_cells, fine_cells)
        self.bands = default_bands(obj.box_size)

    def posterior_one(self, image, sigma: float, euler_deg, origin_A, ctf):
        """engine.scoring.ceiling_grid.GridPosterior of one image (arguments as
        engine.scoring.ceiling_likelihood.TwoBodyLikelihood.particle)."""
        part = self.model.particle(image, euler_deg, origin_A, ctf, sigma, self.bands)
        return self.grid.posterior(part.log_likelihood, part.fisher_information, self.tail_mass, self.max_step_sd)

    def posterior(self, images, sigma: float, euler_deg, origin_A, defocus_u_A, defocus_v_A,
                  defocus_angle_deg, phase_shift_deg=0.0, *, workers: int = 1, progress=None,
                  should_stop=None) -> CeilingResult:
        """Posteriors of N particles (a job function).

        images: (N, D, D) float32 [y, x], the dataset's images (RELION convention, protein
        white); sigma: the noise standard deviation per pixel (the manifest's); euler_deg (N, 3)
        RELION (rot, tilt, psi) degrees; origin_A (N, 2) rlnOriginX/YAngst or None; defocus
        (N,) Angstrom / degrees as in particles.star. workers: threads (the compiled kernels
        release the GIL, the per-level bookkeeping does not, so more cores are best used as
        processes, one observer each, on slices of the particles, as the simulation's
        executors do). progress(fraction) after each batch; should_stop() between batches:
        True returns the particles done so far (``complete`` False).
        """
        images = np.asarray(images)
        n, d = len(images), self.obj.box_size
        if images.shape != (n, d, d):
            raise ValueError(f"images: expected shape (N, {d}, {d}) (got {images.shape})")
        euler = np.asarray(euler_deg, dtype=np.float64).reshape(n, 3)
        origin = np.zeros((n, 2)) if origin_A is None else np.asarray(origin_A, dtype=np.float64).reshape(n, 2)
        defocus = [np.broadcast_to(np.asarray(a, dtype=np.float64), (n,))
                   for a in (defocus_u_A, defocus_v_A, defocus_angle_deg, phase_shift_deg)]
        stop = threading.Event()

        def run(lo: int, hi: int):
            if stop.is_set():
                return None
            ctf = ctf_2d(d, self.obj.apix_A, *(a[lo:hi] for a in defocus[:3]), self.optics, defocus[3][lo:hi])
            return [self.posterior_one(images[i], sigma, euler[i], origin[i], ctf[i - lo]) for i in range(lo, hi)]

        done: dict[int, list] = {}
        starts = list(range(0, n, BATCH))
        with ThreadPoolExecutor(max(1, int(workers))) as pool:
            futures = [pool.submit(run, lo, min(lo + BATCH, n)) for lo in starts]
            for k, (lo, fut) in enumerate(zip(starts, futures)):  # in order: progress never skips ahead
                posts = fut.result()
                if posts is not None:
                    done[lo] = posts
                if progress is not None:
                    progress((k + 1) / len(starts))
                if should_stop is not None and should_stop():
                    stop.set()
                    break
        return self._result(done, n)

    def _result(self, done: dict, n: int) -> CeilingResult:
        index = np.array([lo + j for lo in sorted(done) for j in range(len(done[lo]))], dtype=np.int64)
        posts = [p for lo in sorted(done) for p in done[lo]]
        w = self.grid.n_wells
        prior = self.grid.basin_prior
        mass = np.array([p.basin_mass for p in posts]).reshape(-1, w)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(prior > 0, mass / prior, -np.inf)  # merged wells have no basin
        return CeilingResult(
            index=index, mean_deg=np.array([p.mean_deg for p in posts]).reshape(-1, 2), basin_mass=mass,
            map_well=(np.argmax(mass, axis=1) + 1).astype(np.int16),
            balanced_well=(np.argmax(ratio, axis=1) + 1).astype(np.int16),
            level=np.array([p.level for p in posts], dtype=np.int16),
            n_evaluations=np.array([p.n_evaluations for p in posts]).reshape(-1, len(self.bands)),
            basin_prior=prior, well_centres_deg=self.landscape.centres_deg, complete=len(index) == n)


def subsample(n_particles: int, size: int | None, seed: int = 0) -> np.ndarray:
    """Sorted random indices of ``size`` distinct particles out of ``n_particles`` (all when
    ``size`` is None or >= n_particles), deterministic in ``seed``."""
    if size is None or size >= n_particles:
        return np.arange(n_particles)
    if size < 1:
        raise ValueError(f"size: must be >= 1 (got {size})")
    return np.sort(np.random.default_rng(seed).choice(n_particles, size, replace=False))


def _scores(label: str, result: dict, index) -> Scores:
    return Scores(label=label, dims=(0, 1), particle_index=np.asarray(index, dtype=np.int64), **result)


def posterior_mean_scores(result: CeilingResult, well, label: str = "ideal observer (posterior mean)") -> Scores:
    """The paper's metric on the posterior means; ``well``: (N,) 1-based true wells of the
    particles given to :meth:`IdealObserver.posterior` (indexed by ``result.index``)."""
    labels = np.asarray(well)[result.index]
    return _scores(label, score_labels(result.mean_deg, labels, n_wells=result.basin_mass.shape[1]), result.index)


def bayes_label_scores(result: CeilingResult, well, rule: str = "balanced",
                       label: str = "ideal observer") -> Scores:
    """Per-well recall and accuracy of the Bayes labels (rule "balanced": ``balanced_well``,
    optimal for the paper's balanced Accuracy; "map": ``map_well``). Scores.centres: the
    landscape's well centres; a particle labelled with a well absent from the truth is a miss."""
    if rule not in ("balanced", "map"):
        raise ValueError(f"rule: must be 'balanced' or 'map' (got {rule!r})")
    assigned = result.balanced_well if rule == "balanced" else result.map_well
    return label_scores(np.asarray(well)[result.index], assigned, result.well_centres_deg, label, result.index)


def label_scores(true_well, assigned_well, well_centres_deg, label: str, index=None) -> Scores:
    """Scores of a classification: (M,) true and assigned 1-based wells; well_centres_deg
    (W, 2) gives Scores.centres. Wells are those with a true particle."""
    true_well = np.asarray(true_well, dtype=np.int64)
    assigned = np.asarray(assigned_well, dtype=np.int64)
    wells = np.unique(true_well)
    lookup = np.full(max(int(true_well.max()), int(assigned.max()), len(well_centres_deg)) + 1, -1)
    lookup[wells] = np.arange(len(wells))
    t, a = lookup[true_well], lookup[assigned]
    k = len(wells)
    hit = a >= 0
    confusion = np.bincount(t[hit] * k + a[hit], minlength=k * k).reshape(k, k)
    n_true = np.bincount(t, minlength=k).astype(np.int64)
    return _scores(label, dict(wells=wells, recall=np.diag(confusion) / n_true, n_true=n_true,
                               confusion=confusion, centres=np.asarray(well_centres_deg)[wells - 1],
                               assigned=assigned.astype(np.int16)),
                   np.arange(len(true_well)) if index is None else index)


def ground_truth_scores(cc_deg, well, label: str = "ground truth") -> Scores:
    """Control: the true (cc1, cc2) (N, 2) degrees scored as a method's output (near 100 %)."""
    return _scores(label, score_labels(np.asarray(cc_deg, dtype=np.float64), np.asarray(well)), np.arange(len(well)))


def random_scores(well, seed: int = 0, label: str = "random") -> Scores:
    """Control: 2D coordinates drawn independently of the truth (N(0, 1), seeded) scored by the
    metric: each particle's assignment is independent of its well, so the expected Accuracy
    is 1 / (number of wells), chance."""
    well = np.asarray(well)
    coords = np.random.default_rng(seed).standard_normal((len(well), 2))
    return _scores(label, score_labels(coords, well), np.arange(len(well)))


def accuracy_ci(scores: Scores, level: float = 0.95, method: str = "normal", n_boot: int = 2000,
                seed: int = 0) -> tuple[float, float]:
    """Confidence interval of ``scores.accuracy`` (the mean of W per-well recalls), fractions.

    "normal" (default): recalls are independent binomials, so var(accuracy) = sum_n
    r_n (1 - r_n) / P_n / W^2, with Agresti-Coull r_n = (TP_n + 2) / (P_n + 4) (no zero width at
    0 or 100 %); accuracy +- z sd, clipped to [0, 1]. "bootstrap": particles resampled with
    replacement (multinomial over the confusion matrix, ``n_boot`` times, seeded), percentile
    interval; the assignments are held fixed (the metric's centres are not refitted).
    """
    if not 0 < level < 1:
        raise ValueError(f"level: must be in (0, 1) (got {level})")
    conf = np.asarray(scores.confusion, dtype=np.int64)
    # a last column for particles assigned to no scored well (a label absent from the truth)
    conf = np.column_stack([conf, np.asarray(scores.n_true) - conf.sum(1)])
    if method == "normal":
        z = NormalDist().inv_cdf((1 + level) / 2)
        tp, p = np.diag(conf).astype(float), np.asarray(scores.n_true, dtype=float)
        r = (tp + 2) / (p + 4)
        sd = math.sqrt(float((r * (1 - r) / p).sum())) / len(p)
        return max(0.0, scores.accuracy - z * sd), min(1.0, scores.accuracy + z * sd)
    if method == "bootstrap":
        rng = np.random.default_rng(seed)
        flat = conf.ravel()
        draws = rng.multinomial(flat.sum(), flat / flat.sum(), n_boot).reshape(n_boot, *conf.shape)
        p = draws.sum(2)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.nanmean(np.diagonal(draws, axis1=1, axis2=2) / np.where(p > 0, p, np.nan), axis=1)
        lo, hi = np.quantile(acc, [(1 - level) / 2, (1 + level) / 2])
        return float(lo), float(hi)
    raise ValueError(f"method: must be 'normal' or 'bootstrap' (got {method!r})")


class SweepPoint(NamedTuple):
    """One SNR of :func:`snr_sweep`: the SNR, the ceiling accuracy (fraction) and its 95 % ci."""

    snr: float
    accuracy: float
    ci: tuple[float, float]


def snr_sweep(obj, landscape, snrs, n_particles: int = 300, seed: int = 0, *, ceiling: str = "classification",
              optics: CTFParams = CTFParams(), defocus_range_A=(10000.0, 25000.0), max_astigmatism_A: float = 500.0,
              observer: IdealObserver | None = None, workers: int = 1, progress=None,
              should_stop=None) -> list[SweepPoint]:
    """Ceiling accuracy against SNR from ``n_particles`` simulated in memory (a job function).

    One sample for all SNRs (conformations from the landscape's sampling grid, uniform
    orientations, the dataset's default defocus, no shifts; seeded), one standard-normal noise
    field scaled by each SNR's sigma (common random numbers: the curve's steps come from the SNR
    alone). sigma per SNR by the dataset's definition (engine.imaging.noise.calibrate_noise) on
    N_CALIBRATION_IMAGES clean images drawn the same way. ceiling: "classification"
    (:func:`bayes_label_scores`) or "metric" (:func:`posterior_mean_scores`); ci from
    :func:`accuracy_ci`. Stopped early, the SNRs done so far are returned.
    """
    if ceiling not in ("classification", "metric"):
        raise ValueError(f"ceiling: must be 'classification' or 'metric' (got {ceiling!r})")
    snrs = [float(s) for s in snrs]
    if not snrs or min(snrs) <= 0:
        raise ValueError(f"snrs: need SNR values > 0 (got {snrs})")
    obs = observer or IdealObserver(obj, landscape, optics=optics)
    sample_ss, cal_ss, noise_ss = np.random.SeedSequence(seed).spawn(3)
    projector = TwoBodyProjector(obj)
    d = obj.box_size

    def draw(n, rng):
        sample = sample_conformations(landscape.sampling_grid(), n, rng)
        euler = uniform_euler_angles(n, rng)
        dfu, dfv, dfang = sample_defocus(n, rng, *defocus_range_A, max_astigmatism_A)
        cc = np.stack([sample.cc1_deg, sample.cc2_deg], axis=1)
        ctf = ctf_2d(d, obj.apix_A, dfu, dfv, dfang, optics)
        return sample, euler, (dfu, dfv, dfang), projector.project(euler, cc, None, ctf)

    sample, euler, defocus, clean = draw(n_particles, np.random.default_rng(sample_ss))
    calibration = draw(N_CALIBRATION_IMAGES, np.random.default_rng(cal_ss))[3]
    radius = particle_mask_radius_px(obj.diameter_A, obj.apix_A, d)
    rows = []
    for k, snr in enumerate(snrs):
        if should_stop is not None and should_stop():
            break
        sigma = calibrate_noise([calibration], snr, radius).sigma
        images = add_white_noise(clean, sigma, np.random.default_rng(noise_ss))  # same field each SNR
        res = obs.posterior(images, sigma, euler, None, *defocus, workers=workers, should_stop=should_stop,
                            progress=None if progress is None else (lambda f, k=k: progress((k + f) / len(snrs))))
        if not res.complete:
            break
        score_fn = bayes_label_scores if ceiling == "classification" else posterior_mean_scores
        s = score_fn(res, sample.well)
        rows.append(SweepPoint(snr, s.accuracy, accuracy_ci(s)))
    return rows

"""The energy landscape a method recovered, and its per-well comparison with the truth.

Recovered landscape (paper Fig. 3): a 2D histogram of two output coordinates turned into a
free energy ``G = -kT ln(p / p_max)`` (kcal/mol, 0 in the most populated bin), empty bins NaN.
Bins and range are chosen from the data: the range spans the 0.5th to 99.5th percentile of each
coordinate (so a few outliers do not squash the map), widened by 5 % on each side; the bin
count per axis follows the Freedman-Diaconis rule (width 2 IQR n^(-1/3)) within [16, 128].
Grids follow engine.landscape.model: ``G[i2, i1]``, axis 0 the second coordinate, axis 1 the first.

Per-well comparison: ground-truth occupancy of well n is the fraction of scored particles whose
label is n; the recovered occupancy is the fraction the metric assigned to well n (column sums
of the confusion matrix). Both become delta-G_n = -kT ln(P_n / P_max); the rank agreement of
well depths is Spearman's rho between the two delta-G vectors. ``centre_G_kcal`` reads the
recovered landscape at each well centre.

Example::

    rl = recovered_landscape(out.coords[:, :2], kT_kcal_per_mol=0.596)
    rl.free_energy, rl.extent
    cmp = compare_wells(scores, rl, kT_kcal_per_mol=0.596)
    cmp.spearman_rho
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_BINS = 16
MAX_BINS = 128
PERCENTILES = (0.5, 99.5)
MARGIN = 0.05


@dataclass(frozen=True, eq=False)
class RecoveredLandscape:
    """Histogram free energy of two coordinates.

    x_edges (n1 + 1,), y_edges (n2 + 1,): bin edges of the first and second coordinate.
    counts (n2, n1) int64; free_energy (n2, n1) kcal/mol, NaN where empty.
    n_outside: points outside the range (not counted).
    """

    x_edges: np.ndarray
    y_edges: np.ndarray
    counts: np.ndarray
    free_energy: np.ndarray
    kT_kcal_per_mol: float
    n_outside: int

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(x_min, x_max, y_min, y_max) of the grid."""
        return float(self.x_edges[0]), float(self.x_edges[-1]), float(self.y_edges[0]), float(self.y_edges[-1])

    def free_energy_at(self, x, y) -> np.ndarray:
        """G (kcal/mol) of the bins holding points (x, y); NaN outside the grid or in empty bins."""
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        i1 = np.searchsorted(self.x_edges, x, side="right") - 1
        i2 = np.searchsorted(self.y_edges, y, side="right") - 1
        n2, n1 = self.counts.shape
        inside = (i1 >= 0) & (i1 < n1) & (i2 >= 0) & (i2 < n2)
        out = np.full(np.broadcast(x, y).shape, np.nan)
        out[inside] = self.free_energy[i2[inside], i1[inside]]
        return out


def recovered_landscape(coords2d, kT_kcal_per_mol: float, bins=None, value_range=None) -> RecoveredLandscape:
    """Free energy of the 2D histogram of ``coords2d`` (M, 2).

    bins: None (automatic), an int for both axes, or (n1, n2). value_range: None (robust,
    see module docstring) or ((x_min, x_max), (y_min, y_max)).
    """
    xy = np.asarray(coords2d, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) == 0:
        raise ValueError(f"coords2d: must be (M, 2) with M > 0, got shape {xy.shape}")
    if not np.isfinite(xy).all():
        raise ValueError("coords2d: holds NaN or infinite values")
    if not (np.isfinite(kT_kcal_per_mol) and kT_kcal_per_mol > 0):
        raise ValueError(f"kT_kcal_per_mol: must be > 0 (got {kT_kcal_per_mol!r})")
    ranges = [_robust_range(xy[:, a]) for a in range(2)] if value_range is None else \
        [tuple(map(float, r)) for r in value_range]
    for a, (lo, hi) in enumerate(ranges):
        if not lo < hi:
            raise ValueError(f"value_range: axis {a} has min {lo} not below max {hi}")
    if bins is None:
        n_bins = [freedman_diaconis_bins(xy[:, a], *ranges[a]) for a in range(2)]
    elif np.ndim(bins) == 0:
        n_bins = [int(bins), int(bins)]
    else:
        n_bins = [int(b) for b in bins]
    if min(n_bins) < 1:
        raise ValueError(f"bins: must be >= 1 (got {bins!r})")
    idx = []
    inside = np.ones(len(xy), bool)
    for a in range(2):
        lo, hi = ranges[a]
        scaled = (xy[:, a] - lo) * (n_bins[a] / (hi - lo))
        i = np.floor(scaled).astype(np.int64)
        i[xy[:, a] == hi] = n_bins[a] - 1  # the top edge belongs to the last bin, as in numpy
        inside &= (i >= 0) & (i < n_bins[a])
        idx.append(i)
    n1, n2 = n_bins
    flat = idx[1][inside] * n1 + idx[0][inside]
    counts = np.bincount(flat, minlength=n1 * n2).reshape(n2, n1)
    edges = [np.linspace(lo, hi, n + 1) for (lo, hi), n in zip(ranges, n_bins)]
    return RecoveredLandscape(edges[0], edges[1], counts, free_energy_from_counts(counts, kT_kcal_per_mol),
                              float(kT_kcal_per_mol), int((~inside).sum()))


def free_energy_from_counts(counts: np.ndarray, kT_kcal_per_mol: float) -> np.ndarray:
    """-kT ln(p / p_max) per bin (kcal/mol), NaN where the count is 0."""
    c = np.asarray(counts, dtype=np.float64)
    g = np.full(c.shape, np.nan)
    filled = c > 0
    if filled.any():
        g[filled] = kT_kcal_per_mol * np.log(c.max() / c[filled])  # = -kT ln(p / p_max), without -0.0
    return g


def freedman_diaconis_bins(values: np.ndarray, lo: float, hi: float,
                           min_bins: int = MIN_BINS, max_bins: int = MAX_BINS) -> int:
    """Bins over [lo, hi] of width 2 IQR n^(-1/3), clipped to [min_bins, max_bins]."""
    q25, q75 = np.percentile(values, [25, 75])
    width = 2.0 * (q75 - q25) * len(values) ** (-1.0 / 3.0)
    if not width > 0:
        return min_bins
    return int(np.clip(np.ceil((hi - lo) / width), min_bins, max_bins))


def _robust_range(values: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(values, PERCENTILES)
    if not hi > lo:
        lo, hi = float(values.min()), float(values.max())
        if not hi > lo:
            return lo - 0.5, hi + 0.5
    pad = MARGIN * (hi - lo)
    return float(lo - pad), float(hi + pad)


@dataclass(frozen=True, eq=False)
class WellComparison:
    """Per-well occupancy and free energy, ground truth vs recovered (``wells`` order).

    Occupancies are fractions of the scored particles; delta-G in kcal/mol relative to the most
    occupied well (inf for a well nobody was assigned to). centre_G_kcal: recovered landscape
    at each well centre (NaN if that bin is empty or off the grid). spearman_rho: rank
    correlation of gt and recovered delta-G (NaN with fewer than 3 wells or no variation).
    """

    wells: np.ndarray
    gt_occupancy: np.ndarray
    recovered_occupancy: np.ndarray
    gt_dG_kcal: np.ndarray
    recovered_dG_kcal: np.ndarray
    centre_G_kcal: np.ndarray
    spearman_rho: float
    spearman_rho_centre: float

    @property
    def dG_error_kcal(self) -> np.ndarray:
        return self.recovered_dG_kcal - self.gt_dG_kcal


def compare_wells(scores, landscape: RecoveredLandscape | None, kT_kcal_per_mol: float) -> WellComparison:
    """Per-well comparison from a Scores (engine.scoring.metric) and, optionally, its recovered landscape
    built on the same two dimensions (for ``centre_G_kcal``)."""
    n = scores.n_scored
    gt_occ = scores.n_true / n
    rec_occ = scores.confusion.sum(axis=0) / n
    gt_dg = _delta_g(gt_occ, kT_kcal_per_mol)
    rec_dg = _delta_g(rec_occ, kT_kcal_per_mol)
    if landscape is not None and scores.centres.shape[1] >= 2:
        centre_g = landscape.free_energy_at(scores.centres[:, 0], scores.centres[:, 1])
    else:
        centre_g = np.full(len(scores.wells), np.nan)
    return WellComparison(scores.wells, gt_occ, rec_occ, gt_dg, rec_dg, centre_g,
                          _spearman(gt_dg, rec_dg), _spearman(gt_dg, centre_g))


def _delta_g(occupancy: np.ndarray, kT: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return kT * np.log(occupancy.max() / occupancy)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(np.where(np.isinf(b[ok]), 1e300, b[ok])) == 0:
        return float("nan")
    return float(spearmanr(a[ok], b[ok]).statistic)

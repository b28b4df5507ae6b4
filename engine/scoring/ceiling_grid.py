"""Coarse-to-fine posterior over conformations on a landscape's ground-truth grid.

The prior is the landscape's Boltzmann occupancy on its sampling grid (``Landscape.
sampling_grid()``, >= 512^2 cells), uniform inside each cell: exactly the density the
simulation draws conformations from (engine.landscape.sampling). Level l groups those cells
into ``coarse_cells * 2^l`` blocks per axis (a cell belongs to block ``floor(i n_l / n)``, so
blocks nest); per block it keeps the prior mass, the prior's centroid and the prior mass of
each ground-truth basin. A block's posterior mass integrates a quadratic model of the
log-likelihood inside it (through the neighbouring block centres) against the exact prior of
its sub-blocks.

Search, per particle (:meth:`ConformationGrid.posterior`):

1. level 0: every block with prior mass, likelihood of the lowest band (few frequencies);
2. prune: keep the fewest blocks holding 1 - ``tail_mass`` of this level's posterior (each
   block's mass integrated as in the result, below), plus their 8 neighbours where the step
   is over MARGIN_STEP_SD posterior sd (a margin for a peak the blocks do not resolve);
3. if the step resolves the full band's likelihood (below) or the finest level is reached,
   evaluate the kept blocks with the full band and stop; else split every kept block into 4
   and go to 2 with the most informative band short of the full one that the new step
   resolves (so at low SNR the full band comes at once, at high SNR only when the step is
   fine enough for it).

Why pruning loses (almost) no mass: a level's band is the exact likelihood of the
low-pass-filtered image (engine.scoring.ceiling_likelihood), so its posterior is the exact
posterior given that part of the data, and the pruned set S is a function of it. By the tower
property the full posterior's mass in S, averaged over images, equals the band posterior's
mass in S: at most ``tail_mass`` per level. Dropping S is a bounded, stated error, not a
heuristic one; the margin covers the in-block model's error at coarse steps.

Resolved: a step h is fine enough when (h / sd)^2 <= ``max_step_sd^2`` along each axis, sd
the likelihood peak's width: (h / sd)^2 = I h^2 with I the Fisher information (the caller's
``information(cc)``, per band, asked once at level 0's most probable block: it varies slowly
with c). For Gaussian noise ||m(c + h e_i) - m(c)||^2 / sigma^2 is the expected second
difference of the log-likelihood over one step. The stop asks it of the full band, so a low
band that sees little detail never ends the search early; the prior only narrows the peak
further, and is integrated exactly. At 3 sd a step, the quadratic in-block model integrates
the posterior to ~1 % of its mass (the tests compare with the full fine grid).

Example::

    cgrid = ConformationGrid(landscape.sampling_grid())
    post = cgrid.posterior(part.log_likelihood, part.fisher_information)
    post.mean_deg, post.basin_mass    # (2,) degrees, (n_wells,) sums to 1
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from engine.scoring.ceiling_kernel import sub_block_weights


#: Levels below a block's on which its likelihood is integrated: 2^3 = 8 x 8 sub-blocks for
#: the result, 2 x 2 while searching (enough to rank blocks for pruning).
SUB_LEVELS = 3
SEARCH_SUB_LEVELS = 1
#: Steps (in local posterior sd) above which pruning keeps the 8 neighbours too: a peak
#: narrower than that is not modelled by the quadratic through neighbouring block centres.
MARGIN_STEP_SD = 3.0
#: A level searches with the most informative band whose step is at most this many sd.
SEARCH_STEP_SD = 3.0


@dataclass(frozen=True, eq=False)
class GridLevel:
    """Blocks of one level: ``cells`` per axis, flat block index ``i2 * cells + i1``.

    prior: (cells^2,) prior mass; centroid: (cells^2, 2) prior-weighted mean (cc1, cc2) degrees
    (the block centre where the prior is 0); basin_fraction: (cells^2, n_wells) share of the
    block's prior mass in each basin (well w in column w - 1; 0 where the prior is 0);
    centre1 (cells,), centre2 (cells,): block centres in degrees; step_deg: (cc1, cc2) block
    size in degrees.
    """

    cells: int
    prior: np.ndarray
    centroid: np.ndarray
    basin_fraction: np.ndarray
    centre1: np.ndarray
    centre2: np.ndarray
    step_deg: tuple[float, float]


@dataclass(frozen=True, eq=False)
class GridPosterior:
    """One particle's posterior. mean_deg: (2,) posterior mean (cc1, cc2) degrees; basin_mass:
    (n_wells,) posterior probability of each ground-truth basin (sums to 1); level: the final
    level; n_evaluations: likelihood evaluations per band used (n_bands,)."""

    mean_deg: np.ndarray
    basin_mass: np.ndarray
    level: int
    n_evaluations: np.ndarray


class ConformationGrid:
    """Levels of blocks over an EnergyGrid (its occupancy is the prior, its basins the labels).

    coarse_cells: blocks per axis at level 0 (>= 2); fine_cells: at the finest level, a power of
    2 times coarse_cells, at most the grid's size (default: the largest such).
    """

    def __init__(self, grid, coarse_cells: int = 8, fine_cells: int | None = None):
        n2, n1 = grid.energy.shape
        n = min(n1, n2)
        if not 2 <= coarse_cells <= n:
            raise ValueError(f"coarse_cells: must be in [2, {n}] (got {coarse_cells})")
        if fine_cells is None:
            fine_cells = coarse_cells * 2 ** int(np.floor(np.log2(n / coarse_cells)))
        ratio = fine_cells / coarse_cells
        if fine_cells > n or ratio < 1 or ratio != 2 ** round(np.log2(ratio)):
            raise ValueError(f"fine_cells: must be coarse_cells ({coarse_cells}) times a power of 2, "
                             f"at most the grid's {n} (got {fine_cells})")
        self.grid = grid
        self._patterns: dict = {}
        self.n_wells = len(grid.landscape.wells)
        self.basin_prior = np.asarray(grid.basins.occupancy, dtype=np.float64)
        occ = grid.occupancy
        label = grid.basins.label.astype(np.int64) - 1
        lo1, hi1, lo2, hi2 = grid.extent_deg
        c1, c2 = np.meshgrid(grid.cc1, grid.cc2)
        self.levels = []
        cells = coarse_cells
        while cells <= fine_cells:
            b2 = (np.arange(n2) * cells) // n2
            b1 = (np.arange(n1) * cells) // n1
            block = (b2[:, None] * cells + b1[None, :]).ravel()
            nb = cells * cells
            prior = np.bincount(block, occ.ravel(), nb)
            step = ((hi1 - lo1) / cells, (hi2 - lo2) / cells)
            centre1 = lo1 + (np.arange(cells) + 0.5) * step[0]
            centre2 = lo2 + (np.arange(cells) + 0.5) * step[1]
            geometric = np.stack(np.broadcast_arrays(centre1[None, :], centre2[:, None]), -1).reshape(nb, 2)
            with np.errstate(invalid="ignore", divide="ignore"):
                centroid = np.stack([np.bincount(block, (occ * c).ravel(), nb) for c in (c1, c2)], 1) / prior[:, None]
            centroid = np.where(prior[:, None] > 0, centroid, geometric)
            basin = np.bincount(block * self.n_wells + label.ravel(), occ.ravel(),
                                nb * self.n_wells).reshape(nb, self.n_wells)
            with np.errstate(invalid="ignore", divide="ignore"):
                fraction = np.where(prior[:, None] > 0, basin / prior[:, None], 0.0)
            self.levels.append(GridLevel(cells, prior, centroid, fraction, centre1, centre2, step))
            cells *= 2

    def nodes(self, level: int, blocks: np.ndarray) -> np.ndarray:
        """(B, 2) block centres (cc1, cc2) degrees of flat ``blocks`` at ``level``."""
        lv = self.levels[level]
        i2, i1 = np.divmod(blocks, lv.cells)
        return np.stack([lv.centre1[i1], lv.centre2[i2]], axis=1)

    def posterior(self, loglik, information, tail_mass: float = 1e-3,
                  max_step_sd: float = 3.0) -> GridPosterior:
        """The coarse-to-fine posterior of one particle (module docstring).

        loglik(cc_deg (B, 2), band) -> (B,) log-likelihood in nats (any constant per band),
        bands 0..n_bands-1 of increasing frequency, the last one every frequency (the result's);
        information(cc_deg (2,)) -> (n_bands, 2, 2) Fisher information matrix of each band (per
        degree^2; the diagonal is 1 / sd^2 along cc1 and cc2), asked once, at level 0's most
        probable block.
        """
        if not 0 < tail_mass < 1:
            raise ValueError(f"tail_mass: must be in (0, 1) (got {tail_mass})")
        if not max_step_sd > 0:
            raise ValueError(f"max_step_sd: must be > 0 (got {max_step_sd})")
        level, band = 0, 0
        blocks = np.flatnonzero(self.levels[0].prior > 0)
        info = None
        last = len(self.levels) - 1
        n_eval = []
        while True:
            ll = np.asarray(loglik(self.nodes(level, blocks), band), dtype=np.float64)
            lv = self.levels[level]
            mass = self._sub_weights(level, blocks, ll, SEARCH_SUB_LEVELS)[1].sum(1)
            if info is None:  # once, at level 0's mode: the information varies slowly with c
                info = np.diagonal(information(self.nodes(level, blocks[[np.argmax(mass)]])[0]), axis1=1, axis2=2)
                full = len(info) - 1
                n_eval = np.zeros(full + 1, np.int64)
            n_eval[band] += len(blocks)
            step_sd2 = (info * np.square(lv.step_deg)).max(1)  # (step / sd)^2 per band
            done = step_sd2[full] <= max_step_sd ** 2 or level == last
            if band == full and done:
                break
            keep = self._prune(lv.cells, blocks, mass, tail_mass, margin=step_sd2[band] > MARGIN_STEP_SD ** 2)
            if done:  # the step resolves every frequency: the result's pass, on these blocks
                blocks, band = keep, full
                continue
            i2, i1 = np.divmod(keep, lv.cells)
            cells = 2 * lv.cells
            blocks = np.sort(((2 * i2[:, None] + np.array([0, 0, 1, 1]))
                              * cells + 2 * i1[:, None] + np.array([0, 1, 0, 1])).ravel())
            level += 1
            blocks = blocks[self.levels[level].prior[blocks] > 0]
            # the most informative band short of the full one that the new step resolves
            ok = np.flatnonzero(step_sd2[:full] / 4 <= SEARCH_STEP_SD ** 2)
            band = max(band, int(ok[-1]) if len(ok) else 0)
        sub_level, *_ = self._sub_pattern(level, SUB_LEVELS)
        sub = self.levels[sub_level]
        subs, weight = self._sub_weights(level, blocks, ll)
        w = (weight / weight.sum()).ravel()
        subs = subs.ravel()
        return GridPosterior(w @ sub.centroid[subs], w @ sub.basin_fraction[subs], level, n_eval)

    def _sub_pattern(self, level: int, sub_levels: int):
        """For the blocks of ``level`` and their sub-blocks ``sub_levels`` finer: (sub level,
        r, sub-block offsets (r^2,) in steps along cc2 and cc1, sub-block index offsets (r^2,)
        along cc2 and cc1), cached."""
        key = (level, sub_levels)
        if key not in self._patterns:
            sub = min(level + sub_levels, len(self.levels) - 1)
            r = self.levels[sub].cells // self.levels[level].cells
            off = (np.arange(r) + 0.5) / r - 0.5  # sub-block centres, in steps from the block centre
            d2, d1 = (a.ravel() for a in np.meshgrid(off, off, indexing="ij"))
            a2, a1 = (a.ravel() for a in np.meshgrid(np.arange(r), np.arange(r), indexing="ij"))
            self._patterns[key] = (sub, r, d2, d1, a2, a1)
        return self._patterns[key]

    def _sub_weights(self, level: int, blocks: np.ndarray, ll: np.ndarray, sub_levels: int = SUB_LEVELS):
        """The posterior mass, up to one factor, of the sub-blocks of ``blocks`` given the
        log-likelihood ``ll`` at their centres: within each block the log-likelihood is the
        quadratic of its finite differences to the neighbouring blocks (gradient and curvature,
        one-sided or none at the edge of the set), integrated against the prior of SUB_LEVELS
        finer levels (up to 8 x 8 sub-blocks, each with its exact prior mass, centroid and basin
        shares). Returns (sub-block indices, masses), both (B, r^2). A block-constant likelihood
        would be off by up to 15 % in a block at the peak of a posterior 2 steps wide, and put
        all of a block's mass on its side of a basin border. (Compiled:
        engine.scoring.ceiling_kernel.sub_block_weights.)"""
        lv = self.levels[level]
        sub_level, r, d2, d1, a2, a1 = self._sub_pattern(level, sub_levels)
        sub = self.levels[sub_level]
        subs = np.empty((len(blocks), r * r), np.int64)
        weight = np.empty((len(blocks), r * r))
        sub_block_weights(np.asarray(blocks, np.int64), np.asarray(ll, np.float64), lv.cells, *lv.step_deg, r,
                          d2, d1, a2, a1, sub.cells, sub.prior, subs, weight)
        return subs, weight

    @staticmethod
    def _prune(cells: int, blocks: np.ndarray, mass: np.ndarray, tail_mass: float, margin: bool) -> np.ndarray:
        """Fewest blocks holding 1 - tail_mass of ``mass``, with ``margin`` plus their 8
        neighbours among ``blocks``."""
        order = np.argsort(mass)[::-1]
        cum = np.cumsum(mass[order])
        n_keep = int(np.searchsorted(cum, (1.0 - tail_mass) * cum[-1])) + 1
        if not margin:
            return np.sort(blocks[order[:n_keep]])
        i2, i1 = np.divmod(blocks, cells)
        lo2, lo1 = i2.min(), i1.min()
        box = np.zeros((i2.max() - lo2 + 1, i1.max() - lo1 + 1), bool)
        top = order[:n_keep]
        box[i2[top] - lo2, i1[top] - lo1] = True
        box = ndimage.binary_dilation(box, np.ones((3, 3), bool))
        return blocks[box[i2 - lo2, i1 - lo1]]

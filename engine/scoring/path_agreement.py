"""Paths on a method's recovered landscape against the truth: the paper's goal (c), measured.

For each pair of *neighbouring* wells (their basins share a border on the designed grid:
the pairs engine.landscape.basins gives a saddle for; merged wells have no basin and are left
out), the minimum-energy path (engine.landscape.paths) is found twice with the same tools:

- recovered: on the method's recovered landscape (engine.scoring.recovered_landscape, the G
  histogram of its two scored output coordinates) from the method's centre of one well to its
  centre of the other (Scores.centres: mean output coordinate of the particles labelled n);
  each point of the path belongs to the well of the nearest centre (the metric's own rule);
- reference: the same on the histogram of the *true* (cc1, cc2) of the same particles, from
  the true centres (mean true coordinates per well), so that both sides see the same number
  of particles and the same estimator: a method returning the true coordinates agrees
  perfectly, and sampling noise is not charged to the method.

Empty bins have no G; they are given the highest observed G plus ``EMPTY_BIN_MARGIN_KT``
x kT (ln 2: as if they held half a particle, below the one particle that gives the highest
observed G). Finite, so that a path can still cross a gap when nothing else joins two wells
(a method that tears its landscape apart then gets a high barrier, not a failure); higher
than every observed bin, so that a path never cuts through empty space while populated bins
connect the wells.

Per pair: the visit sequences (engine.landscape.path_profile) and the barrier of each path
(its highest point above the higher of its two end wells, kcal/mol). Two routes whose
barriers differ by a fraction of kT carry comparable flux, and which of them is lowest flips
with sampling noise; so a recovered route that differs from the reference's is still the
*same route* when the truth offers it too: the reference path along the recovered route (from
each well of the recovered sequence to the next, kept to those two wells' bins, the bins
nearest their true centres, all others made impassable) visits the wells in the recovered
order and climbs at most ``ROUTE_TOLERANCE_KT`` x kT higher than the reference path. The
barrier error is recovered - reference on that route when it is the same route (the
reference path itself when the sequences are equal), else recovered - the reference path's
barrier (the truth's lowest barrier between the two wells). The path-agreement score is

    score = mean over neighbouring pairs of  [same route] x exp(-|barrier error| / kT)

The first factor asks whether the method connects the two states through intermediates the
truth connects them through, in the same order; the second whether it puts the same barrier
on that route: a crossing rate goes as exp(-barrier / kT) (Arrhenius, Kramers), so
exp(-|error| / kT) is the ratio of the slower to the faster predicted rate (1: same rate;
1/e: an error of one kT). ROUTE_TOLERANCE_KT = 0.5: within it the slower route still carries
over 60 % of the faster one's rate. The score is 1 only when every neighbouring transition has the true route and the true rate,
near 0 when the landscape holds no route or barrier of the truth. Each pair counts once,
however populated its wells, like the paper's balanced accuracy counts each well once: the
paths a method gets wrong are as often between rare states as between common ones. The
designed saddle (engine.landscape.basins, kcal/mol) is reported beside each pair.

Example::

    agreement = path_agreement_of(dataset, scores, recovered)   # None without a designed landscape
    agreement.score, agreement.sequence_agreement, agreement.mean_abs_barrier_error_kcal_per_mol
    agreement.summary_line(), agreement.as_dict(), agreement.csv_rows()
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.landscape.path_profile import PathProfile, path_profile
from engine.landscape.paths import minimum_energy_path
from engine.scoring.recovered_landscape import RecoveredLandscape, recovered_landscape

EMPTY_BIN_MARGIN_KT = math.log(2.0)
ROUTE_TOLERANCE_KT = 0.5
# bins off a route are raised this far above the highest G (kcal/mol): impassable, yet finite
# as the path search needs
_OFF_ROUTE_KCAL_PER_MOL = 1.0e3


def filled_free_energy(landscape: RecoveredLandscape) -> np.ndarray:
    """G (n2, n1) kcal/mol with empty bins set to the highest observed G + EMPTY_BIN_MARGIN_KT kT."""
    g = landscape.free_energy
    ceiling = float(np.nanmax(g)) + EMPTY_BIN_MARGIN_KT * landscape.kT_kcal_per_mol
    return np.where(np.isnan(g), ceiling, g)


def landscape_path(landscape: RecoveredLandscape, centres, wells, well_a: int, well_b: int,
                   route=None) -> PathProfile:
    """Profile of the minimum-energy path on ``landscape`` from the centre of ``well_a`` to that
    of ``well_b``; ``centres`` (W, 2) in the landscape's coordinates, ``wells`` (W,) their
    1-based numbers. Points belong to the well of the nearest centre (squared Euclidean).
    ``route``: None, or the wells the path is kept to (bins nearest another centre impassable)."""
    centres = np.asarray(centres, dtype=np.float64)[:, :2]
    wells = np.asarray(wells)
    at = {int(w): k for k, w in enumerate(wells)}
    g = filled_free_energy(landscape)
    mid = [0.5 * (e[:-1] + e[1:]) for e in (landscape.x_edges, landscape.y_edges)]
    if route is not None:
        x, y = np.meshgrid(*mid)
        off = ~np.isin(_nearest(np.column_stack([x.ravel(), y.ravel()]), centres, wells), list(route))
        g = np.where(off.reshape(g.shape), g.max() + _OFF_ROUTE_KCAL_PER_MOL, g)
    points = minimum_energy_path(g, mid[0], mid[1], centres[at[well_a]], centres[at[well_b]])
    return path_profile(points, _g_at(landscape, g, points), _nearest(points, centres, wells),
                        landscape.kT_kcal_per_mol)


def _nearest(points: np.ndarray, centres: np.ndarray, wells: np.ndarray) -> np.ndarray:
    return wells[np.argmin(((points[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)]


def _g_at(landscape: RecoveredLandscape, g: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Filled G of the bins holding ``points`` (the path's ends may lie off the grid: nearest bin)."""
    n2, n1 = g.shape
    i1 = np.clip(np.searchsorted(landscape.x_edges, points[:, 0], side="right") - 1, 0, n1 - 1)
    i2 = np.clip(np.searchsorted(landscape.y_edges, points[:, 1], side="right") - 1, 0, n2 - 1)
    return g[i2, i1]


def neighbouring_pairs(grid) -> dict[tuple[int, int], float]:
    """{(i, j): designed saddle in kcal/mol} for wells i < j whose basins share a border on
    ``grid`` (an EnergyGrid), merged wells left out."""
    merged = grid.basins.merged_into
    return {pair: s for pair, s in grid.basins.barrier_kcal_per_mol.items()
            if merged[pair[0] - 1] is None and merged[pair[1] - 1] is None}


@dataclass(frozen=True, eq=False)
class PairPath:
    """One neighbouring pair: reference and recovered paths, the reference path along the
    recovered route (``on_route``; the reference itself when the sequences are equal), and the
    designed saddle (kcal/mol)."""

    wells: tuple[int, int]
    designed_saddle_kcal_per_mol: float
    reference: PathProfile
    recovered: PathProfile
    on_route: PathProfile

    @property
    def same_sequence(self) -> bool:
        return self.reference.visits == self.recovered.visits

    @property
    def same_route(self) -> bool:
        """The recovered route is the reference's, or one the truth offers within the tolerance."""
        slack = ROUTE_TOLERANCE_KT * self.reference.kT_kcal_per_mol
        return (self.on_route.visits == self.recovered.visits
                and self.on_route.barrier_kcal_per_mol <= self.reference.barrier_kcal_per_mol + slack)

    @property
    def true_barrier_on_route_kcal_per_mol(self) -> float:
        """The reference's barrier along the recovered route; NaN where the truth has no such
        route (the route leaves the recovered wells' bins or visits them in another order)."""
        return self.on_route.barrier_kcal_per_mol if self.on_route.visits == self.recovered.visits else math.nan

    @property
    def barrier_error_kcal_per_mol(self) -> float:
        """Recovered - true barrier: on the same route when it is one, else the truth's lowest."""
        truth = self.on_route if self.same_route else self.reference
        return self.recovered.barrier_kcal_per_mol - truth.barrier_kcal_per_mol

    @property
    def weight(self) -> float:
        """This pair's share of the score: [same route] x exp(-|barrier error| / kT)."""
        if not self.same_route:
            return 0.0
        return math.exp(-abs(self.barrier_error_kcal_per_mol) / self.reference.kT_kcal_per_mol)


@dataclass(frozen=True, eq=False)
class PathAgreement:
    """Paths of all neighbouring pairs of one method, and the path-agreement score (0..1)."""

    pairs: tuple[PairPath, ...]
    kT_kcal_per_mol: float

    @property
    def score(self) -> float:
        return float(np.mean([p.weight for p in self.pairs])) if self.pairs else float("nan")

    @property
    def sequence_agreement(self) -> float:
        """Fraction of pairs whose recovered path takes the same route (PairPath.same_route)."""
        return float(np.mean([p.same_route for p in self.pairs])) if self.pairs else float("nan")

    @property
    def mean_abs_barrier_error_kcal_per_mol(self) -> float:
        errors = [abs(p.barrier_error_kcal_per_mol) for p in self.pairs]
        return float(np.mean(errors)) if errors else float("nan")

    def summary_line(self) -> str:
        return (f"path agreement {self.score:.3f}  (same route {100 * self.sequence_agreement:.0f} % of "
                f"{len(self.pairs)} neighbouring pairs, mean |barrier error| "
                f"{self.mean_abs_barrier_error_kcal_per_mol:.2f} kcal/mol)")

    def as_dict(self) -> dict:
        """Plain values for scores.json / --json (kcal/mol; sequences as lists of wells)."""
        return {"score": self.score, "sequence_agreement": self.sequence_agreement,
                "mean_abs_barrier_error_kcal_per_mol": self.mean_abs_barrier_error_kcal_per_mol,
                "empty_bin_margin_kT": EMPTY_BIN_MARGIN_KT,
                "pairs": [{"wells": list(p.wells), "designed_saddle_kcal_per_mol": p.designed_saddle_kcal_per_mol,
                           "true_barrier_kcal_per_mol": p.reference.barrier_kcal_per_mol,
                           "true_barrier_on_recovered_route_kcal_per_mol": p.true_barrier_on_route_kcal_per_mol,
                           "recovered_barrier_kcal_per_mol": p.recovered.barrier_kcal_per_mol,
                           "barrier_error_kcal_per_mol": p.barrier_error_kcal_per_mol,
                           "true_visits": list(p.reference.visits), "recovered_visits": list(p.recovered.visits),
                           "same_sequence": p.same_sequence, "same_route": p.same_route, "weight": p.weight}
                          for p in self.pairs]}

    def csv_rows(self) -> list[list]:
        """Header and one row per pair (paths_<method>.csv); visits as wells joined by '-'."""
        rows = [["well_a", "well_b", "designed_saddle_kcal_per_mol", "true_barrier_kcal_per_mol",
                 "true_barrier_on_recovered_route_kcal_per_mol", "recovered_barrier_kcal_per_mol",
                 "barrier_error_kcal_per_mol", "true_visits", "recovered_visits", "same_route", "weight"]]
        for p in self.pairs:
            rows.append([*p.wells, *(f"{v:.6g}" for v in (p.designed_saddle_kcal_per_mol,
                                                          p.reference.barrier_kcal_per_mol,
                                                          p.true_barrier_on_route_kcal_per_mol,
                                                          p.recovered.barrier_kcal_per_mol,
                                                          p.barrier_error_kcal_per_mol)),
                         "-".join(map(str, p.reference.visits)), "-".join(map(str, p.recovered.visits)),
                         p.same_route, f"{p.weight:.6g}"])
        return rows


def path_agreement(reference: RecoveredLandscape, reference_centres, recovered: RecoveredLandscape,
                   recovered_centres, wells, pairs: dict) -> PathAgreement:
    """Compare the paths of ``pairs`` ({(i, j): designed saddle kcal/mol}) on the ``reference``
    and ``recovered`` landscapes, from their centres (W, >= 2) of ``wells`` (W,). Pairs with a
    well outside ``wells`` (no scored particle) are left out."""
    present = {int(w) for w in wells}
    result = []
    for pair, saddle in sorted(pairs.items()):
        if not set(pair) <= present:
            continue
        ref = landscape_path(reference, reference_centres, wells, *pair)
        rec = landscape_path(recovered, recovered_centres, wells, *pair)
        on_route = ref if ref.visits == rec.visits else \
            _along_route(reference, reference_centres, wells, rec.visits)
        result.append(PairPath(pair, float(saddle), ref, rec, on_route))
    return PathAgreement(tuple(result), float(reference.kT_kcal_per_mol))


def _along_route(landscape: RecoveredLandscape, centres, wells, visits) -> PathProfile:
    """The path on ``landscape`` through ``visits`` in order, each leg kept to its two wells."""
    legs = [landscape_path(landscape, centres, wells, a, b, route=(a, b)) for a, b in zip(visits[:-1], visits[1:])]
    def joined(field: str) -> np.ndarray:
        return np.concatenate([getattr(leg, field)[k > 0:] for k, leg in enumerate(legs)])
    return path_profile(joined("points_deg"), joined("free_energy_kcal_per_mol"), joined("well"),
                        landscape.kT_kcal_per_mol)


@dataclass(frozen=True)
class TruthReference:
    """What a method's paths are compared with: the scored particles' true (cc1, cc2) ``truth``
    (M, 2) degrees, the centres of their true wells ``centres`` (W, 2), one per scored well in
    ``Scores.wells`` order, and the landscape recovered from the truth itself ``landscape``
    (the same estimator as the method's, so both carry the same sampling noise)."""

    truth: np.ndarray
    centres: np.ndarray
    landscape: RecoveredLandscape


def truth_reference(dataset, scores) -> TruthReference | None:
    """The TruthReference of the particles ``scores`` counted on ``dataset``; None when its
    ground truth lacks true coordinates for some of them."""
    gt = dataset.ground_truth
    truth = np.column_stack([gt.cc1_deg, gt.cc2_deg])[scores.particle_index]
    if not np.all(np.isfinite(truth)):
        return None
    labels = np.asarray(gt.well)[scores.particle_index]
    centres = np.array([truth[labels == w].mean(axis=0) for w in scores.wells])
    return TruthReference(truth, centres, recovered_landscape(truth, gt.kT_kcal_per_mol))


def path_agreement_of(dataset, scores, recovered: RecoveredLandscape | None) -> PathAgreement | None:
    """Path agreement of a method scored as ``scores`` (engine.scoring.metric.Scores) with its
    recovered landscape ``recovered`` on ``dataset`` (engine.formats.dataset.Dataset); None when
    the dataset has no designed landscape, no true coordinates, or there is no 2-D landscape."""
    if recovered is None or dataset.landscape is None or scores.centres.shape[1] < 2:
        return None
    ref = truth_reference(dataset, scores)
    if ref is None:
        return None
    return path_agreement(ref.landscape, ref.centres, recovered, scores.centres[:, :2], scores.wells,
                          neighbouring_pairs(dataset.landscape.grid()))


__all__ = ["EMPTY_BIN_MARGIN_KT", "ROUTE_TOLERANCE_KT", "PairPath", "PathAgreement", "filled_free_energy", "landscape_path",
           "TruthReference", "neighbouring_pairs", "path_agreement", "path_agreement_of", "truth_reference"]

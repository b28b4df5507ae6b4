"""A method's minimum-energy path between two wells, against the truth's (no Qt: a job function).

The lineage view draws, over the current method's panel, the path engine.scoring.path_agreement
finds on the method's recovered landscape from its centre of one well to its centre of the
other, and over the ground-truth panel the reference path (the same estimator on the true
(cc1, cc2) of the same particles). :func:`method_path_job` computes both for one pair of wells
(in the order asked) with the same reference and rules as the path-agreement score, and that
score over all neighbouring pairs, so the numbers shown are those of the report.

To play the method's path in the 3D view it is turned into conformations: each point of the
path reads the mean true (cc1, cc2) of the scored particles in its bin of the recovered
landscape (the states the method puts there); a point in an empty bin (a gap the path crosses)
is interpolated along the path from its neighbours. A method that keeps the truth's states in
order gives a motion along the true path; one that mixes states jumps between them.

Example::

    result = method_path_job(dataset, entry.output, entry.scores, entry.landscape, (6, 7), "cryoDRGN")
    result.pair.recovered.points_deg      # (N, 2) in the method's display coordinates
    result.pair.reference.points_deg      # (M, 2) true (cc1, cc2) degrees
    result.true_points_deg                # (N, 2) degrees, for MotionPlayer.play_path
    result.summary_text(), result.score
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.scoring.path_agreement import PairPath, neighbouring_pairs, path_agreement, truth_reference
from engine.scoring.recovered_landscape import RecoveredLandscape


@dataclass(frozen=True, eq=False)
class MethodPath:
    """One method's path between ``wells`` (1-based, in the order asked) and its comparison.

    pair: engine.scoring.path_agreement.PairPath (reference, recovered, on_route; barrier error
    and weight). score: the method's path-agreement score over its ``n_pairs`` neighbouring
    pairs (NaN without a designed landscape). true_points_deg: (N, 2) (cc1, cc2) degrees along
    the recovered path (module docstring).
    """

    label: str
    wells: tuple[int, int]
    pair: PairPath
    score: float
    n_pairs: int
    true_points_deg: np.ndarray

    def summary_text(self) -> str:
        """Two lines: wells visited by the method and the truth, then the barriers, their error
        (kcal/mol) and the agreement of this pair and of the method."""
        p = self.pair
        visits = lambda v: " → ".join(map(str, v))  # noqa: E731
        route = "same route" if p.same_route else "another route"
        truth_barrier = p.on_route.barrier_kcal_per_mol if p.same_route else p.reference.barrier_kcal_per_mol
        text = (f"Path {self.wells[0]} → {self.wells[1]}: method visits {visits(p.recovered.visits)}, "
                f"truth {visits(p.reference.visits)} ({route}). "
                f"Barrier {p.recovered.barrier_kcal_per_mol:.2f} kcal/mol, truth {truth_barrier:.2f} "
                f"(error {p.barrier_error_kcal_per_mol:+.2f} kcal/mol).\n"
                f"Path agreement of this pair {p.weight:.2f}")
        if math.isfinite(self.score):
            text += f"; of the method {self.score:.3f} over {self.n_pairs} neighbouring pairs"
        return text + "."


def method_path_job(dataset, output, scores, landscape: RecoveredLandscape, wells, label: str = "", *,
                    progress=None, should_stop=None, log=None) -> MethodPath:
    """The path of ``output`` (MethodOutput) scored as ``scores`` (engine.scoring.metric.Scores,
    on the same settings as ``landscape``, its recovered landscape) from well ``wells[0]`` to
    ``wells[1]`` on ``dataset`` (engine.formats.dataset.Dataset, the ground truth as scored),
    with the truth's; a job function. ``wells`` None: the first neighbouring pair (wells whose
    designed basins touch) with scored particles, else the first two wells scored. ValueError
    names what is missing."""
    present = [int(w) for w in scores.wells]
    if landscape is None or scores.centres.shape[1] < 2:
        raise ValueError(f"{label or 'method'}: a path needs two scored dimensions")
    grid = dataset.landscape.grid() if dataset.landscape is not None else None
    pairs = neighbouring_pairs(grid) if grid is not None else {}
    if wells is None:
        candidates = [pair for pair in sorted(pairs) if set(pair) <= set(present)]
        wells = candidates[0] if candidates else tuple(present[:2])
    if len(wells) != 2:
        raise ValueError(f"{label or 'method'}: a path needs two scored wells (scored: {present})")
    a, b = (int(w) for w in wells)
    if a == b or a not in present or b not in present:
        raise ValueError(f"wells {a} and {b}: need two different wells with scored particles "
                         f"(scored: {', '.join(map(str, present))})")
    ref = truth_reference(dataset, scores)   # what engine.scoring.path_agreement_of compares with
    if ref is None:
        raise ValueError("the dataset's ground truth lacks true (cc1, cc2) for some scored particles")
    reference, true_centres, truth = ref.landscape, ref.centres, ref.truth
    centres = scores.centres[:, :2]
    saddle = pairs.get((min(a, b), max(a, b)), math.nan)
    pair = path_agreement(reference, true_centres, landscape, centres, present, {(a, b): saddle}).pairs[0]
    if should_stop is not None and should_stop():
        return None
    score, n_pairs = math.nan, 0
    if pairs:
        overall = path_agreement(reference, true_centres, landscape, centres, present, pairs)
        score, n_pairs = overall.score, len(overall.pairs)
    coords = output.coords[_rows_of(output, scores.particle_index)][:, list(scores.dims[:2])]
    along = true_points_along(landscape, coords, truth, pair.recovered.points_deg)
    return MethodPath(label, (a, b), pair, float(score), n_pairs, along)


def true_points_along(landscape: RecoveredLandscape, coords, truth, points) -> np.ndarray:
    """(N, 2) mean ``truth`` (M, 2) of the particles whose ``coords`` (M, 2) fall in the bin of
    each of ``points`` (N, 2) on ``landscape``; empty bins interpolated along the path by arc
    length (the nearest filled point beyond the ends). NaN rows only when no bin is filled."""
    n2, n1 = landscape.counts.shape

    def bins(xy):
        xy = np.asarray(xy, dtype=np.float64)
        i1 = np.clip(np.searchsorted(landscape.x_edges, xy[:, 0], side="right") - 1, 0, n1 - 1)
        i2 = np.clip(np.searchsorted(landscape.y_edges, xy[:, 1], side="right") - 1, 0, n2 - 1)
        return i2 * n1 + i1

    flat = bins(coords)
    count = np.bincount(flat, minlength=n1 * n2)
    sums = [np.bincount(flat, weights=truth[:, d], minlength=n1 * n2) for d in range(2)]
    at = bins(points)
    filled = count[at] > 0
    out = np.full((len(at), 2), np.nan)
    if not filled.any():
        return out
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(np.asarray(points, float), axis=0).T))])
    for d in range(2):
        mean = sums[d][at[filled]] / count[at[filled]]
        out[:, d] = np.interp(arc, arc[filled], mean)
    return out


def _rows_of(output, particle_index: np.ndarray) -> np.ndarray:
    """Rows of ``output`` holding the dataset particles ``particle_index`` (each once)."""
    row_of = np.full(output.n_particles, -1, dtype=np.int64)
    row_of[output.particle_index] = np.arange(output.n_rows)
    return row_of[particle_index]


__all__ = ["MethodPath", "method_path_job", "true_points_along"]

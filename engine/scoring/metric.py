"""The paper's metric: per-well recall and balanced accuracy of a method's output.

Exactly as in the benchmarking study (DESIGN.md section 6):

1. take D output coordinates (default the first two, ``dims=(0, 1)``; ``dims=None``: all);
2. centre of well n = mean output coordinate of the scored particles whose ground-truth
   label is n;
3. assign every scored particle to the nearest centre (squared Euclidean distance; a tie goes
   to the lower-numbered well);
4. Recall(n) = TP(n) / P(n); Accuracy = mean recall over the wells present (balanced accuracy);
   the spread is the population standard deviation of the recalls (ddof = 0).

"Scored particles" are the particles the output kept, optionally only the core (non-transition)
ones, optionally only those of a chosen subset of wells (then centres and assignments use only
those wells). Wells with no scored particle are left out, as the paper's mean runs over wells
with particles -- but never silently: ``Scores.missing_wells`` lists them and ``Scores.notes``
says why (the dataset has none, the output dropped them all, or core-only removed them) and
that the accuracy then covers fewer wells than asked for, which can flatter a method.

Example::

    s = score(dataset.ground_truth, output, dims=(0, 1))
    s.accuracy, s.recall_std, s.recall_by_well(), s.confusion
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CHUNK_ROWS = 1 << 15


class ScoringError(ValueError):
    """Scoring that cannot be done; the message names the output file and the problem."""


@dataclass(frozen=True, eq=False)
class Scores:
    """Scores of one output on one choice of dimensions.

    wells: (W,) 1-based numbers of the wells scored (those with at least one scored particle).
    recall: (W,) TP/P per well, fractions 0..1. n_true: (W,) P, particles per ground-truth well.
    confusion: (W, W) int64 counts, row = ground-truth well, column = assigned well (``wells`` order).
    centres: (W, D) well centres in output coordinates.
    assigned: (n_scored,) int16 well number each scored particle was assigned to.
    particle_index: (n_scored,) dataset index of each scored particle.
    missing_wells: 1-based wells asked for (all wells, or the ``wells`` selection) that have no
    scored particle, so are not in ``wells`` nor in the accuracy; ``notes`` explains each.
    """

    label: str
    dims: tuple[int, ...]
    wells: np.ndarray
    recall: np.ndarray
    n_true: np.ndarray
    confusion: np.ndarray
    centres: np.ndarray
    assigned: np.ndarray
    particle_index: np.ndarray
    core_only: bool = False
    n_dropped: int = 0
    notes: tuple[str, ...] = ()
    missing_wells: tuple[int, ...] = ()

    @property
    def accuracy(self) -> float:
        """Mean recall over the wells scored (the paper's Accuracy), fraction 0..1."""
        return float(np.mean(self.recall))

    @property
    def recall_std(self) -> float:
        """Population standard deviation of the per-well recalls, fraction 0..1."""
        return float(np.std(self.recall))

    @property
    def n_scored(self) -> int:
        return int(self.n_true.sum())

    def recall_by_well(self) -> dict[int, float]:
        return {int(w): float(r) for w, r in zip(self.wells, self.recall)}


def score(gt, output, dims=(0, 1), core_only: bool = False, wells=None) -> Scores:
    """Score a MethodOutput against the ground truth (GroundTruth, or a Dataset holding one).

    dims: output dimensions to use (0-based), or None for all. core_only: leave out transition
    particles (GroundTruth.core False). wells: 1-based well numbers to score, or None for all.
    """
    gt = getattr(gt, "ground_truth", gt)
    source = output.sources[0] if output.sources else output.label
    if output.n_particles != len(gt):
        raise ScoringError(f"{source}: was matched to a dataset of {output.n_particles} particles, "
                           f"but the ground truth has {len(gt)}")
    dims = check_dims(source, output.n_dims, dims)
    labels = np.asarray(gt.well)[output.particle_index]
    keep = np.ones(len(labels), bool)
    notes = list(output.notes)
    if core_only:
        keep &= np.asarray(gt.core)[output.particle_index]
        notes.append(f"core particles only: {int((~keep).sum())} transition particles left out")
    if wells is not None:
        wells = _check_wells(source, wells, gt.n_wells)
        keep &= np.isin(labels, wells)
    coords = output.coords[:, list(dims)]
    if not keep.all():
        coords, labels = coords[keep], labels[keep]
    index = output.particle_index[keep]
    if len(labels) == 0:
        raise ScoringError(f"{source}: no particle left to score (core-only or well selection removed all)")
    result = score_labels(coords, labels, wells=wells, n_wells=gt.n_wells)
    asked = wells if wells is not None else np.arange(1, gt.n_wells + 1)
    missing = np.setdiff1d(asked, result["wells"])
    if len(missing):
        notes.append(_missing_wells_note(missing, len(asked), gt, output, core_only))
    return Scores(label=output.label, dims=dims, particle_index=index, core_only=core_only,
                  n_dropped=output.n_dropped, notes=tuple(notes),
                  missing_wells=tuple(int(w) for w in missing), **result)


def _missing_wells_note(missing: np.ndarray, n_asked: int, gt, output, core_only: bool) -> str:
    """Why each well in ``missing`` has no scored particle, and what that does to the mean."""
    in_dataset = np.bincount(np.asarray(gt.well, dtype=np.int64), minlength=int(missing.max()) + 1)
    kept = np.bincount(np.asarray(gt.well, dtype=np.int64)[output.particle_index],
                       minlength=int(missing.max()) + 1)
    reasons = []
    for w in missing.tolist():
        if in_dataset[w] == 0:
            reasons.append(f"{w}: the dataset has no particle in it")
        elif kept[w] == 0:
            reasons.append(f"{w}: the output dropped all {in_dataset[w]} of its particles")
        else:
            reasons.append(f"{w}: {'core-only left none of its particles' if core_only else 'none scored'}")
    n_used = n_asked - len(missing)
    return (f"wells {missing.tolist()} have no scored particle and are left out of the mean "
            f"({'; '.join(reasons)}): accuracy and std of recall cover only {n_used} of {n_asked} "
            f"wells, which can flatter a method that lost a well")


def score_labels(coords: np.ndarray, labels: np.ndarray, wells=None, n_wells: int | None = None) -> dict:
    """The metric on arrays: coords (M, D), labels (M,) 1-based ground-truth wells.

    Returns a dict with wells, recall, n_true, confusion, centres, assigned (see Scores).
    """
    coords = np.ascontiguousarray(coords, dtype=np.float64)
    if coords.ndim == 1:
        coords = coords[:, None]
    labels = np.asarray(labels, dtype=np.int64)
    n_wells = int(labels.max()) if n_wells is None else int(n_wells)
    counts_all = np.bincount(labels, minlength=n_wells + 1)
    present = np.flatnonzero(counts_all)
    present = present[present >= 1]
    if wells is not None:
        present = np.intersect1d(present, np.asarray(wells, dtype=np.int64))
    # position of each well number in `present` (labels outside give -1; callers filter them)
    lookup = np.full(max(n_wells, int(labels.max())) + 1, -1, dtype=np.int64)
    lookup[present] = np.arange(len(present))
    true_pos = lookup[labels]
    if (true_pos < 0).any():
        raise ValueError("labels: every label must be a well being scored (filter the particles first)")
    n_true = np.bincount(true_pos, minlength=len(present)).astype(np.int64)
    centres = np.stack([np.bincount(true_pos, weights=coords[:, d], minlength=len(present)) / n_true
                        for d in range(coords.shape[1])], axis=1)
    assigned_pos = nearest_centre(coords, centres)
    w = len(present)
    confusion = np.bincount(true_pos * w + assigned_pos, minlength=w * w).reshape(w, w)
    recall = np.diag(confusion) / n_true
    return dict(wells=present.astype(np.int64), recall=recall, n_true=n_true, confusion=confusion,
                centres=centres, assigned=present[assigned_pos].astype(np.int16))


def nearest_centre(coords: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(M,) index of the nearest centre (squared Euclidean; ties go to the lower index).

    coords (M, D) float64, centres (W, D). Works in row chunks so that the (chunk, W) distance
    block stays in cache: memory O(chunk * W), time O(M * W * D).
    """
    m = len(coords)
    out = np.empty(m, dtype=np.int64)
    dist = np.empty((min(_CHUNK_ROWS, m), len(centres)))
    tmp = np.empty_like(dist)
    for start in range(0, m, _CHUNK_ROWS):
        block = coords[start:start + _CHUNK_ROWS]
        d, t = dist[:len(block)], tmp[:len(block)]
        for k in range(coords.shape[1]):
            np.subtract(block[:, k, None], centres[None, :, k], out=t)
            np.multiply(t, t, out=t)
            if k == 0:
                d[...] = t
            else:
                d += t
        np.argmin(d, axis=1, out=out[start:start + len(block)])
    return out


def check_dims(source, n_dims: int, dims) -> tuple[int, ...]:
    """Validate 0-based output dimensions; None means all. ScoringError names the file."""
    if dims is None:
        return tuple(range(n_dims))
    dims = tuple(int(d) for d in dims)
    if not dims:
        raise ScoringError(f"{source}: no output dimension chosen")
    for d in dims:
        if d < 0 or d >= n_dims:
            raise ScoringError(f"{source}: dimension {d} does not exist (the output has {n_dims} "
                               f"dimension{'s' if n_dims != 1 else ''}: 0..{n_dims - 1})")
    if len(set(dims)) != len(dims):
        raise ScoringError(f"{source}: dimension chosen twice in {list(dims)}")
    return dims


def _check_wells(source, wells, n_wells: int) -> np.ndarray:
    wells = np.unique(np.asarray(list(wells), dtype=np.int64))
    if len(wells) == 0:
        raise ScoringError(f"{source}: the selection of wells is empty")
    bad = wells[(wells < 1) | (wells > n_wells)]
    if len(bad):
        raise ScoringError(f"{source}: there is no well {bad[0]} (the dataset has wells 1..{n_wells})")
    return wells

"""Basins of attraction of the declared wells, by steepest descent on the energy grid.

Every grid cell points to its lowest 8-neighbour (or to itself when none is lower); following
the pointers ends at a local minimum. A declared well owns the minimum its centre cell
descends to. When several well centres descend to the same minimum, the well whose centre is
nearest to that minimum owns it and the others are *merged* into it (they have no minimum of
their own; their samples carry the owner's label). A minimum that no well centre reaches
(a shallow dimple of the background) is attached to the well with the nearest centre, so that
every cell gets a label. Well labels are 1-based, as in the paper (wells 1..12).

Example::

    basins = landscape.grid().basins
    basins.label            # (n2, n1) int16, 1..n_wells
    basins.merged_into      # per well: None, or the 1-based number of the well it merged into
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_NEIGHBOURS = [(d2, d1) for d2 in (-1, 0, 1) for d1 in (-1, 0, 1) if (d2, d1) != (0, 0)]


@dataclass(frozen=True, eq=False)
class Basins:
    """Basin labels on an energy grid.

    label: (n2, n1) int16 well number (1-based) of each cell's basin.
    merged_into: per well, None or the 1-based number of the well that owns its minimum.
    minimum_deg: (n_wells, 2) position (cc1, cc2) of the minimum each well descends to.
    occupancy: (n_wells,) Boltzmann probability of each basin (0 for merged wells).
    free_energy_kcal_per_mol: (n_wells,) -kT ln(P_n / P_max), NaN for merged wells.
    barrier_kcal_per_mol: {(i, j): lowest saddle energy between adjacent basins i < j,
        measured from the higher of the two basin minima (the barrier out of the shallower)}.
    orphan_minima: number of minima no well centre reached (attached to the nearest well).
    """

    label: np.ndarray
    merged_into: tuple[int | None, ...]
    minimum_deg: np.ndarray
    occupancy: np.ndarray
    free_energy_kcal_per_mol: np.ndarray
    barrier_kcal_per_mol: dict
    orphan_minima: int

    @property
    def merged_wells(self) -> list[int]:
        """1-based numbers of the wells that have no minimum of their own."""
        return [i + 1 for i, owner in enumerate(self.merged_into) if owner is not None]


def descent_pointers(energy: np.ndarray) -> np.ndarray:
    """For each cell of ``energy`` (n2, n1), the flat index of the local minimum that steepest
    descent over the 8-neighbourhood reaches. Ties keep the first neighbour in scan order."""
    n2, n1 = energy.shape
    padded = np.pad(energy, 1, constant_values=np.inf)
    flat = np.arange(n2 * n1).reshape(n2, n1)
    best_e = energy.copy()
    best_i = flat.copy()
    for d2, d1 in _NEIGHBOURS:
        e = padded[1 + d2:1 + d2 + n2, 1 + d1:1 + d1 + n1]
        lower = e < best_e
        best_e = np.where(lower, e, best_e)
        idx = np.clip(flat + d2 * n1 + d1, 0, n2 * n1 - 1)
        best_i = np.where(lower, idx, best_i)
    ptr = best_i.ravel()
    while True:  # pointer jumping: log2(longest path) rounds
        nxt = ptr[ptr]
        if np.array_equal(nxt, ptr):
            return ptr
        ptr = nxt


def find_basins(grid) -> Basins:
    """Basins of the wells of ``grid.landscape`` on ``grid`` (an engine.landscape.model.EnergyGrid)."""
    land = grid.landscape
    energy = grid.energy
    n2, n1 = energy.shape
    n_wells = len(land.wells)
    roots = descent_pointers(energy)
    cc1, cc2 = grid.cc1, grid.cc2
    if n_wells == 0:
        empty = np.zeros((0,))
        return Basins(np.zeros((n2, n1), np.int16), (), np.zeros((0, 2)), empty, empty, {}, 0)

    centres = land.centres_deg
    c2, c1 = grid.cell_index(centres[:, 0], centres[:, 1])
    well_root = roots[c2 * n1 + c1]
    root_xy = np.stack([cc1[well_root % n1], cc2[well_root // n1]], axis=1)

    owner_of_root: dict[int, int] = {}
    for root in np.unique(well_root):
        candidates = np.flatnonzero(well_root == root)
        dist = np.hypot(*(centres[candidates] - root_xy[candidates]).T)
        owner_of_root[int(root)] = int(candidates[np.argmin(dist)])
    merged_into = tuple(None if owner_of_root[int(r)] == i else owner_of_root[int(r)] + 1
                        for i, r in enumerate(well_root))

    minima = np.flatnonzero(roots == np.arange(roots.size))
    orphans = [m for m in minima if int(m) not in owner_of_root]
    owners = np.array(sorted(set(owner_of_root.values())))
    for m in orphans:
        xy = np.array([cc1[m % n1], cc2[m // n1]])
        nearest = owners[np.argmin(np.hypot(*(centres[owners] - xy).T))]
        owner_of_root[int(m)] = int(nearest)

    lut = np.zeros(roots.size, dtype=np.int16)
    keys = np.fromiter(owner_of_root.keys(), dtype=np.int64)
    lut[keys] = np.fromiter(owner_of_root.values(), dtype=np.int64) + 1
    label = lut[roots].reshape(n2, n1)

    occupancy = np.bincount(label.ravel(), weights=grid.occupancy.ravel(), minlength=n_wells + 1)[1:]
    with np.errstate(divide="ignore"):
        free = -land.kT_kcal_per_mol * np.log(occupancy / occupancy.max())
    free[occupancy == 0] = np.nan
    return Basins(label, merged_into, root_xy, occupancy, free,
                  _barriers(energy, label, well_root, merged_into), len(orphans))


def _barriers(energy: np.ndarray, label: np.ndarray, well_root: np.ndarray,
              merged_into: tuple) -> dict:
    """Lowest saddle between each pair of adjacent basins, above the higher basin minimum."""
    best: dict[tuple[int, int], float] = {}
    for a, b, ea, eb in (
        (label[:, :-1], label[:, 1:], energy[:, :-1], energy[:, 1:]),
        (label[:-1, :], label[1:, :], energy[:-1, :], energy[1:, :]),
    ):
        edge = a != b
        if not edge.any():
            continue
        la, lb = a[edge].astype(np.int64), b[edge].astype(np.int64)
        saddle = np.maximum(ea[edge], eb[edge])
        lo, hi = np.minimum(la, lb), np.maximum(la, lb)
        key = lo * 65536 + hi
        order = np.lexsort((saddle, key))
        key, saddle = key[order], saddle[order]
        first = np.r_[True, key[1:] != key[:-1]]
        for k, s in zip(key[first], saddle[first]):
            pair = (int(k // 65536), int(k % 65536))
            best[pair] = min(best.get(pair, np.inf), float(s))
    flat = energy.ravel()
    well_min = {i + 1: float(flat[r]) for i, r in enumerate(well_root) if merged_into[i] is None}
    return {pair: s - max(well_min.get(pair[0], -np.inf), well_min.get(pair[1], -np.inf))
            for pair, s in sorted(best.items())}

"""Minimum-energy paths between two conformations on a landscape's energy grid.

A straight line between two wells usually climbs over the barrier between them; the molecule
crosses at the saddle instead. :func:`minimum_energy_path` finds that route on the grid of
cell centres (8-connected), in two steps:

1. The lowest barrier level ``B``: the smallest energy such that the start and end cells are
   connected through cells whose energy is at most ``B`` (the minimax, or lowest-saddle,
   criterion). No path between them stays lower than ``B``; ``B`` is the lowest saddle.
2. Among the paths that stay at or below ``B``, the cheapest one with the cost per step
   ``ds * (E_mid - E_min + length_weight)`` (``ds`` the step length in degrees, ``E_mid`` the
   mean of the two cells' energies, ``E_min`` the grid minimum): it follows the valley floor,
   crosses at the saddle, and the small length term makes it short where the ground is flat.

Energies are in any unit (kcal/mol here); ``energy`` is (n2, n1) with axis 0 = cc2 and
axis 1 = cc1, as :class:`engine.landscape.model.EnergyGrid` stores it.

A path, found or drawn, is an (N, 2) polyline; :func:`arc_length` gives the distance along it
and :func:`polyline_points` places points along a drawn polyline no farther apart than a step,
so that a profile along it (engine.landscape.path_profile) misses no bump between its corners.

Example::

    grid = landscape.grid()
    path = grid_minimum_energy_path(grid, landscape.centres_deg[0], landscape.centres_deg[5])
    path            # (N, 2) (cc1, cc2) degrees, from the first well's centre to the other's
    arc_length(path)[-1]                                   # its length in degrees
    polyline_points([(-10, 0), (0, 8), (10, 0)], 0.1)      # a drawn path, every <= 0.1 degree
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from engine.landscape.model import cells_along

#: Default length term, as a fraction of the barrier height above the grid minimum.
LENGTH_WEIGHT_FRACTION = 0.02
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
_FORWARD_STEPS = ((0, 1), (1, 0), (1, 1), (1, -1))  # (d2, d1): each undirected edge once


def lowest_barrier_level(energy: np.ndarray, start: tuple[int, int], end: tuple[int, int]) -> float:
    """The smallest level ``B`` at which cells ``start`` and ``end`` (i2, i1) are 8-connected
    through cells with ``energy <= B``: the energy of the lowest saddle between them."""
    levels = np.unique(energy)
    lo = int(np.searchsorted(levels, max(energy[start], energy[end])))
    hi = len(levels) - 1
    while lo < hi:  # bisection on the sorted levels: connected is monotonic in the level
        mid = (lo + hi) // 2
        label, _ = ndimage.label(energy <= levels[mid], structure=_EIGHT_CONNECTED)
        if label[start] == label[end]:
            hi = mid
        else:
            lo = mid + 1
    return float(levels[lo])


def minimum_energy_path(energy: np.ndarray, cc1: np.ndarray, cc2: np.ndarray, start_deg, end_deg,
                        length_weight: float | None = None) -> np.ndarray:
    """The minimum-energy path from ``start_deg`` to ``end_deg`` (both (cc1, cc2) degrees).

    energy: (n2, n1) on cell centres ``cc1`` (n1,), ``cc2`` (n2,) (evenly spaced, degrees).
    length_weight: energy units added per degree of path (default LENGTH_WEIGHT_FRACTION of
    the barrier height above the grid minimum). Returns (N, 2) (cc1, cc2) degrees: the exact
    start point, the centres of the cells crossed, the exact end point (N >= 2). The path
    runs between the cells holding the two points (points outside the grid start from the
    nearest edge cell). See the module docstring for the criterion.
    """
    energy = np.asarray(energy, dtype=np.float64)
    cc1, cc2 = np.asarray(cc1, dtype=np.float64), np.asarray(cc2, dtype=np.float64)
    if energy.shape != (len(cc2), len(cc1)) or min(energy.shape) < 2:
        raise ValueError(f"energy: expected shape (n2, n1) = ({len(cc2)}, {len(cc1)}) with n >= 2 "
                         f"(got {energy.shape})")

    def cell(point_deg) -> tuple[int, int]:
        # the cells of these centres span half a step either side of them
        (p1, p2), (s1, s2) = point_deg, (cc1[1] - cc1[0], cc2[1] - cc2[0])
        return (int(cells_along(p2, cc2[0] - 0.5 * s2, s2, len(cc2))),
                int(cells_along(p1, cc1[0] - 0.5 * s1, s1, len(cc1))))

    return _path_between_cells(energy, cc1, cc2, cell(start_deg), cell(end_deg),
                               np.array([start_deg, end_deg], dtype=np.float64), length_weight)


def grid_minimum_energy_path(grid, start_deg, end_deg, length_weight: float | None = None) -> np.ndarray:
    """:func:`minimum_energy_path` on an :class:`engine.landscape.model.EnergyGrid` (kcal/mol),
    between the cells :meth:`~engine.landscape.model.EnergyGrid.cell_index` gives."""
    (s2, s1), (e2, e1) = grid.cell_index(*start_deg), grid.cell_index(*end_deg)
    return _path_between_cells(np.asarray(grid.energy, dtype=np.float64), grid.cc1, grid.cc2,
                               (int(s2), int(s1)), (int(e2), int(e1)),
                               np.array([start_deg, end_deg], dtype=np.float64), length_weight)


def _path_between_cells(energy: np.ndarray, cc1: np.ndarray, cc2: np.ndarray, start: tuple[int, int],
                        end: tuple[int, int], ends: np.ndarray, length_weight: float | None) -> np.ndarray:
    """The path from cell ``start`` to cell ``end`` (i2, i1), with the exact end points
    ``ends`` (2, 2) (cc1, cc2) degrees in place of the two end cells' centres."""
    if not np.all(np.isfinite(energy)):
        raise ValueError("energy: contains NaN or infinite values")
    if start == end:
        return ends
    barrier = lowest_barrier_level(energy, start, end)
    e_min = float(energy.min())
    if length_weight is None:
        length_weight = LENGTH_WEIGHT_FRACTION * (barrier - e_min) or 1.0
    if not length_weight > 0:
        raise ValueError(f"length_weight: must be > 0 (got {length_weight})")
    allowed = energy <= barrier
    node = np.full(energy.shape, -1, dtype=np.int64)
    node[allowed] = np.arange(int(allowed.sum()))
    step1, step2 = cc1[1] - cc1[0], cc2[1] - cc2[0]
    n2, n1 = energy.shape
    rows, cols, weights = [], [], []
    for d2, d1 in _FORWARD_STEPS:
        # cells a = (i2, i1) and b = (i2 + d2, i1 + d1), both inside the grid
        a2, b2 = slice(0, n2 - d2), slice(d2, n2)
        a1, b1 = (slice(0, n1 - d1), slice(d1, n1)) if d1 >= 0 else (slice(-d1, n1), slice(0, n1 + d1))
        both = allowed[a2, a1] & allowed[b2, b1]
        e_mid = 0.5 * (energy[a2, a1] + energy[b2, b1])[both]
        rows.append(node[a2, a1][both])
        cols.append(node[b2, b1][both])
        weights.append(np.hypot(d1 * step1, d2 * step2) * (e_mid - e_min + length_weight))
    n = int(allowed.sum())
    graph = coo_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(n, n)).tocsr()
    _, previous = dijkstra(graph, directed=False, indices=node[start], return_predecessors=True)
    cells = [int(node[end])]
    while cells[-1] != node[start]:
        cells.append(int(previous[cells[-1]]))
    flat = np.flatnonzero(allowed)[np.array(cells[::-1])]
    i2, i1 = np.unravel_index(flat, energy.shape)
    centres = np.stack([cc1[i1], cc2[i2]], axis=1)
    return np.vstack([ends[:1], centres[1:-1], ends[1:]])


def arc_length(points) -> np.ndarray:
    """Distance along the polyline ``points`` (N, 2) from its first point, (N,), in the points'
    units (degrees for (cc1, cc2)); 0 at the first point."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(f"points: must be (N, 2) with N >= 1 (got shape {points.shape})")
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])


def polyline_points(vertices, step: float) -> np.ndarray:
    """Points along the polyline through ``vertices`` (M, 2), M >= 1: every vertex, and between
    each two the fewest evenly spaced points that leave no gap longer than ``step`` (> 0, the
    vertices' units). Returns (N, 2), first and last the first and last vertex."""
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 2 or len(vertices) == 0:
        raise ValueError(f"vertices: must be (M, 2) with M >= 1 (got shape {vertices.shape})")
    if not np.all(np.isfinite(vertices)):
        raise ValueError("vertices: contain NaN or infinite values")
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"step: must be a number > 0 (got {step!r})")
    pieces = [vertices[:1]]
    for a, b in zip(vertices[:-1], vertices[1:]):
        n = max(1, int(np.ceil(np.hypot(*(b - a)) / step)))
        pieces.append(a + np.outer(np.arange(1, n + 1) / n, b - a))
    return np.vstack(pieces)


__all__ = ["minimum_energy_path", "grid_minimum_energy_path", "lowest_barrier_level", "arc_length",
           "polyline_points"]

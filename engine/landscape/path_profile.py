"""The energy profile along a path over (cc1, cc2): barriers, wells visited, path integrals.

A path is an (N, 2) polyline: the minimum-energy path between two wells
(engine.landscape.paths, :func:`well_path_profile`) or one the user drew
(:func:`drawn_path_profile`). Along it, :class:`PathProfile` holds

- ``arc_deg`` (N,): distance along the path from its first point (degrees; the output's own
  units for a method's recovered landscape, engine.scoring.path_agreement);
- ``free_energy_kcal_per_mol`` (N,): G = E - E_min, the energy above the grid's lowest cell
  (kcal/mol), so that it is 0 at the global minimum like a recovered landscape's
  G = -kT ln(p / p_max), and a constant background does not change it;
- ``well`` (N,): the well each point belongs to (its basin on a designed landscape);
- ``visits``: the wells in the order the path goes down into them: the runs of points in one
  well, except that a run in between whose lowest point is its first or last point is a
  graze (the path crosses that basin's rim, or flickers along a border, without descending
  into it) and is left out; consecutive repeats are then collapsed;
- ``segments``: one :class:`SegmentBarrier` between each two consecutive visits: the path's
  highest point between the lowest point of one visit and the lowest point of the next, and
  its height above each of those two low points. ``height_kcal_per_mol`` is measured from
  the higher of the two, as engine.landscape.basins measures the saddle between two basins
  (the barrier out of the shallower well), so a path from one basin minimum straight into a
  neighbouring basin reports exactly the saddle basins.py finds;
- ``barrier_kcal_per_mol``: the same height for the whole path (its highest point between
  the lowest points of the first and the last visit).

Path integrals (trapezoidal rule over the profile's points, ds in degrees):

- ``energy_integral_kcal_deg`` = integral of G ds (kcal/mol x degree). This is ManifoldEM's
  "custom path integral": its 2D energetics tab sums the landscape's energy (kcal/mol, 0 at
  the most occupied bin) over the pixels of the Bresenham lines between the clicked points
  (evanseitz/ManifoldEM_Python, ManifoldEM_GUI.py, ``Erg2dUpdate.onclick``: ``erg +=
  LS2d_erg[e2, e1]`` for each point of ``points_in_line``). That sum is this integral in
  units of one pixel's width (for a line along an axis; a Bresenham line counts
  max(|d cc1|, |d cc2|) pixels), so it depends on the map's resolution; ours does not.
  ManifoldEM weights nothing by Boltzmann factors.
- ``boltzmann_free_energy_kcal_per_mol`` = -kT ln( (1/L) integral of exp(-G/kT) ds ), L the
  path's length: the free energy of the path taken as one state (the Boltzmann-weighted
  mean of G along it). It lies between the lowest and the mean G on the path: low when the
  path spends its length in wells, high when it runs over ridges. For a single point it is G.

Example::

    grid = load_preset("paper-3x4").grid()
    prof = well_path_profile(grid, 1, 2)          # minimum-energy path, basin minimum to minimum
    prof.visits, prof.barrier_kcal_per_mol        # (1, 2), the saddle between wells 1 and 2
    drawn = drawn_path_profile(grid, [(-15, 5), (0, 0), (15, -5)])
    drawn.arc_deg, drawn.free_energy_kcal_per_mol, drawn.energy_integral_kcal_deg
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.landscape.paths import arc_length, grid_minimum_energy_path, polyline_points


@dataclass(frozen=True)
class SegmentBarrier:
    """The highest point between two consecutive visits ``from_well`` -> ``to_well``.

    peak_index: index of that point in the profile; peak_arc_deg its distance along the path;
    peak_kcal_per_mol its G. forward / backward: its height above the lowest point of the
    visit before / after it (kcal/mol). height_kcal_per_mol: min(forward, backward), i.e.
    above the higher of the two low points.
    """

    from_well: int
    to_well: int
    peak_index: int
    peak_arc_deg: float
    peak_kcal_per_mol: float
    forward_kcal_per_mol: float
    backward_kcal_per_mol: float

    @property
    def height_kcal_per_mol(self) -> float:
        return min(self.forward_kcal_per_mol, self.backward_kcal_per_mol)


@dataclass(frozen=True, eq=False)
class PathProfile:
    """G along a path, the wells it visits and its barriers (see the module docstring).

    points_deg (N, 2) (cc1, cc2); arc_deg (N,); free_energy_kcal_per_mol (N,); well (N,) int,
    1-based; visits: wells in order; visit_low_index: index of each visit's lowest point;
    segments: one SegmentBarrier per consecutive pair of visits; kT_kcal_per_mol.
    """

    points_deg: np.ndarray
    arc_deg: np.ndarray
    free_energy_kcal_per_mol: np.ndarray
    well: np.ndarray
    visits: tuple[int, ...]
    visit_low_index: tuple[int, ...]
    segments: tuple[SegmentBarrier, ...]
    kT_kcal_per_mol: float

    @property
    def length_deg(self) -> float:
        return float(self.arc_deg[-1])

    @property
    def barrier_kcal_per_mol(self) -> float:
        """Height of the path's highest point between its first and last visits' lowest points,
        above the higher of those two (0 for a path within one well)."""
        g = self.free_energy_kcal_per_mol
        a, b = sorted((self.visit_low_index[0], self.visit_low_index[-1]))
        return float(g[a:b + 1].max() - max(g[a], g[b]))

    @property
    def energy_integral_kcal_deg(self) -> float:
        """Integral of G ds, kcal/mol x degree (ManifoldEM's custom path integral)."""
        return float(np.trapezoid(self.free_energy_kcal_per_mol, self.arc_deg))

    @property
    def boltzmann_free_energy_kcal_per_mol(self) -> float:
        """-kT ln((1/L) integral of exp(-G/kT) ds), kcal/mol (G itself for a single point)."""
        g, kT = self.free_energy_kcal_per_mol, self.kT_kcal_per_mol
        if self.length_deg == 0:
            return float(g.min())
        shift = float(g.min())  # factored out so that exp never underflows on high ridges
        mean = np.trapezoid(np.exp(-(g - shift) / kT), self.arc_deg) / self.length_deg
        return float(shift - kT * np.log(mean))


def path_profile(points, free_energy_kcal_per_mol, well, kT_kcal_per_mol: float) -> PathProfile:
    """The profile of a path given its points (N, 2), G at each point (N,, kcal/mol) and the
    well of each point (N,, 1-based); visits and barriers as in the module docstring."""
    points = np.asarray(points, dtype=np.float64)
    g = np.asarray(free_energy_kcal_per_mol, dtype=np.float64)
    well = np.asarray(well, dtype=np.int64)
    if g.shape != (len(points),) or well.shape != g.shape:
        raise ValueError(f"profile: points {points.shape}, energies {g.shape} and wells {well.shape} "
                         "must have one value per point")
    if not np.all(np.isfinite(g)):
        raise ValueError("profile: energies must be finite (fill empty bins first)")
    if not (np.isfinite(kT_kcal_per_mol) and kT_kcal_per_mol > 0):
        raise ValueError(f"kT_kcal_per_mol: must be > 0 (got {kT_kcal_per_mol!r})")
    arc = arc_length(points)
    starts = np.flatnonzero(np.r_[True, well[1:] != well[:-1]])
    ends = np.r_[starts[1:], len(well)]
    kept: list[tuple[int, int]] = []  # (well, index of its lowest point) of the runs descended into
    for k, (s, e) in enumerate(zip(starts, ends)):
        low = int(s + np.argmin(g[s:e]))
        if 0 < k < len(starts) - 1 and low in (s, e - 1):
            continue  # a graze
        if kept and kept[-1][0] == well[s]:
            low = min(kept.pop()[1], low, key=lambda i: g[i])
        kept.append((int(well[s]), low))
    visits = tuple(w for w, _ in kept)
    lows = tuple(i for _, i in kept)
    segments = []
    for k in range(len(visits) - 1):
        a, b = lows[k], lows[k + 1]
        peak = int(a + np.argmax(g[a:b + 1]))
        segments.append(SegmentBarrier(visits[k], visits[k + 1], peak, float(arc[peak]), float(g[peak]),
                                       float(g[peak] - g[a]), float(g[peak] - g[b])))
    return PathProfile(points, arc, g, well, visits, lows, tuple(segments), float(kT_kcal_per_mol))


def well_path_profile(grid, well_a: int, well_b: int, length_weight: float | None = None) -> PathProfile:
    """Profile of the minimum-energy path (engine.landscape.paths) on ``grid`` (an EnergyGrid)
    from the basin minimum of well ``well_a`` to that of ``well_b`` (1-based). The minima,
    not the declared centres, because that is where the molecule rests and where basins.py
    measures its saddles from. A well merged into another has no minimum of its own: refused."""
    basins = grid.basins
    n = len(basins.merged_into)
    for name, w in (("well_a", well_a), ("well_b", well_b)):
        if not (isinstance(w, (int, np.integer)) and 1 <= w <= n):
            raise ValueError(f"{name}: must be a well number in 1..{n} (got {w!r})")
        if basins.merged_into[w - 1] is not None:
            raise ValueError(f"{name}: well {w} has merged into well {basins.merged_into[w - 1]} "
                             "and has no minimum of its own")
    points = grid_minimum_energy_path(grid, basins.minimum_deg[well_a - 1], basins.minimum_deg[well_b - 1],
                                      length_weight)
    i2, i1 = grid.cell_index(points[:, 0], points[:, 1])
    return path_profile(points, grid.energy[i2, i1] - grid.energy.min(), basins.label[i2, i1],
                        grid.landscape.kT_kcal_per_mol)


def drawn_path_profile(grid, vertices_deg, step_deg: float | None = None) -> PathProfile:
    """Profile along the polyline through ``vertices_deg`` (M, 2) (cc1, cc2) degrees, sampled
    every ``step_deg`` at most (default: the grid's smaller cell step). G is the landscape's
    exact energy at each point (not the grid's cell value) less the grid's minimum; each
    point's well is the basin of the grid cell holding it."""
    step = min(grid.step_deg) if step_deg is None else step_deg
    points = polyline_points(vertices_deg, step)
    energy = grid.landscape.energy(points[:, 0], points[:, 1]) - grid.energy.min()
    i2, i1 = grid.cell_index(points[:, 0], points[:, 1])
    return path_profile(points, energy, grid.basins.label[i2, i1], grid.landscape.kT_kcal_per_mol)


__all__ = ["PathProfile", "SegmentBarrier", "path_profile", "well_path_profile", "drawn_path_profile"]

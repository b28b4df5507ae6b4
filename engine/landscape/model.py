"""Conformational energy landscapes over (cc1, cc2) in degrees.

E(x) = E_bg(x) - sum_n d_n exp(-0.5 (x - mu_n)^T S_n^-1 (x - mu_n)), energies in kcal/mol,
occupancy p(x) ~ exp(-E(x) / kT) with kT = 0.0019872041 * T (DESIGN.md section 3).

Grids are cell-centred and row-major: ``grid[i2, i1]`` holds the value at
``cc1 = lo1 + (i1 + 0.5) * step1``, ``cc2 = lo2 + (i2 + 0.5) * step2`` (axis 0 is cc2, axis 1
is cc1, so an image of the grid has cc1 horizontal and cc2 vertical).

Example::

    from engine.landscape.presets import load_preset
    land = load_preset("paper-3x4")
    grid = land.grid()              # EnergyGrid: energy, occupancy, marginals
    e = land.energy([0.0], [0.0])   # kcal/mol at one point
    i2, i1 = grid.cell_index(4.0, -3.0)   # the cell holding (cc1, cc2) = (4, -3) degrees
    grid.basins.label[i2, i1]             # its basin
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

BOLTZMANN_KCAL_PER_MOL_K = 0.0019872041
MIN_GRID_SIZE = 16
DEFAULT_GRID_SIZE = 512
# Ground truth (sampling and basin labels) always uses at least this grid (DESIGN.md 3: a
# fine grid >= 512^2), whatever coarser grid a view or a test draws.
MIN_SAMPLING_GRID_SIZE = 512


def kT_kcal(temperature_K: float) -> float:
    """Thermal energy in kcal/mol at ``temperature_K``."""
    return BOLTZMANN_KCAL_PER_MOL_K * temperature_K


def cells_along(values_deg, lo_deg: float, step_deg: float, n_cells: int) -> np.ndarray:
    """Index of the cell holding each of ``values_deg`` on one axis of ``n_cells`` cells of
    ``step_deg`` degrees starting at ``lo_deg``: cell i spans [lo + i step, lo + (i + 1) step).
    Values outside go to the nearest edge cell (the domain's upper edge belongs to the last
    cell). Returns intp, shaped like ``values_deg``; raises ValueError for NaN or infinity,
    which lie in no cell. :meth:`EnergyGrid.cell_index` applies it to both axes of a grid."""
    values = np.asarray(values_deg, dtype=float)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"cell of a point: coordinates must be finite degrees (got {values_deg!r})")
    return np.clip(np.floor((values - lo_deg) / step_deg), 0, n_cells - 1).astype(np.intp)


def _require(ok: bool, field_name: str, problem: str) -> None:
    if not ok:
        raise ValueError(f"{field_name}: {problem}")


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Well:
    """One Gaussian well.

    ``sigma1_deg`` / ``sigma2_deg`` are the standard deviations along the well's own axes,
    which are the cc1 / cc2 axes turned counter-clockwise by ``angle_deg``.
    """

    name: str
    cc1_deg: float
    cc2_deg: float
    depth_kcal_per_mol: float
    sigma1_deg: float
    sigma2_deg: float
    angle_deg: float = 0.0

    def __post_init__(self) -> None:
        _require(isinstance(self.name, str), "name", "must be a string")
        for name in ("cc1_deg", "cc2_deg", "angle_deg"):
            _require(_finite(getattr(self, name)), name, "must be a finite number")
        for name in ("depth_kcal_per_mol", "sigma1_deg", "sigma2_deg"):
            value = getattr(self, name)
            _require(_finite(value) and value > 0, name, f"must be a number > 0 (got {value!r})")

    def inverse_covariance(self) -> tuple[float, float, float]:
        """(a, b, c) of S^-1 = [[a, b], [b, c]] in deg^-2."""
        t = math.radians(self.angle_deg)
        cos, sin = math.cos(t), math.sin(t)
        i1, i2 = 1.0 / self.sigma1_deg**2, 1.0 / self.sigma2_deg**2
        return (cos * cos * i1 + sin * sin * i2, cos * sin * (i1 - i2), sin * sin * i1 + cos * cos * i2)


@dataclass(frozen=True)
class Landscape:
    """Wells on a rectangular domain in degrees at a temperature.

    ``confinement_kcal_per_mol`` adds a gentle bowl ``c * (u1^2 + u2^2)`` where ``u`` is the
    position relative to the domain centre in units of the half-widths (so it reaches ``c`` at
    the middle of each edge); 0 gives the constant background of the paper.
    ``core_radius_deg``: samples farther than this from their well centre are "transition"
    and left out of recall (None: every sample is core).
    """

    wells: tuple[Well, ...]
    cc1_range_deg: tuple[float, float] = (-20.0, 20.0)
    cc2_range_deg: tuple[float, float] = (-15.0, 15.0)
    temperature_K: float = 300.0
    background_kcal_per_mol: float = 0.0
    confinement_kcal_per_mol: float = 0.0
    core_radius_deg: float | None = None
    grid_size: int = DEFAULT_GRID_SIZE
    name: str = "untitled"
    description: str = ""

    def __post_init__(self) -> None:
        _require(isinstance(self.wells, (list, tuple)), "wells", "must be a list of wells")
        object.__setattr__(self, "wells", tuple(self.wells))
        for name in ("cc1_range_deg", "cc2_range_deg"):
            lo_hi = getattr(self, name)
            _require(isinstance(lo_hi, (list, tuple)), name, "must be two finite numbers [min, max]")
            lo_hi = tuple(lo_hi)
            object.__setattr__(self, name, lo_hi)
            _require(len(lo_hi) == 2 and all(_finite(v) for v in lo_hi), name,
                     "must be two finite numbers [min, max]")
            _require(lo_hi[0] < lo_hi[1], name, f"min must be below max (got {list(lo_hi)})")
        _require(isinstance(self.name, str), "name", "must be a string")
        _require(isinstance(self.description, str), "description", "must be a string")
        _require(_finite(self.temperature_K) and self.temperature_K > 0, "temperature_K",
                 f"must be a number > 0 (got {self.temperature_K!r})")
        _require(_finite(self.background_kcal_per_mol), "background_kcal_per_mol", "must be a finite number")
        _require(_finite(self.confinement_kcal_per_mol) and self.confinement_kcal_per_mol >= 0,
                 "confinement_kcal_per_mol", f"must be a number >= 0 (got {self.confinement_kcal_per_mol!r})")
        _require(self.core_radius_deg is None or (_finite(self.core_radius_deg) and self.core_radius_deg > 0),
                 "core_radius_deg", f"must be null or a number > 0 (got {self.core_radius_deg!r})")
        _require(isinstance(self.grid_size, int) and not isinstance(self.grid_size, bool)
                 and MIN_GRID_SIZE <= self.grid_size <= 4096,
                 "grid_size", f"must be an integer in [{MIN_GRID_SIZE}, 4096] (got {self.grid_size!r})")
        for i, well in enumerate(self.wells):
            _require(isinstance(well, Well), f"wells[{i}]", "must be a Well")
            # A centre outside the domain has no cell of its own: its basin would be
            # whatever the edge cell descends to, which silently corrupts the labels.
            for name, (lo, hi) in (("cc1_deg", self.cc1_range_deg), ("cc2_deg", self.cc2_range_deg)):
                value = getattr(well, name)
                _require(lo <= value <= hi, f"wells[{i}].{name}",
                         f"centre {value:g} lies outside the domain [{lo:g}, {hi:g}]")

    # --- derived quantities -------------------------------------------------------------
    @property
    def kT_kcal_per_mol(self) -> float:
        return kT_kcal(self.temperature_K)

    @property
    def centres_deg(self) -> np.ndarray:
        """(n_wells, 2) well centres (cc1, cc2) in degrees."""
        return np.array([[w.cc1_deg, w.cc2_deg] for w in self.wells], dtype=float).reshape(-1, 2)

    def with_well(self, index: int, well: Well) -> Landscape:
        wells = list(self.wells)
        wells[index] = well
        return replace(self, wells=tuple(wells))

    def energy(self, cc1_deg, cc2_deg) -> np.ndarray:
        """Energy in kcal/mol at points (arrays broadcast together), degrees in."""
        x = np.asarray(cc1_deg, dtype=float)
        y = np.asarray(cc2_deg, dtype=float)
        e = self._background(x, y)
        for well in self.wells:
            a, b, c = well.inverse_covariance()
            dx, dy = x - well.cc1_deg, y - well.cc2_deg
            e = e - well.depth_kcal_per_mol * np.exp(-0.5 * (a * dx * dx + 2 * b * dx * dy + c * dy * dy))
        return e

    def _background(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        e = np.full(np.broadcast_shapes(x.shape, y.shape), self.background_kcal_per_mol)
        if self.confinement_kcal_per_mol:
            (lo1, hi1), (lo2, hi2) = self.cc1_range_deg, self.cc2_range_deg
            u1 = (x - 0.5 * (lo1 + hi1)) / (0.5 * (hi1 - lo1))
            u2 = (y - 0.5 * (lo2 + hi2)) / (0.5 * (hi2 - lo2))
            e = e + self.confinement_kcal_per_mol * (u1 * u1 + u2 * u2)
        return e

    def axes(self, grid_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinates (cc1 (n,), cc2 (n,)) in degrees."""
        n = grid_size or self.grid_size
        (lo1, hi1), (lo2, hi2) = self.cc1_range_deg, self.cc2_range_deg
        cc1 = lo1 + (np.arange(n) + 0.5) * (hi1 - lo1) / n
        cc2 = lo2 + (np.arange(n) + 0.5) * (hi2 - lo2) / n
        return cc1, cc2

    def sampling_grid(self) -> EnergyGrid:
        """The grid that ground truth is drawn and labelled on: ``grid_size``, at least 512."""
        return self.grid(max(self.grid_size, MIN_SAMPLING_GRID_SIZE))

    def grid(self, grid_size: int | None = None) -> EnergyGrid:
        """The energy on the cell-centred grid (see module docstring for axis order)."""
        n = grid_size or self.grid_size
        cc1, cc2 = self.axes(n)
        energy = self._background(cc1[None, :], cc2[:, None])
        for well in self.wells:
            energy -= _well_term(well, cc1, cc2)
        return EnergyGrid(self, cc1, cc2, energy)


def _well_term(well: Well, cc1: np.ndarray, cc2: np.ndarray) -> np.ndarray:
    """d * exp(-0.5 q) on the grid, (n2, n1). Axis-aligned wells factor into an outer product
    of two 1D Gaussians, which is what keeps a 512^2 redraw well under the 30 ms budget."""
    dx = cc1 - well.cc1_deg
    dy = cc2 - well.cc2_deg
    if well.angle_deg % 180.0 == 0.0:
        gx = np.exp(-0.5 * (dx / well.sigma1_deg) ** 2)
        gy = np.exp(-0.5 * (dy / well.sigma2_deg) ** 2)
        return well.depth_kcal_per_mol * np.outer(gy, gx)
    a, b, c = well.inverse_covariance()
    q = (a * dx * dx)[None, :] + (2 * b) * np.outer(dy, dx) + (c * dy * dy)[:, None]
    return well.depth_kcal_per_mol * np.exp(-0.5 * q)


@dataclass(frozen=True, eq=False)
class EnergyGrid:
    """Energy of a landscape on its grid, with the quantities derived from it.

    ``energy``: (n2, n1) kcal/mol; ``cc1`` (n1,), ``cc2`` (n2,) cell centres in degrees.
    """

    landscape: Landscape
    cc1: np.ndarray
    cc2: np.ndarray
    energy: np.ndarray

    @property
    def step_deg(self) -> tuple[float, float]:
        return float(self.cc1[1] - self.cc1[0]), float(self.cc2[1] - self.cc2[0])

    @property
    def extent_deg(self) -> tuple[float, float, float, float]:
        """(cc1_min, cc1_max, cc2_min, cc2_max) of the domain."""
        (lo1, hi1), (lo2, hi2) = self.landscape.cc1_range_deg, self.landscape.cc2_range_deg
        return lo1, hi1, lo2, hi2

    def cell_index(self, cc1_deg, cc2_deg) -> tuple[np.ndarray, np.ndarray]:
        """Which cell holds the point(s) (cc1, cc2), in degrees: ``(i2, i1)``, in the grid's
        axis order (axis 0 is cc2), so ``self.energy[i2, i1]`` is the energy there.

        Cell (i2, i1) spans cc1 in [lo1 + i1 step1, lo1 + (i1 + 1) step1) and likewise for
        cc2: a cell centre maps to its own cell, a point on the border between two cells to
        the upper one, and the domain's upper edge to the last cell. Points outside the domain
        are clipped to the nearest edge cell (each axis on its own). Arrays broadcast
        together; the indices are intp arrays of that shape (numpy integers for scalars). NaN or
        infinite coordinates raise ValueError.
        """
        lo1, _, lo2, _ = self.extent_deg
        step1, step2 = self.step_deg
        n2, n1 = self.energy.shape
        cc1_deg, cc2_deg = np.broadcast_arrays(np.asarray(cc1_deg, float), np.asarray(cc2_deg, float))
        return cells_along(cc2_deg, lo2, step2, n2), cells_along(cc1_deg, lo1, step1, n1)

    def energy_kT(self) -> np.ndarray:
        return self.energy / self.landscape.kT_kcal_per_mol

    @cached_property
    def weights(self) -> np.ndarray:
        """Unnormalised Boltzmann weights exp(-(E - E_min)/kT) per cell, (n2, n1)."""
        kT = self.landscape.kT_kcal_per_mol
        return np.exp(-(self.energy - self.energy.min()) / kT)

    @cached_property
    def occupancy(self) -> np.ndarray:
        """Probability of each cell (sums to 1), (n2, n1)."""
        w = self.weights
        return w / w.sum()

    def marginals(self) -> tuple[np.ndarray, np.ndarray]:
        """Probability densities (per degree) along cc1 (n1,) and along cc2 (n2,)."""
        step1, step2 = self.step_deg
        p = self.occupancy
        return p.sum(axis=0) / step1, p.sum(axis=1) / step2

    def free_energy(self) -> np.ndarray:
        """-kT ln(p / p_max) per cell in kcal/mol, (n2, n1): zero at the global minimum."""
        return self.energy - self.energy.min()

    @cached_property
    def basins(self):
        """Basins of attraction of the declared wells (see engine.landscape.basins.Basins)."""
        from engine.landscape.basins import find_basins

        return find_basins(self)

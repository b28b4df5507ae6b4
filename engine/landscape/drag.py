"""Energy grids while one well is dragged: everything but that well is computed once.

A drag changes one well per mouse move. ``DragGrid`` sums the background and every *other*
well on the landscape's cell-centred grid once, at drag start; each move then costs one
well's term, added only inside the window where that term is not negligible (outside it,
d * exp(-q/2) is below ``TAIL_EXPONENT`` e-folds, i.e. under 1e-17 of the depth: below
double-precision rounding of the energy). Axis-aligned wells are an outer product of two 1D
Gaussians; rotated wells evaluate the quadratic form in the window only.

Grid conventions are those of ``engine.landscape.model`` (``energy[i2, i1]``, axis 0 is cc2,
axis 1 is cc1, cell centres, kcal/mol).

Example::

    drag = DragGrid(landscape, index=5)            # at drag start (full grid_size)
    for cc1, cc2 in mouse_positions:
        well = dataclasses.replace(landscape.wells[5], cc1_deg=cc1, cc2_deg=cc2)
        grid = drag.energy_with(well)              # == landscape.with_well(5, well).grid()
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from engine.landscape.model import EnergyGrid, Landscape, Well

TAIL_EXPONENT = 40.0  # the well's term is dropped where it is below depth * exp(-40)


class DragGrid:
    """Energy of ``landscape`` on an ``n`` x ``n`` grid with well ``index`` (0-based) replaced.

    ``n`` defaults to ``landscape.grid_size``. ``rest`` (n2, n1) is the energy of the
    background and every other well in kcal/mol; it is computed once here.
    """

    def __init__(self, landscape: Landscape, index: int, n: int | None = None):
        if not 0 <= index < len(landscape.wells):
            raise IndexError(f"DragGrid: well index {index} out of range "
                             f"(landscape has {len(landscape.wells)} wells)")
        self.landscape = landscape
        self.index = int(index)
        self.n = int(n or landscape.grid_size)
        self.cc1, self.cc2 = landscape.axes(self.n)
        background = dataclasses.replace(landscape, wells=()).grid(self.n)
        rest = np.array(background.energy, dtype=float)
        for i, well in enumerate(landscape.wells):
            if i != self.index:
                subtract_well(rest, well, self.cc1, self.cc2)
        rest.flags.writeable = False
        self.rest = rest

    def energy_with(self, well: Well) -> EnergyGrid:
        """The grid of ``landscape.with_well(index, well)``: a new EnergyGrid (the cached
        ``rest`` is not modified)."""
        energy = self.rest.copy()
        subtract_well(energy, well, self.cc1, self.cc2)
        return EnergyGrid(self.landscape.with_well(self.index, well), self.cc1, self.cc2, energy)


def subtract_well(energy: np.ndarray, well: Well, cc1: np.ndarray, cc2: np.ndarray) -> None:
    """energy -= d * exp(-0.5 (x - mu)^T S^-1 (x - mu)) in place on the grid of cell centres
    ``cc1`` (n1,), ``cc2`` (n2,); ``energy`` is (n2, n1) kcal/mol. Only the window where the
    term exceeds ``depth * exp(-TAIL_EXPONENT)`` is touched."""
    a, b, c = well.inverse_covariance()
    det = a * c - b * b
    q_max = 2.0 * TAIL_EXPONENT
    # the ellipse q <= q_max spans |dx| <= sqrt(q_max * S11), |dy| <= sqrt(q_max * S22)
    half1 = math.sqrt(q_max * c / det)
    half2 = math.sqrt(q_max * a / det)
    s1 = slice(*np.searchsorted(cc1, [well.cc1_deg - half1, well.cc1_deg + half1]))
    s2 = slice(*np.searchsorted(cc2, [well.cc2_deg - half2, well.cc2_deg + half2]))
    dx = cc1[s1] - well.cc1_deg
    dy = cc2[s2] - well.cc2_deg
    if dx.size == 0 or dy.size == 0:
        return
    if b == 0.0:
        gx = np.exp(-0.5 * a * dx * dx)
        gy = np.exp(-0.5 * c * dy * dy)
        energy[s2, s1] -= well.depth_kcal_per_mol * np.outer(gy, gx)
        return
    q = (a * dx * dx)[None, :] + (2.0 * b) * np.outer(dy, dx) + (c * dy * dy)[:, None]
    energy[s2, s1] -= well.depth_kcal_per_mol * np.exp(-0.5 * q)

"""DragGrid: the energy with one well replaced equals the full recompute."""
import dataclasses

import numpy as np
import pytest

from engine.landscape.model import Landscape, Well
from engine.landscape.drag import DragGrid, subtract_well
from engine.landscape.presets import load_preset


def mixed_landscape():
    wells = (Well("aligned", -6.0, 2.0, 3.0, 2.0, 1.0, 0.0),
             Well("rotated", 4.0, -1.0, 2.5, 3.0, 0.8, 35.0),
             Well("right angle", 0.0, 5.0, 1.5, 1.2, 2.5, 90.0),
             Well("wide", 8.0, -6.0, 1.0, 9.0, 7.0, -20.0))
    return Landscape(wells, (-12.0, 14.0), (-9.0, 8.0), background_kcal_per_mol=0.4,
                     confinement_kcal_per_mol=1.3, grid_size=200)


@pytest.mark.parametrize("index", [0, 1, 2, 3])
@pytest.mark.parametrize("n", [None, 96])
def test_energy_with_equals_the_full_grid(index, n):
    land = mixed_landscape()
    drag = DragGrid(land, index, n)
    for cc1, cc2, angle in ((-11.9, 7.9, 0.0), (3.3, -2.7, 61.0), (13.99, -8.99, 90.0), (0.0, 0.0, 0.0)):
        well = dataclasses.replace(land.wells[index], cc1_deg=cc1, cc2_deg=cc2, angle_deg=angle)
        got = drag.energy_with(well)
        want = land.with_well(index, well).grid(n)
        np.testing.assert_allclose(got.energy, want.energy, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(got.cc1, want.cc1)
        np.testing.assert_array_equal(got.cc2, want.cc2)
        assert got.landscape == want.landscape
        # derived quantities come along: occupancy, marginals, basins
        np.testing.assert_allclose(got.occupancy, want.occupancy, atol=1e-12)
        np.testing.assert_array_equal(got.basins.label, want.basins.label)


def test_paper_preset_and_the_cache_is_not_modified():
    land = load_preset("paper-3x4")
    drag = DragGrid(land, 5)
    rest = drag.rest.copy()
    for x in (-3.0, 0.5, 4.0):
        well = dataclasses.replace(land.wells[5], cc1_deg=x)
        np.testing.assert_allclose(drag.energy_with(well).energy,
                                   land.with_well(5, well).grid().energy, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(drag.rest, rest)
    assert not drag.rest.flags.writeable


def test_rest_is_the_landscape_without_the_dragged_well():
    land = mixed_landscape()
    drag = DragGrid(land, 1)
    without = dataclasses.replace(land, wells=land.wells[:1] + land.wells[2:])
    np.testing.assert_allclose(drag.rest, without.grid().energy, rtol=0, atol=1e-12)


def test_window_leaves_only_negligible_tails_out():
    """The term is added in a window only; outside it the exact term is below 1e-15."""
    land = mixed_landscape()
    well = Well("narrow", 1.0, 1.0, 5.0, 0.3, 0.2, 25.0)
    cc1, cc2 = land.axes(400)
    energy = np.zeros((400, 400))
    subtract_well(energy, well, cc1, cc2)
    exact = -Landscape((well,), land.cc1_range_deg, land.cc2_range_deg).grid(400).energy
    assert np.count_nonzero(energy) < 0.05 * energy.size  # a small window was touched
    np.testing.assert_allclose(-energy, exact, rtol=0, atol=1e-15)


def test_bad_index_is_refused():
    with pytest.raises(IndexError, match="well index 4"):
        DragGrid(mixed_landscape(), 4)

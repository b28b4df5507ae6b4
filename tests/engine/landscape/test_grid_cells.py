"""Which grid cell holds a point: EnergyGrid.cell_index, the one rule the basins, the paths and
the GUI's read-outs share."""
import numpy as np
import pytest

from engine.landscape.model import Landscape, Well
from engine.landscape.presets import load_preset


@pytest.fixture(scope="module")
def grid():
    # uneven domain and a cell count that makes the steps inexact binary fractions
    land = Landscape((Well("1", 0.0, 0.0, 3.0, 4.0, 4.0),), cc1_range_deg=(-20.0, 25.0),
                     cc2_range_deg=(-12.0, 9.0), grid_size=48)
    return land.grid(48)


def test_cell_centres_map_to_their_own_cells(grid):
    i2, i1 = np.meshgrid(np.arange(len(grid.cc2)), np.arange(len(grid.cc1)), indexing="ij")
    got2, got1 = grid.cell_index(grid.cc1[i1], grid.cc2[i2])
    np.testing.assert_array_equal(got2, i2)
    np.testing.assert_array_equal(got1, i1)
    assert grid.energy[got2, got1].shape == grid.energy.shape   # (i2, i1): the grid's axis order


def test_edges_and_borders_between_cells(grid):
    lo1, hi1, lo2, hi2 = grid.extent_deg
    step1, step2 = grid.step_deg
    n2, n1 = grid.energy.shape
    assert tuple(map(int, grid.cell_index(lo1, lo2))) == (0, 0)             # lower edges: first cell
    assert tuple(map(int, grid.cell_index(hi1, hi2))) == (n2 - 1, n1 - 1)   # upper edges: last cell
    # a point just inside a cell's lower border belongs to it, just below it to the cell before
    border1 = lo1 + 7 * step1
    assert int(grid.cell_index(border1 + 1e-9, 0.0)[1]) == 7
    assert int(grid.cell_index(border1 - 1e-9, 0.0)[1]) == 6
    border2 = lo2 + 30 * step2
    assert int(grid.cell_index(0.0, border2 + 1e-9)[0]) == 30
    assert int(grid.cell_index(0.0, border2 - 1e-9)[0]) == 29


def test_points_outside_the_domain_go_to_the_nearest_edge_cell(grid):
    lo1, hi1, lo2, hi2 = grid.extent_deg
    n2, n1 = grid.energy.shape
    i2, i1 = grid.cell_index([lo1 - 50.0, hi1 + 0.01, 0.0, 0.0], [0.0, 0.0, lo2 - 1e-6, hi2 + 90.0])
    np.testing.assert_array_equal(i1[:2], [0, n1 - 1])
    np.testing.assert_array_equal(i2[2:], [0, n2 - 1])
    inside2, inside1 = grid.cell_index(0.0, 0.0)
    assert i2[0] == i2[1] == inside2 and i1[2] == i1[3] == inside1   # the other axis is untouched
    with pytest.raises(ValueError, match="finite"):
        grid.cell_index(np.nan, 0.0)


def test_the_basins_label_each_well_centre_with_its_own_well():
    land = load_preset("paper-3x4")
    grid = land.grid()
    i2, i1 = grid.cell_index(land.centres_deg[:, 0], land.centres_deg[:, 1])
    np.testing.assert_array_equal(grid.basins.label[i2, i1], np.arange(1, len(land.wells) + 1))

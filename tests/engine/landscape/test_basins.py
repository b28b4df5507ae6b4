"""Basins of attraction and ground-truth labels on known cases."""
import numpy as np

from engine.landscape.model import Landscape, Well


def two_wells(separation, depth_b=2.0, sigma=2.0):
    wells = (Well("a", -separation / 2, 0.0, 3.0, sigma, sigma), Well("b", separation / 2, 0.0, depth_b, sigma, sigma))
    return Landscape(wells, (-20.0, 20.0), (-10.0, 10.0), grid_size=200)


def test_two_separated_wells_split_at_the_saddle():
    grid = two_wells(10.0).grid()
    basins = grid.basins
    assert basins.merged_into == (None, None)
    row = basins.label[100]                     # cc2 ~ 0
    left = grid.cc1 < -5.5
    right = grid.cc1 > 5.5
    assert np.all(row[left] == 1) and np.all(row[right] == 2)
    # the boundary lies at the saddle: the energy maximum between the two centres
    between = (grid.cc1 > -5) & (grid.cc1 < 5)
    saddle_x = grid.cc1[between][np.argmax(grid.energy[100][between])]
    boundary_x = grid.cc1[np.flatnonzero(np.diff(row.astype(int)))[0]]
    assert abs(saddle_x - boundary_x) <= 2 * grid.step_deg[0]


def test_overlapping_wells_merge_into_the_deeper_one():
    # centres 1 sigma apart: the sum has a single minimum, near the deeper well
    basins = two_wells(2.0).grid().basins
    assert basins.merged_into == (None, 1)
    assert basins.merged_wells == [2]
    assert np.all(basins.label == 1)
    assert np.isnan(basins.free_energy_kcal_per_mol[1])
    assert basins.occupancy[1] == 0


def test_barrier_is_saddle_above_the_shallower_minimum():
    land = two_wells(12.0)
    grid = land.grid(400)
    basins = grid.basins
    barrier = basins.barrier_kcal_per_mol[(1, 2)]
    saddle = grid.energy[200][(grid.cc1 > -6) & (grid.cc1 < 6)].max()
    shallow_min = grid.energy[200][grid.cc1 > 0].min()
    assert abs(barrier - (saddle - shallow_min)) < 0.02


def test_every_cell_is_labelled_with_a_declared_well():
    wells = tuple(Well(str(i), x, y, 2.0, 1.5, 1.5) for i, (x, y) in enumerate([(-8, -5), (8, -5), (0, 6)]))
    land = Landscape(wells, (-20.0, 20.0), (-15.0, 15.0), grid_size=128)
    label = land.grid().basins.label
    assert set(np.unique(label)) == {1, 2, 3}

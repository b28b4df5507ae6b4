"""Profiles along paths: the saddle basins.py finds, the energy along a drawn line, integrals."""
import math

import numpy as np
import pytest

from engine.landscape.model import Landscape, Well
from engine.landscape.path_profile import drawn_path_profile, path_profile, well_path_profile
from engine.landscape.presets import load_preset

ROW_NEIGHBOURS = [(1, 2), (2, 3), (3, 4), (5, 6), (6, 7), (7, 8), (9, 10), (10, 11), (11, 12)]


@pytest.fixture(scope="module")
def paper_grid():
    return load_preset("paper-3x4").grid()


def test_path_between_adjacent_wells_crosses_the_saddle_basins_finds(paper_grid):
    saddles = paper_grid.basins.barrier_kcal_per_mol
    direct = {}
    for pair, saddle in saddles.items():
        prof = well_path_profile(paper_grid, *pair)
        assert prof.visits[0] == pair[0] and prof.visits[-1] == pair[1]
        if prof.visits == pair:
            direct[pair] = True
            # the same number: the highest cell of the path above the higher basin minimum
            assert prof.barrier_kcal_per_mol == pytest.approx(saddle, abs=1e-9)
            assert len(prof.segments) == 1
            assert prof.segments[0].height_kcal_per_mol == pytest.approx(saddle, abs=1e-9)
        else:
            # a detour through other wells only when it climbs less than the direct saddle
            assert prof.barrier_kcal_per_mol < saddle
    assert set(ROW_NEIGHBOURS) <= set(direct)


def test_path_starts_and_ends_at_the_basin_minima(paper_grid):
    prof = well_path_profile(paper_grid, 1, 2)
    np.testing.assert_allclose(prof.points_deg[[0, -1]], paper_grid.basins.minimum_deg[[0, 1]])
    assert prof.arc_deg[0] == 0 and np.all(np.diff(prof.arc_deg) > 0)
    seg = prof.segments[0]
    g = prof.free_energy_kcal_per_mol
    assert seg.peak_kcal_per_mol == pytest.approx(g.max())
    assert seg.forward_kcal_per_mol == pytest.approx(g.max() - g[0])
    assert seg.backward_kcal_per_mol == pytest.approx(g.max() - g[-1])
    assert g.min() >= 0


def test_drawn_straight_path_profile_is_the_energy_sampled_along_it(paper_grid):
    land = paper_grid.landscape
    a, b = np.array([-16.0, 9.0]), np.array([14.0, -11.0])
    prof = drawn_path_profile(paper_grid, [a, b], step_deg=0.05)
    length = float(np.hypot(*(b - a)))
    n = len(prof.arc_deg)
    assert n == math.ceil(length / 0.05) + 1
    expected_points = a + np.linspace(0, 1, n)[:, None] * (b - a)
    np.testing.assert_allclose(prof.points_deg, expected_points, atol=1e-12)
    np.testing.assert_allclose(prof.arc_deg, np.linspace(0, length, n), atol=1e-9)
    sampled = land.energy(expected_points[:, 0], expected_points[:, 1]) - paper_grid.energy.min()
    np.testing.assert_allclose(prof.free_energy_kcal_per_mol, sampled, atol=1e-12)
    i2, i1 = paper_grid.cell_index(expected_points[:, 0], expected_points[:, 1])
    np.testing.assert_array_equal(prof.well, paper_grid.basins.label[i2, i1])
    # each well visited is one the line goes down into: its lowest point there is inside the run
    assert prof.visits[0] == prof.well[0] and prof.visits[-1] == prof.well[-1]
    for w, low in zip(prof.visits[1:-1], prof.visit_low_index[1:-1]):
        assert prof.well[low - 1] == prof.well[low] == prof.well[low + 1] == w


def test_a_path_grazing_a_basin_rim_does_not_visit_it():
    """Wells 1 | 2 | 3 along cc1; a path running 1 -> 3 that only touches well 2 at its top."""
    points = np.column_stack([np.arange(7.0), np.zeros(7)])
    g = np.array([0.0, 1.0, 2.0, 1.9, 1.0, 0.3, 0.0])
    prof = path_profile(points, g, [1, 1, 1, 2, 3, 3, 3], 0.6)
    assert prof.visits == (1, 3) and prof.segments[0].peak_index == 2
    # a flicker back into the first well along a border is a graze too
    prof = path_profile(points, g, [1, 1, 2, 1, 3, 3, 3], 0.6)
    assert prof.visits == (1, 3) and prof.visit_low_index == (0, 6)


def test_path_integrals_on_a_known_profile():
    """G = 1 + s on s in [0, 2] (straight line along cc1): integral 4, Boltzmann mean known."""
    kT = 0.6
    points = np.column_stack([np.linspace(0.0, 2.0, 2001), np.zeros(2001)])
    g = 1.0 + points[:, 0]
    prof = path_profile(points, g, np.ones(2001, int), kT)
    assert prof.energy_integral_kcal_deg == pytest.approx(4.0, rel=1e-6)
    # (1/2) integral exp(-(1 + s)/kT) ds = (kT/2) exp(-1/kT) (1 - exp(-2/kT))
    exact = -kT * math.log(0.5 * kT * math.exp(-1 / kT) * (1 - math.exp(-2 / kT)))
    assert prof.boltzmann_free_energy_kcal_per_mol == pytest.approx(exact, rel=1e-5)
    assert g.min() < prof.boltzmann_free_energy_kcal_per_mol < g.mean()
    assert prof.visits == (1,) and prof.segments == () and prof.barrier_kcal_per_mol == 0.0


def test_visits_repeat_when_a_path_goes_back():
    points = np.column_stack([np.arange(7.0), np.zeros(7)])
    g = np.array([0.0, 1.0, 2.0, 1.5, 2.5, 1.4, 1.2, 1.6, 0.5, 0.2])
    points = np.column_stack([np.arange(10.0), np.zeros(10)])
    prof = path_profile(points, g, [1, 1, 2, 2, 2, 1, 1, 1, 3, 3], 0.6)
    assert prof.visits == (1, 2, 1, 3)
    assert prof.visit_low_index == (0, 3, 6, 9)
    assert [s.peak_index for s in prof.segments] == [2, 4, 7]
    assert prof.barrier_kcal_per_mol == pytest.approx(2.5 - 0.2)


def test_merged_and_unknown_wells_are_refused():
    land = Landscape((Well("a", 0.0, 0.0, 2.0, 4.0, 4.0), Well("b", 2.0, 1.0, 0.3, 4.0, 4.0),
                      Well("c", 12.0, 0.0, 2.0, 3.0, 3.0)), grid_size=128)
    grid = land.grid()
    assert grid.basins.merged_into[1] == 1
    with pytest.raises(ValueError, match="well_b: well 2 has merged into well 1"):
        well_path_profile(grid, 3, 2)
    with pytest.raises(ValueError, match="well_a"):
        well_path_profile(grid, 4, 1)
    assert well_path_profile(grid, 1, 3).visits == (1, 3)

"""Minimum-energy paths: through the saddle, not straight over the barrier."""
import numpy as np
import pytest
from scipy import ndimage
from scipy.interpolate import RegularGridInterpolator

from engine.landscape.paths import grid_minimum_energy_path, lowest_barrier_level, minimum_energy_path
from engine.landscape.presets import load_preset

CC1 = np.linspace(-20.0, 20.0, 161)
CC2 = np.linspace(-15.0, 15.0, 121)
WELL_A, WELL_B, SADDLE = (-10.0, 0.0), (10.0, 0.0), (0.0, 8.0)


def _two_wells_and_a_gap():
    """Wells at (+-10, 0) split by a ridge along cc1 = 0 (4 kcal/mol high on the straight
    line between them) with a gap at cc2 = 8 whose lowest point is about 0.8 kcal/mol."""
    c2, c1 = np.meshgrid(CC2, CC1, indexing="ij")
    wells = sum(-3.0 * np.exp(-((c1 - w[0]) ** 2 + (c2 - w[1]) ** 2) / (2 * 3.0 ** 2)) for w in (WELL_A, WELL_B))
    gap = 1.0 - 0.8 * np.exp(-((c2 - SADDLE[1]) ** 2) / (2 * 2.0 ** 2))
    ridge = 4.0 * np.exp(-(c1 ** 2) / (2 * 1.5 ** 2)) * gap
    return wells + ridge


def _energy_along(energy, points):
    lookup = RegularGridInterpolator((CC2, CC1), energy)
    return lookup(np.asarray(points)[:, ::-1])


def test_path_between_two_wells_crosses_at_the_saddle_not_straight():
    energy = _two_wells_and_a_gap()
    path = minimum_energy_path(energy, CC1, CC2, WELL_A, WELL_B)
    np.testing.assert_allclose(path[0], WELL_A)
    np.testing.assert_allclose(path[-1], WELL_B)
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    assert steps.max() <= np.hypot(CC1[1] - CC1[0], CC2[1] - CC2[0]) + 1e-9   # grid neighbours
    # where it crosses the ridge (cc1 = 0) it is in the gap, 8 degrees off the straight line
    crossing = path[np.argmin(np.abs(path[:, 0]))]
    assert crossing[1] == pytest.approx(SADDLE[1], abs=0.8)
    straight = np.linspace(WELL_A, WELL_B, 200)
    along_path, along_line = _energy_along(energy, path), _energy_along(energy, straight)
    assert along_line.max() > 3.0 and along_path.max() < 1.0
    # the highest point of the path is the lowest saddle between the wells
    saddle_energy = energy[:, np.argmin(np.abs(CC1))].min()
    assert along_path.max() == pytest.approx(saddle_energy, abs=0.05)


def test_barrier_level_is_the_lowest_possible():
    """Below the level the path reaches, the two wells are not connected at all."""
    energy = _two_wells_and_a_gap()
    a = (np.argmin(np.abs(CC2)), np.argmin(np.abs(CC1 - WELL_A[0])))
    b = (np.argmin(np.abs(CC2)), np.argmin(np.abs(CC1 - WELL_B[0])))
    level = lowest_barrier_level(energy, a, b)
    eight = np.ones((3, 3), bool)
    below, _ = ndimage.label(energy < level, structure=eight)
    at, _ = ndimage.label(energy <= level, structure=eight)
    assert below[a] != below[b] and at[a] == at[b]


def test_paths_on_the_paper_landscape_never_climb_higher_than_the_straight_line():
    land = load_preset("paper-3x4")
    grid = land.grid()
    lower = {}
    for i, j in ((0, 5), (0, 11), (4, 7)):
        start, end = land.centres_deg[i], land.centres_deg[j]
        path = grid_minimum_energy_path(grid, start, end)
        np.testing.assert_allclose(path[[0, -1]], [start, end])
        on_path = max(land.energy(*p) for p in path[1:-1])
        on_line = max(land.energy(*p) for p in np.linspace(start, end, 400))
        assert on_path <= on_line + 0.01        # cell centres vs the line: grid resolution
        lower[(i, j)] = on_line - on_path
    assert lower[(0, 11)] > 0.3                # the diagonal line crosses a high barrier


def test_same_cell_and_bad_input():
    energy = _two_wells_and_a_gap()
    np.testing.assert_allclose(minimum_energy_path(energy, CC1, CC2, (1.0, 1.0), (1.05, 1.0)),
                               [(1.0, 1.0), (1.05, 1.0)])
    with pytest.raises(ValueError, match="energy"):
        minimum_energy_path(energy.T, CC1, CC2, WELL_A, WELL_B)
    with pytest.raises(ValueError, match="length_weight"):
        minimum_energy_path(energy, CC1, CC2, WELL_A, WELL_B, length_weight=-1.0)

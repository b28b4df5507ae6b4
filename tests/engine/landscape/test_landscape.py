"""Physics of the landscape: energies, occupancy, marginals."""
import math

import numpy as np
import pytest

from engine.landscape.model import BOLTZMANN_KCAL_PER_MOL_K, Landscape, Well
from engine.landscape.presets import load_preset, preset_names


def one_well(**kw):
    well = Well("a", 1.0, -2.0, 3.0, 2.0, 1.0, kw.pop("angle_deg", 0.0))
    return Landscape((well,), (-10.0, 10.0), (-8.0, 8.0), **kw)


def test_energy_at_centre_is_background_minus_depth():
    land = one_well(background_kcal_per_mol=0.5)
    assert land.energy(1.0, -2.0) == pytest.approx(0.5 - 3.0)


def test_energy_one_sigma_along_each_axis():
    land = one_well()
    assert land.energy(3.0, -2.0) == pytest.approx(-3.0 * math.exp(-0.5))   # 1 sigma1 along cc1
    assert land.energy(1.0, -1.0) == pytest.approx(-3.0 * math.exp(-0.5))   # 1 sigma2 along cc2


def test_rotated_well_turns_its_long_axis():
    land = one_well(angle_deg=90.0)
    # sigma1 (2 deg) now lies along cc2
    assert land.energy(1.0, 0.0) == pytest.approx(-3.0 * math.exp(-0.5))
    assert land.energy(2.0, -2.0) == pytest.approx(-3.0 * math.exp(-0.5))


def test_grid_matches_pointwise_energy_for_rotated_and_aligned_wells():
    wells = (Well("a", 0.0, 0.0, 2.0, 3.0, 1.0, 30.0), Well("b", 5.0, 2.0, 1.0, 1.5, 1.5, 0.0))
    land = Landscape(wells, (-10.0, 10.0), (-5.0, 5.0), confinement_kcal_per_mol=0.7, grid_size=64)
    grid = land.grid()
    cc1, cc2 = np.meshgrid(grid.cc1, grid.cc2)
    np.testing.assert_allclose(grid.energy, land.energy(cc1, cc2), atol=1e-12)
    assert grid.energy.shape == (64, 64)


def test_confinement_reaches_its_value_at_the_edge_midpoints():
    land = Landscape((), (-10.0, 10.0), (-4.0, 4.0), confinement_kcal_per_mol=1.5)
    assert land.energy(10.0, 0.0) == pytest.approx(1.5)
    assert land.energy(0.0, -4.0) == pytest.approx(1.5)
    assert land.energy(0.0, 0.0) == pytest.approx(0.0)


def test_occupancy_is_boltzmann_and_normalised():
    land = one_well(temperature_K=250.0, grid_size=128)
    grid = land.grid()
    kT = BOLTZMANN_KCAL_PER_MOL_K * 250.0
    assert grid.occupancy.sum() == pytest.approx(1.0)
    i, j = np.unravel_index(np.argmax(grid.occupancy), grid.occupancy.shape)
    k, m = 10, 100
    ratio = grid.occupancy[i, j] / grid.occupancy[k, m]
    assert ratio == pytest.approx(math.exp((grid.energy[k, m] - grid.energy[i, j]) / kT))


def test_marginals_are_densities_and_match_the_analytic_gaussian():
    # A deep narrow well is close to a Gaussian occupancy of std sigma*sqrt(kT/d).
    land = Landscape((Well("a", 0.0, 0.0, 30.0, 4.0, 4.0),), (-10.0, 10.0), (-10.0, 10.0), grid_size=256)
    grid = land.grid()
    m1, m2 = grid.marginals()
    step1, step2 = grid.step_deg
    assert m1.sum() * step1 == pytest.approx(1.0)
    assert m2.sum() * step2 == pytest.approx(1.0)
    var = np.sum(m1 * step1 * grid.cc1**2)
    assert math.sqrt(var) == pytest.approx(4.0 * math.sqrt(land.kT_kcal_per_mol / 30.0), rel=0.03)


def test_hotter_is_flatter():
    cold = one_well(temperature_K=100.0).grid().occupancy.max()
    hot = one_well(temperature_K=1000.0).grid().occupancy.max()
    assert hot < cold


@pytest.mark.parametrize("name", preset_names())
def test_presets_load_and_every_well_owns_a_basin(name):
    land = load_preset(name)
    basins = land.grid().basins
    assert basins.merged_wells == []
    assert np.all(basins.occupancy > 0.005)


def test_paper_preset_matches_the_design():
    land = load_preset("paper-3x4")
    assert len(land.wells) == 12
    centres = land.centres_deg
    assert len(np.unique(centres[:, 0])) == 4 and len(np.unique(centres[:, 1])) == 3
    # numbered row by row: first four share a row
    assert np.all(centres[:4, 1] == centres[0, 1])
    basins = land.grid().basins
    occ = basins.occupancy
    assert occ.max() / occ.min() > 3   # occupancies differ several-fold
    kT = land.kT_kcal_per_mol
    barriers = np.array(list(basins.barrier_kcal_per_mol.values())) / kT
    assert 1.5 < barriers.min() and barriers.max() < 6  # saddles of a few kT


def test_invalid_values_are_refused_by_name():
    with pytest.raises(ValueError, match="depth_kcal_per_mol"):
        Well("a", 0.0, 0.0, -1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="sigma2_deg"):
        Well("a", 0.0, 0.0, 1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="cc1_range_deg"):
        Landscape((), (5.0, 1.0))
    with pytest.raises(ValueError, match="temperature_K"):
        Landscape((), temperature_K=0.0)
    with pytest.raises(ValueError, match="grid_size"):
        Landscape((), grid_size=3)


def test_well_outside_the_domain_is_refused_by_name():
    with pytest.raises(ValueError, match=r"wells\[1\].cc1_deg.*outside the domain"):
        Landscape((Well("a", 0.0, 0.0, 1.0, 1.0, 1.0), Well("b", 50.0, 0.0, 1.0, 1.0, 1.0)), (-20.0, 20.0))
    with pytest.raises(ValueError, match=r"wells\[0\].cc2_deg"):
        Landscape((Well("a", 0.0, -16.0, 1.0, 1.0, 1.0),), (-20.0, 20.0), (-15.0, 15.0))


def test_ground_truth_uses_a_fine_grid_even_when_the_display_grid_is_coarse():
    land = one_well(grid_size=64)
    assert land.grid().energy.shape == (64, 64)
    assert land.sampling_grid().energy.shape == (512, 512)
    fine = one_well(grid_size=768)
    assert fine.sampling_grid().energy.shape == (768, 768)

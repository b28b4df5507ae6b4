"""Sampling statistics against the analytic occupancy."""
import numpy as np
import pytest
from scipy import stats

from engine.landscape.model import Landscape, Well
from engine.landscape.presets import load_preset
from engine.landscape.sampling import sample_conformations


def test_cell_counts_follow_the_occupancy_chi_square():
    land = load_preset("paper-3x4")
    grid = land.grid(32)
    sample = sample_conformations(grid, 200_000, seed=11)
    observed = np.bincount(sample.cell, minlength=32 * 32)
    expected = grid.occupancy.ravel() * len(sample)
    keep = expected > 5
    obs = np.r_[observed[keep], observed[~keep].sum()]
    exp = np.r_[expected[keep], expected[~keep].sum()]
    assert stats.chisquare(obs, exp).pvalue > 1e-3


def test_marginal_cc1_matches_the_analytic_cdf_ks():
    land = Landscape((Well("a", 0.0, 0.0, 20.0, 3.0, 3.0),), (-10.0, 10.0), (-10.0, 10.0), grid_size=512)
    sample = sample_conformations(land.grid(), 20_000, seed=5)
    sd = 3.0 * np.sqrt(land.kT_kcal_per_mol / 20.0)  # deep well: near-Gaussian occupancy
    assert stats.kstest(sample.cc1_deg, stats.norm(0, sd).cdf).pvalue > 1e-3


def test_samples_stay_in_their_cells_and_carry_basin_labels():
    grid = load_preset("paper-3x4").grid(128)
    sample = sample_conformations(grid, 50_000, seed=2)
    lo1, hi1, lo2, hi2 = grid.extent_deg
    step1, step2 = grid.step_deg
    i1 = np.floor((sample.cc1_deg - lo1) / step1).astype(int)
    i2 = np.floor((sample.cc2_deg - lo2) / step2).astype(int)
    np.testing.assert_array_equal(i2 * 128 + i1, sample.cell)
    np.testing.assert_array_equal(sample.well, grid.basins.label.ravel()[sample.cell])
    fractions = np.bincount(sample.well, minlength=13)[1:] / len(sample)
    np.testing.assert_allclose(fractions, grid.basins.occupancy, atol=0.006)


def test_same_seed_same_sample_other_seed_other_sample():
    grid = load_preset("paper-3x4").grid(64)
    a = sample_conformations(grid, 1000, seed=1)
    b = sample_conformations(grid, 1000, seed=1)
    c = sample_conformations(grid, 1000, seed=2)
    np.testing.assert_array_equal(a.cc1_deg, b.cc1_deg)
    assert not np.array_equal(a.cc1_deg, c.cc1_deg)


def test_core_radius_marks_transition_samples():
    land = load_preset("paper-3x4")
    from dataclasses import replace
    land = replace(land, core_radius_deg=2.0)
    sample = sample_conformations(land.grid(128), 20_000, seed=3)
    centres = land.centres_deg[sample.well - 1]
    dist = np.hypot(sample.cc1_deg - centres[:, 0], sample.cc2_deg - centres[:, 1])
    np.testing.assert_array_equal(sample.core, dist <= 2.0)
    assert 0.2 < sample.core.mean() < 0.95


def test_negative_n_is_refused():
    with pytest.raises(ValueError, match="n"):
        sample_conformations(load_preset().grid(32), -1, seed=0)

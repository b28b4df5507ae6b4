"""Recovered energy landscapes: Boltzmann inversion of histograms, and per-well comparison."""
import numpy as np
import pytest

from engine.formats.dataset import Dataset, synthetic_ground_truth
from engine.formats.loaders import build_output
from engine.landscape.presets import load_preset
from engine.scoring.recovered_landscape import compare_wells, freedman_diaconis_bins, recovered_landscape
from engine.scoring.metric import score

KT = 0.596


def test_gaussian_sample_gives_a_quadratic_free_energy():
    """p ~ exp(-r^2 / 2 s^2)  =>  G = kT r^2 / (2 s^2) + const."""
    s = 1.5
    xy = np.random.default_rng(0).normal(0, s, (400_000, 2))
    rl = recovered_landscape(xy, KT, bins=40)
    xc = 0.5 * (rl.x_edges[1:] + rl.x_edges[:-1])
    yc = 0.5 * (rl.y_edges[1:] + rl.y_edges[:-1])
    analytic = KT * (xc[None, :] ** 2 + yc[:, None] ** 2) / (2 * s * s)
    well_sampled = rl.counts > 500
    diff = (rl.free_energy - analytic)[well_sampled]
    assert np.std(diff) < 0.05 and abs(np.median(diff)) < 0.1
    assert np.nanmin(rl.free_energy) == 0.0
    assert rl.free_energy[np.unravel_index(np.argmax(rl.counts), rl.counts.shape)] == 0.0


def test_empty_bins_are_nan_and_axes_follow_the_landscape_convention():
    rng = np.random.default_rng(1)
    xy = np.concatenate([rng.normal([2.0, -1.0], 0.1, (5000, 2)), rng.normal([-2.0, 1.0], 0.1, (500, 2))])
    rl = recovered_landscape(xy, KT, bins=40)
    assert rl.counts.shape == (40, 40) and np.isnan(rl.free_energy).mean() > 0.5
    assert np.isnan(rl.free_energy[rl.counts == 0]).all()
    # axis 0 is the second coordinate: the deep basin sits at x = +2, y = -1
    i2, i1 = np.unravel_index(np.nanargmin(rl.free_energy), rl.counts.shape)
    assert rl.x_edges[i1] <= 2.0 + 0.2 and rl.x_edges[i1 + 1] >= 2.0 - 0.2
    assert rl.y_edges[i2] <= -1.0 + 0.2 and rl.y_edges[i2 + 1] >= -1.0 - 0.2
    # ten times fewer particles in the other basin: about kT ln 10 higher
    assert rl.free_energy_at([-2.0], [1.0])[0] == pytest.approx(KT * np.log(10), abs=0.25)
    assert np.isnan(rl.free_energy_at([50.0], [0.0])[0])


def test_outliers_do_not_set_the_range_and_bins_are_bounded():
    rng = np.random.default_rng(2)
    xy = np.concatenate([rng.normal(0, 1, (50_000, 2)), np.full((10, 2), 1e6)])
    rl = recovered_landscape(xy, KT)
    x0, x1, y0, y1 = rl.extent
    assert -5 < x0 < -2 and 2 < x1 < 5 and -5 < y0 and y1 < 5
    assert rl.n_outside >= 10 and rl.counts.sum() + rl.n_outside == len(xy)
    assert 16 <= rl.counts.shape[0] <= 128 and 16 <= rl.counts.shape[1] <= 128
    assert freedman_diaconis_bins(np.zeros(100), 0.0, 1.0) == 16
    assert freedman_diaconis_bins(rng.normal(size=10**6), -5, 5) == 128


def test_explicit_bins_and_range():
    xy = np.random.default_rng(3).uniform(0, 1, (1000, 2))
    rl = recovered_landscape(xy, KT, bins=(10, 5), value_range=((0, 1), (0, 1)))
    assert rl.counts.shape == (5, 10) and rl.counts.sum() == 1000 and rl.n_outside == 0
    np.testing.assert_allclose(rl.x_edges, np.linspace(0, 1, 11))


def test_refused_inputs():
    with pytest.raises(ValueError, match=r"coords2d: must be \(M, 2\)"):
        recovered_landscape(np.zeros((5, 3)), KT)
    with pytest.raises(ValueError, match="coords2d: holds NaN"):
        recovered_landscape(np.array([[0.0, np.nan]]), KT)
    with pytest.raises(ValueError, match="kT_kcal_per_mol: must be > 0"):
        recovered_landscape(np.zeros((5, 2)), 0.0)
    with pytest.raises(ValueError, match="value_range: axis 0"):
        recovered_landscape(np.zeros((5, 2)), KT, value_range=((1, 1), (0, 1)))


def test_ground_truth_coordinates_recover_the_designed_landscape():
    land = load_preset("paper-3x4")
    gt = synthetic_ground_truth(land, 300_000, seed=3)
    truth = np.stack([gt.cc1_deg, gt.cc2_deg], axis=1)
    out = build_output("truth.npy", Dataset(gt), truth, kind="generic")
    s = score(gt, out)
    rl = recovered_landscape(truth, gt.kT_kcal_per_mol)
    cmp = compare_wells(s, rl, gt.kT_kcal_per_mol)
    basins = land.grid().basins
    # label occupancies are the Boltzmann basin occupancies; delta-G follows
    np.testing.assert_allclose(cmp.gt_occupancy, basins.occupancy, atol=0.004)
    np.testing.assert_allclose(cmp.gt_dG_kcal, basins.free_energy_kcal_per_mol, atol=0.05)
    # the metric's assignment is nearly perfect, so recovered occupancies match too
    np.testing.assert_allclose(cmp.recovered_occupancy, cmp.gt_occupancy, atol=0.01)
    assert cmp.spearman_rho > 0.95 and np.abs(cmp.dG_error_kcal).max() < 0.1
    # the histogram's depth at each centre ranks the wells like the designed energy there
    designed = land.energy(land.centres_deg[:, 0], land.centres_deg[:, 1])
    assert cmp.spearman_rho_centre > 0.9
    assert np.corrcoef(cmp.centre_G_kcal, designed)[0, 1] > 0.9


def test_a_method_that_merges_two_wells_loses_their_depth_ranking():
    land = load_preset("paper-3x4")
    gt = synthetic_ground_truth(land, 100_000, seed=4)
    truth = np.stack([gt.cc1_deg, gt.cc2_deg], axis=1)
    collapsed = truth.copy()
    collapsed[gt.well == 7] = land.centres_deg[5]  # well 7 is seen exactly where well 6 is
    out = build_output("merged.npy", Dataset(gt), collapsed, kind="generic")
    s = score(gt, out)
    cmp = compare_wells(s, None, gt.kT_kcal_per_mol)
    i6, i7 = 5, 6
    # centres 6 and 7 nearly coincide: the pair's particles split between them
    assert cmp.recovered_occupancy[i6] + cmp.recovered_occupancy[i7] == pytest.approx(
        cmp.gt_occupancy[i6] + cmp.gt_occupancy[i7], abs=0.01)
    assert abs(cmp.dG_error_kcal[i7]) > 0.1 or abs(cmp.dG_error_kcal[i6]) > 0.1
    assert np.isnan(cmp.centre_G_kcal).all() and np.isnan(cmp.spearman_rho_centre)

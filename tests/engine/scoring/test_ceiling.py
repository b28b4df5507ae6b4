"""The ideal-observer ceiling: physics of the posterior, its numerics, the controls.

Box 32, paper-3x4, a few hundred particles simulated in memory like a dataset's (conformations
from the landscape, uniform orientations, default defocus, white noise at the dataset's SNR
definition).
"""
from __future__ import annotations

import numpy as np
import pytest

from engine.imaging.ctf import CTFParams, ctf_2d, sample_defocus
from engine.imaging.noise import add_white_noise, calibrate_noise, particle_mask_radius_px
from engine.imaging.projector import TwoBodyProjector
from engine.landscape.presets import load_preset
from engine.landscape.sampling import sample_conformations
from engine.scoring.ceiling import (IdealObserver, accuracy_ci, bayes_label_scores, ground_truth_scores,
                                    label_scores, posterior_mean_scores, random_scores, snr_sweep,
                                    subsample)
from engine.scoring.ceiling_likelihood import TwoBodyLikelihood
from engine.scoring.metric import Scores
from engine.structure.object_model import build_ribosome_like
from engine.structure.rotations import uniform_euler_angles

BOX = 32


@pytest.fixture(scope="module")
def obj():
    return build_ribosome_like(BOX, seed=0)


@pytest.fixture(scope="module")
def land():
    return load_preset("paper-3x4")


@pytest.fixture(scope="module")
def observer(obj, land):
    return IdealObserver(obj, land)


@pytest.fixture(scope="module")
def particles(obj, land):
    """200 clean particles: (conformation sample, euler, defocus triple, ctf, clean images)."""
    n = 200
    rng = np.random.default_rng(0)
    sample = sample_conformations(land.sampling_grid(), n, rng)
    euler = uniform_euler_angles(n, rng)
    defocus = sample_defocus(n, rng)
    ctf = ctf_2d(BOX, obj.apix_A, *defocus, CTFParams())
    cc = np.stack([sample.cc1_deg, sample.cc2_deg], axis=1)
    return sample, euler, defocus, ctf, TwoBodyProjector(obj).project(euler, cc, None, ctf)


def noisy(obj, clean, snr, seed=5):
    sigma = calibrate_noise([clean], snr, particle_mask_radius_px(obj.diameter_A, obj.apix_A, BOX)).sigma
    return add_white_noise(clean, sigma, np.random.default_rng(seed)), sigma


def true_cc(sample):
    return np.stack([sample.cc1_deg, sample.cc2_deg], axis=1)


# --- the likelihood ---------------------------------------------------------------------------

def test_fourier_likelihood_equals_real_space_squared_residual(obj):
    """Parseval with the rfft half-plane weights and the Nyquist pixels: the Fourier-space
    log-likelihood differs from -||y - image(c)||^2 / (2 sigma^2) by one constant, with a
    sub-pixel origin shift and an astigmatic CTF."""
    proj, model = TwoBodyProjector(obj), TwoBodyLikelihood(obj)
    rng = np.random.default_rng(3)
    euler, origin = np.array([30.0, 70.0, -40.0]), np.array([3.3, -2.1])
    ctf = ctf_2d(BOX, obj.apix_A, 15000.0, 14000.0, 30.0, CTFParams())
    sigma = 0.3
    y = proj.project(euler[None], [5.0, -3.0], origin[None], ctf)[0] + sigma * rng.standard_normal((BOX, BOX))
    part = model.particle(y, euler, origin, ctf[0], sigma, bands=[4, 8, BOX // 2])
    cc = rng.uniform(-10, 10, (12, 2))
    ll = part.log_likelihood(cc, 2)
    direct = np.array([-((y - proj.project(euler[None], c, origin[None], ctf)[0]) ** 2).sum() / (2 * sigma ** 2)
                       for c in cc])
    assert np.ptp(direct) > 5  # the conformations are distinguishable at all
    np.testing.assert_allclose(ll - ll[0], direct - direct[0], atol=1e-3)


def test_a_band_is_the_likelihood_of_the_low_pass_filtered_image(obj):
    """The coarse levels' band k_max is the exact likelihood of the image filtered to
    |k| <= k_max (the noise there stays white, with the same sigma per Fourier mode)."""
    proj, model = TwoBodyProjector(obj), TwoBodyLikelihood(obj)
    rng = np.random.default_rng(4)
    euler = np.array([-100.0, 40.0, 10.0])
    ctf = ctf_2d(BOX, obj.apix_A, 20000.0, 20000.0, 0.0, CTFParams())
    sigma, k_max = 0.2, 5
    y = proj.project(euler[None], [0.0, 0.0], None, ctf)[0] + sigma * rng.standard_normal((BOX, BOX))
    part = model.particle(y, euler, None, ctf[0], sigma, bands=[k_max, BOX // 2])
    ky, kx = np.fft.fftfreq(BOX) * BOX, np.fft.rfftfreq(BOX) * BOX
    disc = (ky[:, None] ** 2 + kx[None, :] ** 2) <= k_max ** 2

    def low_pass(img):
        return np.fft.irfft2(np.fft.rfft2(img) * disc, s=(BOX, BOX))

    cc = rng.uniform(-12, 12, (10, 2))
    ll = part.log_likelihood(cc, 0)
    direct = np.array([-(low_pass(y - proj.project(euler[None], c, None, ctf)[0]) ** 2).sum() / (2 * sigma ** 2)
                       for c in cc])
    np.testing.assert_allclose(ll - ll[0], direct - direct[0], atol=1e-3)


# --- the posterior: its limits -------------------------------------------------------------------

def test_high_snr_reaches_the_truth(obj, observer, particles):
    sample, euler, defocus, _, clean = particles
    images, sigma = noisy(obj, clean[:80], 1000.0)
    res = observer.posterior(images, sigma, euler[:80], None, *(d[:80] for d in defocus))
    assert res.complete and len(res) == 80
    assert bayes_label_scores(res, sample.well[:80]).accuracy >= 0.98
    err = np.hypot(*(res.mean_deg - true_cc(sample)[:80]).T)
    assert np.median(err) < 0.2 and err.max() < 1.0  # degrees; wells are 8-9 degrees apart
    np.testing.assert_allclose(res.basin_mass.sum(1), 1.0, atol=1e-9)


def test_very_low_snr_falls_to_the_prior(obj, observer, particles):
    """No information: the posterior is the prior; the MAP well is the prior's most likely
    well, the posterior mean the prior mean, and classification falls to chance."""
    sample, euler, defocus, _, clean = particles
    images, sigma = noisy(obj, clean, 1e-6)
    res = observer.posterior(images, sigma, euler, None, *defocus)
    np.testing.assert_allclose(res.basin_mass, np.broadcast_to(res.basin_prior, res.basin_mass.shape), atol=5e-3)
    assert np.all(res.map_well == np.argmax(res.basin_prior) + 1)
    fine = observer.grid.levels[-1]
    prior_mean = fine.prior @ fine.centroid
    np.testing.assert_allclose(res.mean_deg, np.broadcast_to(prior_mean, res.mean_deg.shape), atol=0.3)
    assert bayes_label_scores(res, sample.well, rule="map").accuracy == pytest.approx(1 / 12)
    assert bayes_label_scores(res, sample.well).accuracy < 0.25


def test_accuracy_grows_with_snr(obj, land, observer):
    rows = snr_sweep(obj, land, [0.01, 0.3, 10.0], n_particles=120, seed=2, observer=observer)
    assert [r.snr for r in rows] == [0.01, 0.3, 10.0]
    acc = [r.accuracy for r in rows]
    assert acc[0] < acc[1] < acc[2] and acc[2] > 0.9
    for r in rows:
        assert r.ci[0] <= r.accuracy <= r.ci[1]


# --- the numerics: coarse-to-fine against the full fine grid ----------------------------------

@pytest.mark.parametrize("max_step_sd", [1e-3, 3.0])
def test_coarse_to_fine_equals_the_full_fine_grid(obj, land, particles, max_step_sd):
    """The search (8 -> 64 blocks per axis) against every block of the 64^2 level with the
    full band. Forced down to the finest level (max_step_sd tiny) only pruning differs (a
    tail of 1e-3 per level); stopping where resolved (the default) adds the quadrature error."""
    sample, euler, defocus, _, clean = particles
    n = 12
    images, sigma = noisy(obj, clean[:n], 1.0)
    args = (images, sigma, euler[:n], None) + tuple(d[:n] for d in defocus)
    fast = IdealObserver(obj, land, coarse_cells=8, fine_cells=64, max_step_sd=max_step_sd).posterior(*args)
    full_grid = IdealObserver(obj, land, coarse_cells=64, fine_cells=64, tail_mass=1e-300)
    ref = full_grid.posterior(*args)  # one level: every block (but those of mass < 1e-16) in full
    assert np.all(ref.n_evaluations[:, -1] > 0.9 * (full_grid.grid.levels[0].prior > 0).sum())
    # pruning drops <= 1e-3 of a level's posterior *on average over images* (one far mode of
    # a particle may lose ~1 %); the resolved stop adds the in-block quadrature's error
    tv = 0.5 * np.abs(fast.basin_mass - ref.basin_mass).sum(1)  # total variation per particle
    assert tv.max() < 0.02 and tv.mean() < (5e-3 if max_step_sd < 1 else 0.01)
    np.testing.assert_allclose(fast.mean_deg, ref.mean_deg, atol=0.15)
    assert np.mean(fast.balanced_well == ref.balanced_well) >= 11 / 12
    if max_step_sd > 1:  # the point of the search: a fraction of the full-band evaluations
        assert fast.n_evaluations[:, -1].mean() < 0.2 * ref.n_evaluations[:, -1].mean()


def test_threads_and_stopping(obj, observer, particles):
    sample, euler, defocus, _, clean = particles
    images, sigma = noisy(obj, clean[:48], 1.0)
    args = (images, sigma, euler[:48], None) + tuple(d[:48] for d in defocus)
    one = observer.posterior(*args)
    seen = []
    two = observer.posterior(*args, workers=2, progress=seen.append)
    np.testing.assert_array_equal(one.basin_mass, two.basin_mass)
    assert seen[-1] == 1.0 and seen == sorted(seen)
    part = observer.posterior(*args, should_stop=lambda: True)
    assert not part.complete and 0 < len(part) < 48
    np.testing.assert_array_equal(part.basin_mass, one.basin_mass[part.index])


# --- the ceiling against a method, and the controls -------------------------------------------

@pytest.mark.parametrize("snr", [0.3, 3.0])
def test_ideal_observer_beats_template_matching_on_the_same_images(obj, land, observer, particles, snr):
    """A method given the same noisy images and the true poses and CTF: each particle goes to
    the well whose centre's image is nearest (least squares). The ideal observer is not worse,
    by classification or by the metric on its posterior means."""
    sample, euler, defocus, ctf, clean = particles
    images, sigma = noisy(obj, clean, snr)
    res = observer.posterior(images, sigma, euler, None, *defocus)
    proj = TwoBodyProjector(obj)
    centres = land.centres_deg
    resid = np.stack([((images - proj.project(euler, c, None, ctf)) ** 2).sum((1, 2)) for c in centres], 1)
    method = label_scores(sample.well, np.argmin(resid, 1) + 1, centres, "templates")
    lo, hi = accuracy_ci(bayes_label_scores(res, sample.well))
    assert method.accuracy <= hi
    assert bayes_label_scores(res, sample.well).accuracy >= method.accuracy - 0.02
    assert posterior_mean_scores(res, sample.well).accuracy >= method.accuracy - 0.05


def test_posterior_is_calibrated(obj, observer, particles):
    """The probability the posterior gives its MAP basin is how often that basin is the true
    one, and the mass it puts on the true basin averages sum_n P(n)^2 (the simulation's
    labels, never seen by the observer, are the judge)."""
    sample, euler, defocus, _, clean = particles
    images, sigma = noisy(obj, clean, 1.0)
    res = observer.posterior(images, sigma, euler, None, *defocus)
    hit = res.map_well == sample.well
    assert abs(res.basin_mass.max(1).mean() - hit.mean()) < 3 * hit.std() / np.sqrt(len(hit)) + 0.01
    on_true = res.basin_mass[np.arange(len(res)), sample.well - 1]
    assert on_true.mean() == pytest.approx((res.basin_mass ** 2).sum(1).mean(), abs=0.05)


def test_controls_ground_truth_near_100_and_random_at_chance(land):
    sample = sample_conformations(land.sampling_grid(), 6000, 1)
    truth = ground_truth_scores(true_cc(sample), sample.well)
    assert isinstance(truth, Scores) and truth.accuracy > 0.95
    rand = random_scores(sample.well, seed=3)
    assert isinstance(rand, Scores) and list(rand.wells) == list(range(1, 13))
    lo, hi = accuracy_ci(rand)
    assert lo < 1 / 12 < hi and hi - lo < 0.05


def test_accuracy_ci_normal_and_bootstrap_agree():
    rng = np.random.default_rng(0)
    true = rng.integers(1, 5, 2000)
    assigned = np.where(rng.random(2000) < 0.7, true, rng.integers(1, 5, 2000))
    s = label_scores(true, assigned, np.zeros((4, 2)), "x")
    normal, boot = accuracy_ci(s), accuracy_ci(s, method="bootstrap", seed=1)
    for lo, hi in (normal, boot):
        assert lo < s.accuracy < hi
    assert abs((normal[1] - normal[0]) - (boot[1] - boot[0])) < 0.01
    perfect = label_scores(true, true, np.zeros((4, 2)), "x")
    assert accuracy_ci(perfect)[1] == 1.0 and accuracy_ci(perfect)[0] > 0.99


def test_subsample_is_seeded_distinct_and_sorted():
    a, b = subsample(1000, 100, seed=4), subsample(1000, 100, seed=4)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 100 and np.all(np.diff(a) > 0) and a.max() < 1000
    assert not np.array_equal(a, subsample(1000, 100, seed=5))
    np.testing.assert_array_equal(subsample(50, None), np.arange(50))
    np.testing.assert_array_equal(subsample(50, 80), np.arange(50))

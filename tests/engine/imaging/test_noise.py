"""Noise at a target SNR with DESIGN.md's definition, measured back on generated images."""
import numpy as np
import pytest

from engine.imaging.ctf import CTFParams, ctf_2d, sample_defocus
from engine.imaging.noise import (SNR_DEFINITION, NoiseCalibration, add_white_noise, calibrate_noise, disk_mask,
                                  noise_sigma, particle_mask_radius_px, signal_variance)
from engine.structure.object_model import build_ribosome_like
from engine.imaging.projector import TwoBodyProjector
from engine.structure.rotations import uniform_euler_angles

D = 40


@pytest.fixture(scope="module")
def proj():
    return TwoBodyProjector(build_ribosome_like(D, seed=0))


def test_signal_variance_uses_only_the_centred_disk():
    img = np.full((2, 32, 32), 100.0, np.float32)  # outside the disk: large, ignored
    inside = disk_mask(32, 10.0)
    checker = np.where((np.indices((32, 32)).sum(0) % 2) == 0, 1.0, -1.0)
    img[0][inside] = 3.0 * checker[inside]
    img[1][inside] = 5.0 + 1.0 * checker[inside]
    assert signal_variance(img, 10.0) == pytest.approx((9.0 + 1.0) / 2, rel=0.01)
    assert inside[16, 26] and not inside[16, 27] and inside.sum() == pytest.approx(np.pi * 100, rel=0.03)


def test_noise_sigma_and_validation():
    assert noise_sigma(4.0, 0.25) == pytest.approx(4.0)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="snr"):
            noise_sigma(1.0, bad)


def test_white_noise_statistics_and_reproducibility():
    images = np.zeros((64, 32, 32), np.float32)
    noisy = add_white_noise(images, 2.5, np.random.default_rng(4))
    assert noisy.dtype == np.float32 and noisy is not images and not images.any()
    assert noisy.std() == pytest.approx(2.5, rel=0.01)
    assert abs(noisy.mean()) < 0.02
    np.testing.assert_array_equal(noisy, add_white_noise(images, 2.5, np.random.default_rng(4)))
    # white: neighbouring pixels are uncorrelated
    assert abs(np.corrcoef(noisy[:, :, :-1].ravel(), noisy[:, :, 1:].ravel())[0, 1]) < 0.01
    same = add_white_noise(images, 2.5, np.random.default_rng(4), in_place=True)
    assert same is images
    np.testing.assert_array_equal(images, noisy)


def _clean_batches(proj, rng, n, batch=256, cc_range_deg=0.0, ctf=True):
    """Clean images of random orientations (and conformations, defocus), ``batch`` at a time."""
    for lo in range(0, n, batch):
        b = min(batch, n - lo)
        euler = uniform_euler_angles(b, rng)
        cc = rng.uniform(-cc_range_deg, cc_range_deg, (b, 2))
        ctf_b = ctf_2d(D, proj.apix_A, *sample_defocus(b, rng), CTFParams()) if ctf else None
        yield proj.project(euler, cc, None, ctf_b)


@pytest.mark.parametrize("snr", [0.1, 1.0])
def test_measured_snr_of_generated_images_equals_the_request(proj, snr):
    radius = particle_mask_radius_px(proj.obj.diameter_A, proj.apix_A, D)
    cal = calibrate_noise(_clean_batches(proj, np.random.default_rng(1), 1024), snr, radius)
    assert isinstance(cal, NoiseCalibration) and cal.definition == SNR_DEFINITION
    assert cal.n_calibration_images == 1024 and cal.mask_radius_px == radius
    assert radius == pytest.approx(proj.obj.diameter_A / 2 / proj.apix_A)
    assert cal.sigma == pytest.approx(np.sqrt(cal.signal_variance / snr))
    # a fresh dataset: other orientations and defoci, conformations too, noise from another stream
    clean = next(_clean_batches(proj, np.random.default_rng(2), 1024, batch=1024, cc_range_deg=10.0))
    noisy = add_white_noise(clean, cal.sigma, np.random.default_rng(3))
    inside = disk_mask(D, cal.mask_radius_px)
    noise_var = (noisy - clean)[:, inside].astype(np.float64).var(axis=1).mean()
    measured = signal_variance(clean, cal.mask_radius_px) / noise_var
    assert measured == pytest.approx(snr, rel=0.05)
    # the same number seen from the noisy images alone: var(noisy) = signal + noise
    assert signal_variance(noisy, cal.mask_radius_px) / noise_var - 1 == pytest.approx(snr, rel=0.05)


def test_calibration_is_the_image_weighted_mean_over_batches(proj):
    images = list(_clean_batches(proj, np.random.default_rng(6), 80, batch=32, ctf=False))
    cal = calibrate_noise(iter(images), 2.0, 12.0, definition="mine")
    assert [len(b) for b in images] == [32, 32, 16] and cal.n_calibration_images == 80
    assert cal.signal_variance == pytest.approx(signal_variance(np.concatenate(images), 12.0), rel=1e-12)
    assert (cal.mask_radius_px, cal.definition, cal.to_dict()["sigma"]) == (12.0, "mine", cal.sigma)
    with_ctf = calibrate_noise(_clean_batches(proj, np.random.default_rng(6), 80, batch=32), 2.0, 12.0)
    # with Q0 = 0.1 the CTF removes most low-frequency contrast: much less signal variance
    assert with_ctf.signal_variance < 0.8 * cal.signal_variance
    noiseless = calibrate_noise(iter(images), None, 12.0)
    assert noiseless.sigma == 0.0 and noiseless.snr is None and noiseless.signal_variance == cal.signal_variance
    assert noiseless.at_snr(2.0) == calibrate_noise(iter(images), 2.0, 12.0) and cal.at_snr(None).sigma == 0.0
    with pytest.raises(ValueError, match="no calibration images"):
        calibrate_noise(iter([]), 1.0, 12.0)


def test_mask_radius_is_the_particle_radius_within_the_box():
    assert particle_mask_radius_px(200.0, 4.0, 64) == 25.0
    assert particle_mask_radius_px(400.0, 4.0, 64) == 32.0

"""FSC, resolution and real-space correlation (engine.structure.fsc) against cases whose answer
is known: a map with itself, with independent noise, with its own low-passed copy."""
import math

import numpy as np
import pytest
from scipy import ndimage

from engine.structure.fsc import (FSC_GOLD, FSC_HALF, compare_maps, fsc, real_space_correlation, resolution_A,
                                  shell_frequencies_per_A)

APIX_A = 5.0


def blobs(d: int, seed: int = 0) -> np.ndarray:
    """A positive, object-like map: smoothed noise inside a sphere of radius d/3."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices((d, d, d)) - d // 2
    sphere = (x * x + y * y + z * z) < (d / 3) ** 2
    return (ndimage.gaussian_filter(rng.random((d, d, d)), 1.0) * sphere).astype(np.float32)


def low_pass(volume: np.ndarray, resolution_A_: float, apix_A: float) -> np.ndarray:
    """A hard spherical low-pass: Fourier components finer than ``resolution_A_`` set to zero."""
    d = volume.shape[0]
    f = np.fft.fftfreq(d, d=apix_A)
    radius = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + f[None, None, :] ** 2)
    return np.fft.ifftn(np.fft.fftn(volume) * (radius <= 1.0 / resolution_A_)).real


def shell_counts(d: int) -> np.ndarray:
    f = np.fft.fftfreq(d) * d
    shell = np.rint(np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + f[None, None, :] ** 2)).astype(int)
    return np.bincount(shell.ravel())[: d // 2 + 1]


@pytest.mark.parametrize("d", [32, 33])
def test_fsc_of_a_map_with_itself_is_one_in_every_shell(d):
    a = blobs(d)
    curve = fsc(a, a)
    assert curve.shape == (d // 2 + 1,)
    np.testing.assert_allclose(curve, 1.0, atol=1e-9)
    assert fsc(a, 3.0 * a + 0.0)[1:] == pytest.approx(1.0)   # a scale does not change any shell


def test_fsc_with_independent_noise_is_near_zero():
    d = 64
    rng = np.random.default_rng(1)
    curve = fsc(rng.normal(size=(d, d, d)), rng.normal(size=(d, d, d)))
    # a shell of n voxels holds n/2 independent complex pairs: FSC spread about 1/sqrt(n/2)
    spread = 1.0 / np.sqrt(shell_counts(d)[1:] / 2)
    assert np.all(np.abs(curve[1:]) < 5 * spread), curve
    assert abs(curve[4:].mean()) < 0.02


def test_fsc_refuses_maps_that_are_not_the_same_cube():
    with pytest.raises(ValueError, match="same shape"):
        fsc(np.zeros((8, 8, 8)), np.zeros((10, 10, 10)))
    with pytest.raises(ValueError, match="cubic"):
        fsc(np.zeros((8, 8, 9)), np.zeros((8, 8, 9)))


@pytest.mark.parametrize("cutoff_A", [15.0, 22.0, 40.0])
def test_a_map_low_passed_at_R_gives_fsc_half_near_R(cutoff_A):
    d = 64
    a = blobs(d, seed=2)
    freq = shell_frequencies_per_A(d, APIX_A)
    found = resolution_A(fsc(a, low_pass(a, cutoff_A, APIX_A)), freq, FSC_HALF)
    # the cut lies inside one shell (1 / (D apix) wide): within a shell of R in frequency
    assert abs(1 / found - 1 / cutoff_A) < freq[1], (found, cutoff_A)


def test_resolution_interpolates_between_the_shells_either_side_of_the_threshold():
    freq = shell_frequencies_per_A(16, 2.0)                   # shell k at k / 32 1/A
    curve = np.array([1.0, 0.9, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1, 0.0])
    assert resolution_A(curve, freq, 0.5) == pytest.approx(1 / (3.5 / 32))
    assert resolution_A(curve, freq, FSC_GOLD) == pytest.approx(1 / ((6 + 0.57) / 32))
    assert resolution_A(np.ones(9), freq, 0.5) == pytest.approx(4.0)     # never below: Nyquist, 2 apix
    assert resolution_A(np.r_[1.0, np.zeros(8)], freq, 0.5) == math.inf  # nothing resolved
    # a curve that dips and recovers: the first crossing counts
    assert resolution_A(np.array([1, 0.9, 0.4, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]), freq, 0.5) == pytest.approx(32 / 1.8)
    with pytest.raises(ValueError, match="same shells"):
        resolution_A(curve, freq[:-1])


def test_real_space_correlation_ignores_scale_offset_and_what_the_mask_leaves_out():
    a = blobs(24).astype(np.float64)
    rng = np.random.default_rng(3)
    assert real_space_correlation(a, a) == pytest.approx(1.0)
    assert real_space_correlation(a, -2.0 * a + 7.0) == pytest.approx(-1.0)
    mask = (a > 0).astype(np.float32)
    b = np.where(mask > 0, 4.0 * a, rng.normal(size=a.shape))      # equal inside, noise outside
    assert real_space_correlation(a, b, mask) == pytest.approx(1.0)
    assert real_space_correlation(a, b) < 0.9
    # a soft mask weighs voxels: half weight on the noise gives a value between the two
    assert real_space_correlation(a, b) < real_space_correlation(a, b, np.maximum(mask, 0.5)) < 1.0
    with pytest.raises(ValueError, match="mask"):
        real_space_correlation(a, b, np.zeros_like(a))


def test_compare_maps_masks_the_solvent_and_ranks_noisier_maps_lower():
    d = 32
    truth = blobs(d, seed=4)
    rng = np.random.default_rng(5)
    solvent_noise = np.where(truth > 0, 0.0, rng.normal(scale=truth.std(), size=truth.shape))
    clean = compare_maps(truth + solvent_noise, truth, APIX_A, mask=(truth > 0).astype(np.float32))
    assert clean.correlation == pytest.approx(1.0)
    assert clean.resolution_fsc05_A == pytest.approx(2 * APIX_A)           # every shell > 0.5: Nyquist
    assert clean.frequency_per_A.shape == clean.curve.shape == (d // 2 + 1,)
    noisy = [compare_maps(truth + rng.normal(scale=s * truth.std(), size=truth.shape), truth, APIX_A)
             for s in (0.5, 2.0)]
    assert 1.0 > noisy[0].correlation > noisy[1].correlation
    assert noisy[0].resolution_fsc05_A < noisy[1].resolution_fsc05_A
    assert noisy[0].resolution_fsc0143_A <= noisy[0].resolution_fsc05_A   # the lenient threshold reaches finer

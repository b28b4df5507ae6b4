"""Two-body Fourier-slice projector against direct real-space projection, and its invariants."""
import numpy as np
import pytest
import scipy.fft
from scipy import ndimage

from engine.imaging.ctf import CTFParams, ctf_2d
from engine.structure.object_model import TwoBodyObject, build_ribosome_like, composite_map
from engine.imaging.projector import TwoBodyProjector
from engine.structure.rotations import relion_matrix, uniform_euler_angles

D = 64


@pytest.fixture(scope="module")
def obj():
    return build_ribosome_like(D, seed=0)


@pytest.fixture(scope="module")
def proj(obj):
    return TwoBodyProjector(obj)


def real_space_projection(vol, a, order=5):
    """img(x, y) = sum_z V(A^T (x, y, z)): resample the map on the rotated grid (spline of the
    given order) and sum along the viewing direction. (D, D) [y, x]."""
    d = vol.shape[0]
    ax = np.arange(d) - d // 2
    z, y, x = np.meshgrid(ax, ax, ax, indexing="ij")
    src = a.T @ np.stack([x.ravel(), y.ravel(), z.ravel()])  # (x, y, z) voxel coordinates
    vals = ndimage.map_coordinates(vol.astype(np.float64), src[::-1] + d // 2, order=order, mode="constant")
    return vals.reshape(d, d, d).sum(axis=0)


def frc(a, b):
    """Fourier ring correlation per integer ring radius 0 .. D/2."""
    d = a.shape[0]
    fa, fb = np.fft.fft2(a), np.fft.fft2(b)
    k = np.fft.fftfreq(d) * d
    ring = np.rint(np.hypot(*np.meshgrid(k, k))).astype(int).ravel()
    num = np.bincount(ring, (fa * fb.conj()).real.ravel())
    den = np.sqrt(np.bincount(ring, np.abs(fa.ravel()) ** 2) * np.bincount(ring, np.abs(fb.ravel()) ** 2))
    return (num / den)[: d // 2 + 1]


def corr(a, b):
    return np.corrcoef(np.ravel(a), np.ravel(b))[0, 1]


def _local_centroid(image, centre_px, radius_px=6):
    """Centroid (x, y) in pixels from the image centre, of the pixels within radius_px of
    centre_px: the 2x padded trilinear slice leaves faint ghosts (~0.3 %) elsewhere in the box."""
    d = image.shape[0]
    yy, xx = np.mgrid[:d, :d] - d // 2
    w = np.where(np.hypot(xx - centre_px[0], yy - centre_px[1]) <= radius_px, image, 0)
    return np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()


def _blob_map(d, apix, centre_A, sigma_A):
    ax = (np.arange(d) - d // 2) * apix
    z, y, x = np.meshgrid(ax, ax, ax, indexing="ij")
    r2 = (x - centre_A[0]) ** 2 + (y - centre_A[1]) ** 2 + (z - centre_A[2]) ** 2
    return np.exp(-0.5 * r2 / sigma_A ** 2).astype(np.float32)


def test_agrees_with_real_space_projection_of_the_composite(obj, proj):
    rng = np.random.default_rng(11)
    n = 4
    euler = uniform_euler_angles(n, rng)
    cc = rng.uniform(-20, 20, (n, 2))
    images = proj.project(euler, cc)
    assert images.shape == (n, D, D) and images.dtype == np.float32
    ring_08 = int(0.8 * D / 2)
    for b in range(n):
        a = relion_matrix(*euler[b])[0]
        ref = real_space_projection(composite_map(obj, *cc[b], order=5), a)
        assert corr(images[b], ref) > 0.999
        f = frc(images[b], ref)
        assert f[1: ring_08 + 1].min() > 0.98, f"FRC up to 0.8 Nyquist: {np.round(f[: ring_08 + 1], 4)}"
        # amplitudes too: total density exact, 1 % relative error overall (without the
        # gridding correction it is 3 %, with RELION's inflated zero frequency 2 %)
        assert images[b].sum() / ref.sum() == pytest.approx(1.0, abs=1e-3)
        assert np.linalg.norm(images[b] - ref) / np.linalg.norm(ref) < 0.015
        # teeth: the transposed matrix (A instead of A^T), or a transposed or flipped image,
        # disagree by far more than the interpolation error
        error = 1 - corr(images[b], ref)
        wrong = real_space_projection(composite_map(obj, *cc[b], order=5), a.T, order=1)
        for other in (wrong, ref.T, ref[::-1]):
            assert 1 - corr(images[b], other) > 50 * error


def test_two_body_slice_equals_one_body_projection_of_the_composite(obj, proj):
    rng = np.random.default_rng(5)
    euler = uniform_euler_angles(3, rng)
    cc = np.array([[25.0, -20.0], [-8.0, 14.0], [0.0, 0.0]])
    images = proj.project(euler, cc)
    empty = np.zeros_like(obj.ssu)
    for b in range(3):
        full = composite_map(obj, *cc[b], order=5)
        one_body = TwoBodyProjector(TwoBodyObject(full, empty, empty, obj.apix_A, obj.pivot_A, obj.axis1, obj.axis2))
        ref = one_body.project(euler[b: b + 1], [0.0, 0.0])[0]
        if b == 2:  # at rest the two slices add up exactly to the slice of LSU + SSU
            np.testing.assert_allclose(images[b], ref, atol=1e-5 * np.abs(ref).max())
        else:
            assert corr(images[b], ref) > 0.9999


@pytest.mark.parametrize("box", [48, 47])
def test_a_point_at_r_projects_to_pixel_A_r_minus_origin(box):
    apix = 5.0
    r = np.array([30.0, -45.0, 20.0])
    lsu = _blob_map(box, apix, r, 8.0)
    empty = np.zeros_like(lsu)
    p = TwoBodyProjector(TwoBodyObject(lsu, empty, empty, apix, [0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]))
    rng = np.random.default_rng(2)
    euler = uniform_euler_angles(5, rng)
    origin_A = rng.uniform(-10, 10, (5, 2))
    images = p.project(euler, [0.0, 0.0], origin_A)
    for b in range(5):
        expect = ((relion_matrix(*euler[b])[0] @ r)[:2] - origin_A[b]) / apix
        np.testing.assert_allclose(_local_centroid(images[b], expect), expect, atol=0.02)


def test_pivot_point_projects_to_the_same_place_in_every_conformation(obj):
    apix = 5.0
    pivot = np.array([20.0, -10.0, 35.0])
    ssu = _blob_map(48, apix, pivot, 8.0)
    lsu = _blob_map(48, apix, [-40.0, 0.0, 0.0], 10.0)
    p = TwoBodyProjector(TwoBodyObject(lsu, ssu, np.ones_like(ssu), apix, pivot, [0, 1.0, 0], [0, 0, 1.0]))
    euler = np.repeat(uniform_euler_angles(1, np.random.default_rng(4)), 3, axis=0)
    images = p.project(euler, [[0.0, 0.0], [30.0, 0.0], [-20.0, 25.0]])
    at = (relion_matrix(*euler[0])[0] @ pivot)[:2] / apix
    for b in (1, 2):
        np.testing.assert_allclose(_local_centroid(images[b], at), _local_centroid(images[0], at), atol=0.01)
        assert corr(images[b], images[0]) > 0.999


def test_origin_shift_moves_the_particle_to_centre_minus_origin(obj, proj):
    euler = uniform_euler_angles(1, np.random.default_rng(8))
    base = proj.project(euler, [3.0, 4.0])[0]
    shifted = proj.project(euler, [3.0, 4.0], origin_A=[[3 * obj.apix_A, -2 * obj.apix_A]])[0]
    np.testing.assert_allclose(shifted, np.roll(base, (2, -3), axis=(0, 1)), atol=1e-5 * np.abs(base).max())


def test_ctf_is_applied_in_fourier_space_before_the_single_inverse_fft(obj, proj):
    rng = np.random.default_rng(9)
    euler = uniform_euler_angles(3, rng)
    cc = rng.uniform(-10, 10, (3, 2))
    ctf = ctf_2d(D, obj.apix_A, [15000.0, 20000.0, 9000.0], [14000.0, 19000.0, 9000.0], [10.0, 80.0, 0.0],
                 CTFParams())
    clean_spec = proj.project_fourier(euler, cc)
    assert clean_spec.dtype == np.complex64 and clean_spec.shape == (3, D, D // 2 + 1)
    with_ctf = proj.project(euler, cc, None, ctf)
    expect = scipy.fft.irfft2(clean_spec * ctf, s=(D, D))
    np.testing.assert_allclose(with_ctf, expect, atol=1e-5 * np.abs(expect).max())
    # the spectrum is band-limited to the Nyquist circle
    k = np.hypot(*np.meshgrid(np.fft.rfftfreq(D) * D, np.fft.fftfreq(D) * D))
    assert np.all(clean_spec[:, k > D / 2] == 0)


def test_batches_agree_with_single_images(obj, proj):
    rng = np.random.default_rng(10)
    euler = uniform_euler_angles(6, rng)
    cc = rng.uniform(-15, 15, (6, 2))
    origin = rng.uniform(-10, 10, (6, 2))
    batch = proj.project(euler, cc, origin)
    for b in range(6):
        np.testing.assert_allclose(proj.project(euler[b], cc[b], origin[b: b + 1])[0], batch[b], atol=1e-6)


def test_argument_shapes_are_checked(proj):
    with pytest.raises(ValueError, match="euler_deg"):
        proj.project(np.zeros((2, 2)), [0.0, 0.0])
    with pytest.raises(ValueError, match="cc_deg"):
        proj.project(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="ctf"):
        proj.project(np.zeros((2, 3)), [0.0, 0.0], None, np.zeros((2, D, D), np.float32))
    with pytest.raises(ValueError, match="pad"):
        TwoBodyProjector(proj.obj, pad=0)

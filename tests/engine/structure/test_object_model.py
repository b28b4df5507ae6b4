"""The built-in two-body object and real-space conformations: shape, mass, pivot, physics."""
import numpy as np
import pytest

from engine.structure.object_model import (TwoBodyObject, build_ribosome_like, composite_map, composite_maps,
                                           default_apix_A, make_soft_mask, orthonormal_axes, rotate_about_point,
                                           ssu_transform)
from engine.structure.rotations import conformation_matrix


@pytest.fixture(scope="module")
def obj():
    return build_ribosome_like(64, seed=0)


def _positions_A(d, apix):
    """(D, D, D, 3) voxel positions (x, y, z) in Angstrom."""
    ax = (np.arange(d) - d // 2) * apix
    z, y, x = np.meshgrid(ax, ax, ax, indexing="ij")
    return np.stack([x, y, z], axis=-1)


def _centre_of_mass_A(vol, apix):
    return np.einsum("zyx,zyxk->k", vol, _positions_A(vol.shape[0], apix)) / vol.sum()


def _blob(d, apix, centre_A, sigma_A):
    r = _positions_A(d, apix) - np.asarray(centre_A)
    return np.exp(-0.5 * (r ** 2).sum(-1) / sigma_A ** 2).astype(np.float32)


def test_builds_two_bodies_with_two_thirds_one_third_mass(obj):
    assert obj.lsu.shape == obj.ssu.shape == obj.ssu_mask.shape == (64, 64, 64)
    assert obj.lsu.dtype == np.float32
    assert obj.apix_A == pytest.approx(default_apix_A(64))
    assert obj.mass_fraction_lsu == pytest.approx(2 / 3, abs=1e-6)
    assert obj.lsu.min() >= 0 and obj.ssu.min() >= 0
    assert (obj.lsu + obj.ssu).max() == pytest.approx(1.0, rel=1e-5)


def test_about_250_angstrom_across_and_centred(obj):
    vol = obj.lsu + obj.ssu
    idx = np.argwhere(vol > 0.05 * vol.max())
    extent = (idx.max(0) - idx.min(0) + 1) * obj.apix_A
    assert 230 < extent.max() < 280
    np.testing.assert_allclose(_centre_of_mass_A(vol, obj.apix_A), 0.0, atol=obj.apix_A)
    assert 250 < obj.diameter_A < 64 * obj.apix_A


def test_any_box_and_pixel_size_and_seed_determinism():
    a = build_ribosome_like(45, apix_A=7.0, seed=3)  # odd box, explicit pixel size
    b = build_ribosome_like(45, apix_A=7.0, seed=3)
    c = build_ribosome_like(45, apix_A=7.0, seed=4)
    np.testing.assert_array_equal(a.lsu, b.lsu)
    np.testing.assert_array_equal(a.ssu, b.ssu)
    assert np.corrcoef(a.lsu.ravel(), c.lsu.ravel())[0, 1] < 0.999
    assert a.mass_fraction_lsu == pytest.approx(2 / 3, abs=1e-6)
    np.testing.assert_allclose(_centre_of_mass_A(a.lsu + a.ssu, 7.0), 0.0, atol=7.0)
    with pytest.raises(ValueError, match="too small"):
        build_ribosome_like(32, apix_A=5.0)


def test_band_limited(obj):
    power = np.abs(np.fft.fftn(obj.lsu + obj.ssu)) ** 2
    k = np.sqrt(sum(f ** 2 for f in np.meshgrid(*[np.fft.fftfreq(64)] * 3, indexing="ij")))
    assert power[k > 0.45].sum() / power.sum() < 1e-7  # nothing near Nyquist (0.5 cycles/voxel)
    assert power[(k > 0.2) & (k < 0.3)].sum() / power.sum() > 1e-6  # but detail at mid resolution


def test_clearly_asymmetric(obj):
    # no rotational symmetry: turning the map by 90 or 180 degrees about any axis changes it a
    # lot (a symmetric object, e.g. two spheres, would correlate 1.0 with one of these)
    vol = obj.lsu + obj.ssu
    turned = [np.rot90(vol, k, axes) for axes in ((0, 1), (0, 2), (1, 2)) for k in (1, 2, 3)]
    for other in turned:
        assert np.corrcoef(vol.ravel(), other.ravel())[0, 1] < 0.9


def test_pivot_and_axes_like_a_ribosome(obj):
    apix = obj.apix_A
    com_l, com_s = _centre_of_mass_A(obj.lsu, apix), _centre_of_mass_A(obj.ssu, apix)
    p = obj.pivot_A
    np.testing.assert_allclose([obj.axis1 @ obj.axis1, obj.axis2 @ obj.axis2, obj.axis1 @ obj.axis2], [1, 1, 0],
                               atol=1e-12)
    # axis1 is the interface normal: LSU behind the pivot, SSU in front
    assert (com_l - p) @ obj.axis1 < -30 and (com_s - p) @ obj.axis1 > 10
    # the pivot is at the interface: both subunits have density within a few voxels of it
    pos = _positions_A(64, apix)
    for body in (obj.lsu, obj.ssu):
        near = np.linalg.norm(pos[body > 0.1 * body.max()] - p, axis=1).min()
        assert near < 15.0
    # axis2 runs along the SSU's long axis (its largest principal direction)
    w = obj.ssu / obj.ssu.sum()
    r = pos - com_s
    cov = np.einsum("zyx,zyxi,zyxj->ij", w, r, r)
    long_axis = np.linalg.eigh(cov)[1][:, -1]
    assert abs(long_axis @ obj.axis2) > 0.9


def test_ssu_mask_covers_the_ssu(obj):
    m = obj.ssu_mask
    assert m.min() >= 0 and m.max() == 1
    assert np.any((m > 0.05) & (m < 0.95))  # soft edge
    assert (obj.ssu * m).sum() / obj.ssu.sum() > 0.97
    assert (obj.lsu * m).sum() / obj.lsu.sum() < 0.25


def test_composite_at_rest_is_lsu_plus_ssu(obj):
    np.testing.assert_array_equal(composite_map(obj, 0.0, 0.0), obj.lsu + obj.ssu)


def test_rotation_about_pivot_conserves_mass_and_moves_the_ssu_rigidly(obj):
    cc1, cc2 = 15.0, -10.0
    vol = composite_map(obj, cc1, cc2)
    assert vol.sum() == pytest.approx(obj.lsu.sum() + obj.ssu.sum(), rel=1e-3)
    moved = vol - obj.lsu
    rc, t = ssu_transform(obj, cc1, cc2)
    np.testing.assert_allclose(_centre_of_mass_A(moved, obj.apix_A), rc @ _centre_of_mass_A(obj.ssu, obj.apix_A) + t,
                               atol=0.05 * obj.apix_A)
    np.testing.assert_allclose(t, obj.pivot_A - rc @ obj.pivot_A)


def test_pivot_stays_put_and_points_turn_right_handed():
    d, apix = 48, 6.0
    pivot = np.array([12.0, -18.0, 24.0])
    lsu = _blob(d, apix, [-40.0, 0.0, 0.0], 12.0)

    def turned_ssu(ssu):  # +90 degrees about z through the pivot
        two = TwoBodyObject(lsu, ssu, np.ones_like(ssu), apix, pivot, [0, 0, 1.0], [1.0, 0, 0])
        return composite_map(two, 90.0, 0.0) - lsu

    at_pivot = turned_ssu(_blob(d, apix, pivot, 9.0))
    np.testing.assert_allclose(_centre_of_mass_A(at_pivot, apix), pivot, atol=0.01 * apix)
    # a blob 40 A along +x from the pivot ends up 40 A along +y from it
    off_pivot = turned_ssu(_blob(d, apix, pivot + [40.0, 0.0, 0.0], 9.0))
    np.testing.assert_allclose(_centre_of_mass_A(off_pivot, apix), pivot + [0.0, 40.0, 0.0], atol=0.01 * apix)


def test_rotate_about_point_matches_the_conformation_rotation(obj):
    rc = conformation_matrix(obj.axis1, obj.axis2, 4.0, 7.0)[0]
    np.testing.assert_allclose(composite_map(obj, 4.0, 7.0),
                               obj.lsu + rotate_about_point(obj.ssu, rc, obj.pivot_A, obj.apix_A), atol=1e-6)


def test_object_validation_names_the_field():
    vol = np.zeros((16, 16, 16), np.float32)
    vol[8, 8, 8] = 1
    ok = dict(lsu=vol, ssu=vol, ssu_mask=vol, apix_A=2.0, pivot_A=[0, 0, 0], axis1=[0, 1.0, 0], axis2=[0, 0, 1.0])
    TwoBodyObject(**ok)
    for change, field in [({"ssu": np.zeros((16, 16, 15))}, "ssu"), ({"axis2": [0, 1.0, 0]}, "orthogonal"),
                          ({"axis1": [0, 2.0, 0]}, "axis1"), ({"pivot_A": [0, 0, 40.0]}, "pivot_A"),
                          ({"ssu_mask": vol * 2}, "ssu_mask"), ({"apix_A": 0.0}, "apix_A")]:
        with pytest.raises(ValueError, match=field):
            TwoBodyObject(**{**ok, **change})


def test_orthonormal_axes():
    a1, a2 = orthonormal_axes([0, 3.0, 0], [0.001, 0.0, 2.0])
    np.testing.assert_allclose([a1 @ a1, a2 @ a2, a1 @ a2], [1, 1, 0], atol=1e-12)
    with pytest.raises(ValueError, match="orthogonal"):
        orthonormal_axes([1.0, 0, 0], [1.0, 0.2, 0])


def test_soft_mask_profile():
    d, apix = 32, 2.0
    sphere = (np.linalg.norm(_positions_A(d, apix), axis=-1) < 10).astype(np.float32)
    m = make_soft_mask(sphere, apix, threshold=0.5, extend_A=4.0, soft_edge_A=8.0)
    r = np.linalg.norm(_positions_A(d, apix), axis=-1)
    assert np.all(m[r < 12] == 1) and np.all(m[r > 24] == 0)
    ring = (r > 14.5) & (r < 19)
    assert np.all((m[ring] > 0) & (m[ring] < 1))


def test_extent_is_the_object_size_and_mask_diameter_covers_it_from_the_centre():
    """An off-centre ball of radius R: extent ~2R, but the SNR mask (centred in the box) needs
    a diameter of 2 (offset + R); the old name diameter_A is that mask diameter."""
    box, apix, radius, offset = 64, 3.0, 30.0, np.array([25.0, 0.0, 0.0])
    axis = (np.arange(box) - box // 2) * apix
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    r = np.sqrt((x - offset[0]) ** 2 + y ** 2 + z ** 2)
    ball = np.where(r <= radius, 1.0, 0.0).astype(np.float32)
    ssu = np.zeros_like(ball)
    ssu[box // 2, box // 2, box // 2] = 0.5
    obj = TwoBodyObject(lsu=ball, ssu=ssu, ssu_mask=(ssu > 0).astype(np.float32), apix_A=apix,
                        pivot_A=np.zeros(3), axis1=np.array([0.0, 1.0, 0.0]),
                        axis2=np.array([0.0, 0.0, 1.0]))
    assert obj.extent_A == pytest.approx(2 * radius + apix, abs=apix)
    assert obj.mask_diameter_A == obj.diameter_A == pytest.approx(2 * (25.0 + radius) + 2 * apix, abs=apix)
    built = build_ribosome_like(64)
    assert 240 < built.extent_A < 300 < built.mask_diameter_A   # ~250 A object, larger mask


def _scipy_rotation(volume, rotation, point_A, apix_A):
    """The reference: scipy's cubic spline at R^T (x - p) + p, coefficients zero outside the box."""
    from scipy import ndimage

    d = volume.shape[0]
    axis = (np.arange(d) - d // 2) * apix_A
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    pts = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
    src = (pts - point_A) @ np.asarray(rotation) + point_A  # rows: R^T (x - p) + p
    idx = src[:, ::-1].T / apix_A + d // 2
    coeffs = ndimage.spline_filter(volume, order=3, mode="grid-constant", output=np.float64)
    return ndimage.map_coordinates(coeffs, idx, order=3, mode="grid-constant", prefilter=False).reshape(volume.shape)


def test_compiled_rotation_equals_scipys_cubic_spline():
    """Off-centre pivot, a large angle (points leave the box) and an odd box."""
    small = build_ribosome_like(box_size=33, apix_A=9.0, seed=2)
    rc = ssu_transform(small, 25.0, -40.0)[0]
    ours = rotate_about_point(small.ssu, rc, small.pivot_A, small.apix_A)
    reference = _scipy_rotation(small.ssu, rc, small.pivot_A, small.apix_A)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6 * np.abs(reference).max())


def test_composite_maps_filter_once_and_equal_composite_map(obj):
    wells = [(0.0, 0.0), (4.0, 7.0), (-6.0, 3.0)]
    for (cc1, cc2), vol in zip(wells, composite_maps(obj, wells)):
        np.testing.assert_array_equal(vol, composite_map(obj, cc1, cc2))

"""RELION rotation matrices, uniform orientations and the conformation rotation."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from engine.structure.rotations import (axis_angle_matrix, conformation_matrix, euler_from_matrix, relion_matrix,
                              uniform_euler_angles)


def test_relion_matrix_is_the_transpose_of_scipy_intrinsic_zyz():
    rng = np.random.default_rng(0)
    angles = rng.uniform([-180, 0, -180], [180, 180, 180], (50, 3))
    a = relion_matrix(angles[:, 0], angles[:, 1], angles[:, 2])
    expected = Rotation.from_euler("ZYZ", angles, degrees=True).as_matrix().transpose(0, 2, 1)
    np.testing.assert_allclose(a, expected, atol=1e-12)
    np.testing.assert_allclose(a @ a.transpose(0, 2, 1), np.broadcast_to(np.eye(3), a.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(a), 1.0, atol=1e-12)


def test_relion_matrix_special_views():
    np.testing.assert_allclose(relion_matrix(0, 0, 0)[0], np.eye(3), atol=1e-15)
    # the third row is the viewing direction in map coordinates:
    # (sin tilt cos rot, sin tilt sin rot, cos tilt)
    for rot, tilt in [(0, 90), (90, 90), (30, 60)]:
        r, t = np.deg2rad(rot), np.deg2rad(tilt)
        np.testing.assert_allclose(relion_matrix(rot, tilt, 17.0)[0, 2],
                                   [np.sin(t) * np.cos(r), np.sin(t) * np.sin(r), np.cos(t)], atol=1e-12)
    # psi turns the image axes in their plane: A(psi) = Rz(-psi) A(0)
    a0, a1 = relion_matrix(20, 50, 0)[0], relion_matrix(20, 50, 90)[0]
    np.testing.assert_allclose(a1[0], a0[1], atol=1e-12)
    np.testing.assert_allclose(a1[1], -a0[0], atol=1e-12)
    np.testing.assert_allclose(a1[2], a0[2], atol=1e-12)


def test_euler_round_trip():
    rng = np.random.default_rng(1)
    eul = uniform_euler_angles(100, rng)
    back = euler_from_matrix(relion_matrix(*eul.T))
    np.testing.assert_allclose(relion_matrix(*back.T), relion_matrix(*eul.T), atol=1e-10)


def test_uniform_euler_angles_are_uniform_on_so3_and_reproducible():
    n = 40000
    eul = uniform_euler_angles(n, np.random.default_rng(2))
    assert eul.shape == (n, 3)
    np.testing.assert_array_equal(eul, uniform_euler_angles(n, np.random.default_rng(2)))
    a = relion_matrix(*eul.T)
    # every row of a uniform random rotation is uniform on the sphere: mean 0, second moment I/3
    for row in range(3):
        v = a[:, row]
        assert np.abs(v.mean(0)).max() < 0.015
        np.testing.assert_allclose(v.T @ v / n, np.eye(3) / 3, atol=0.01)
    # cos(tilt) uniform on [-1, 1], rot and psi uniform on the circle
    hist, _ = np.histogram(np.cos(np.deg2rad(eul[:, 1])), bins=10, range=(-1, 1))
    assert np.abs(hist / (n / 10) - 1).max() < 0.06
    hist, _ = np.histogram(eul[:, 2], bins=12, range=(-180, 180))
    assert np.abs(hist / (n / 12) - 1).max() < 0.06


def test_axis_angle_is_active_and_right_handed():
    rz = axis_angle_matrix([0, 0, 2.0], 90.0)
    np.testing.assert_allclose(rz @ [1, 0, 0], [0, 1, 0], atol=1e-15)
    axis = np.array([1.0, 2.0, -0.5])
    r = axis_angle_matrix(axis, np.array([10.0, 33.0, -70.0]))
    assert r.shape == (3, 3, 3)
    np.testing.assert_allclose(r @ axis, np.tile(axis, (3, 1)), atol=1e-12)
    np.testing.assert_allclose(r[1], Rotation.from_rotvec(np.deg2rad(33.0) * axis / np.linalg.norm(axis)).as_matrix(),
                               atol=1e-12)
    with pytest.raises(ValueError, match="axis"):
        axis_angle_matrix([0, 0, 0], 5.0)


def test_conformation_matrix_applies_cc1_first():
    x, y, z = np.eye(3)
    rc = conformation_matrix(x, y, 90.0, 90.0)
    assert rc.shape == (1, 3, 3)
    # cc1 first: z -> (about x) -y -> (about y) -y ; the other order would give +x
    np.testing.assert_allclose(rc[0] @ z, -y, atol=1e-12)
    rcs = conformation_matrix(x, y, np.array([0.0, 5.0, -12.0]), np.array([3.0, 0.0, 8.0]))
    for k, (c1, c2) in enumerate([(0, 3), (5, 0), (-12, 8)]):
        np.testing.assert_allclose(rcs[k], axis_angle_matrix(y, c2) @ axis_angle_matrix(x, c1), atol=1e-12)

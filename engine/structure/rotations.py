"""Rotation matrices in RELION's conventions, and the two-body conformation rotation.

Conventions (DESIGN.md sections 2 and 4):

- Euler angles are RELION's ZYZ (rot, tilt, psi) in degrees. RELION's matrix
  ``A = (Rz(rot) Ry(tilt) Rz(psi))^T``, i.e.
  ``scipy Rotation.from_euler('ZYZ', [rot, tilt, psi], degrees=True).as_matrix().T``.
  A projection is ``img(x, y) = integral V(A^T (x, y, z)) dz``: the rows of A are the image
  x axis, the image y axis and the viewing direction, written in map coordinates.
- Vectors are (x, y, z) in Angstrom (or any length unit), map frame, origin at the box centre.
- ``axis_angle_matrix`` is an active, right-handed rotation: ``x -> R x`` turns x by +angle
  about the axis (counter-clockwise looking down the axis towards the origin).
- A conformation turns the SSU by ``Rc = R(a2, cc2) @ R(a1, cc1)`` (cc1 applied first).

Example::

    A = relion_matrix(rot, tilt, psi)                      # (B, 3, 3)
    eulers = uniform_euler_angles(1000, np.random.default_rng(1))
    Rc = conformation_matrix(obj.axis1, obj.axis2, cc1, cc2)  # (B, 3, 3)
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def relion_matrix(rot_deg, tilt_deg, psi_deg) -> np.ndarray:
    """RELION's rotation matrix A for ZYZ Euler angles in degrees.

    Scalars or arrays broadcasting to shape (B,) in; (B, 3, 3) float64 out (B = 1 for
    scalars). Written out as RELION's ``Euler_angles2matrix`` does, so that it is fast for
    millions of angles; equal to ``Rotation.from_euler('ZYZ', ..., degrees=True).as_matrix().T``.
    """
    rot, tilt, psi = np.broadcast_arrays(*(np.atleast_1d(np.asarray(a, dtype=np.float64))
                                           for a in (rot_deg, tilt_deg, psi_deg)))
    if rot.ndim != 1:
        raise ValueError(f"euler angles: expected scalars or 1-D arrays (got shape {rot.shape})")
    a, b, g = np.deg2rad(rot), np.deg2rad(tilt), np.deg2rad(psi)
    ca, sa, cb, sb, cg, sg = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(g), np.sin(g)
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    m = np.empty(rot.shape + (3, 3))
    m[:, 0, 0] = cg * cc - sg * sa
    m[:, 0, 1] = cg * cs + sg * ca
    m[:, 0, 2] = -cg * sb
    m[:, 1, 0] = -sg * cc - cg * sa
    m[:, 1, 1] = -sg * cs + cg * ca
    m[:, 1, 2] = sg * sb
    m[:, 2, 0] = sc
    m[:, 2, 1] = ss
    m[:, 2, 2] = cb
    return m


def euler_from_matrix(A: np.ndarray) -> np.ndarray:
    """Inverse of :func:`relion_matrix`: (B, 3, 3) or (3, 3) -> (B, 3) degrees (rot, tilt, psi),
    rot and psi in (-180, 180], tilt in [0, 180]."""
    A = np.asarray(A, dtype=np.float64).reshape(-1, 3, 3)
    return Rotation.from_matrix(np.swapaxes(A, 1, 2)).as_euler("ZYZ", degrees=True)


def uniform_euler_angles(n: int, rng: np.random.Generator) -> np.ndarray:
    """n orientations uniform on SO(3) (normalised Gaussian quaternions), as RELION Euler
    angles: (n, 3) float64 degrees (rot, tilt, psi). Deterministic for a given ``rng`` state."""
    if n < 0:
        raise ValueError(f"n: must be >= 0 (got {n})")
    if n == 0:
        return np.zeros((0, 3))
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return Rotation.from_quat(q).as_euler("ZYZ", degrees=True)


def axis_angle_matrix(axis, angle_deg) -> np.ndarray:
    """Active right-handed rotation by ``angle_deg`` about the unit vector ``axis`` (x, y, z).

    A scalar angle gives (3, 3); an array of B angles gives (B, 3, 3). The axis is normalised
    here; a zero axis is refused.
    """
    axis = np.asarray(axis, dtype=np.float64)
    if axis.shape != (3,):
        raise ValueError(f"axis: expected 3 components (got shape {axis.shape})")
    norm = np.linalg.norm(axis)
    if not np.isfinite(norm) or norm < 1e-12:
        raise ValueError(f"axis: must be a finite non-zero vector (got {axis.tolist()})")
    u = axis / norm
    ang = np.deg2rad(np.asarray(angle_deg, dtype=np.float64))
    c, s = np.cos(ang)[..., None, None], np.sin(ang)[..., None, None]
    k = np.array([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]])
    return c * np.eye(3) + s * k + (1.0 - c) * np.outer(u, u)


def conformation_matrix(axis1, axis2, cc1_deg, cc2_deg) -> np.ndarray:
    """SSU rotation of conformations (cc1, cc2): ``Rc = R(axis2, cc2) @ R(axis1, cc1)``.

    cc1_deg, cc2_deg: scalars or arrays broadcasting to (B,), degrees. Returns (B, 3, 3).
    """
    cc1, cc2 = np.broadcast_arrays(np.atleast_1d(np.asarray(cc1_deg, dtype=np.float64)),
                                   np.atleast_1d(np.asarray(cc2_deg, dtype=np.float64)))
    if cc1.ndim != 1:
        raise ValueError(f"cc1_deg, cc2_deg: expected scalars or 1-D arrays (got shape {cc1.shape})")
    return axis_angle_matrix(axis2, cc2) @ axis_angle_matrix(axis1, cc1)

"""The two-body object: LSU and SSU density maps, SSU mask, pivot and rotation axes.

Maps are float32 arrays indexed [z, y, x] on a cubic grid of D voxels of ``apix_A`` Angstrom;
voxel (i, j, k) sits at x = (k - D//2) apix, y = (j - D//2) apix, z = (i - D//2) apix (origin
at the box centre, RELION's convention). Pivot and axes are (x, y, z) in that frame.
A conformation (cc1, cc2) in degrees moves the SSU as ``x -> Rc (x - p) + p`` with
``Rc = R(axis2, cc2) @ R(axis1, cc1)``; the LSU never moves.

The built-in object (:func:`build_ribosome_like`) is a procedural ribosome-like model
(~250 A across) made of smooth Gaussian blobs: a large lumpy LSU (2/3 of the mass) with a central
protuberance and two stalks, and an SSU (1/3) with body, platform, spur and a head with a
beak, sitting on the LSU's flat interface face. axis1 is the interface normal (like the
intersubunit rotation, "ratchet"), axis2 the SSU's long axis (like the head swivel); both pass
through the pivot on the interface below the SSU's centre of mass.

Example::

    obj = build_ribosome_like(box_size=128, seed=0)      # apix chosen to fit the box
    vol = composite_map(obj, cc1_deg=8.0, cc2_deg=-5.0)  # (128, 128, 128) float32
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from engine.structure.rotations import conformation_matrix
from engine.structure.spline_rotation import resample_rigid

#: Overall size of the built-in object (Angstrom) and the fraction of the box it spans by default.
RIBOSOME_DIAMETER_A = 250.0
DEFAULT_BOX_FILL = 0.66
#: Narrowest blob on the grid, in voxels: keeps sampled Gaussians band-limited below Nyquist.
MIN_BLOB_SIGMA_PX = 1.25
#: Density level (fraction of the maximum) that outlines the object for its size and SNR mask.
EXTENT_LEVEL = 0.05


@dataclass(frozen=True, eq=False)
class TwoBodyObject:
    """A two-body object. lsu, ssu: (D, D, D) float32 densities [z, y, x]; ssu_mask: (D, D, D)
    float32 in [0, 1]; apix_A: voxel size; pivot_A: (3,) (x, y, z) Angstrom from the box centre;
    axis1, axis2: (3,) orthonormal (x, y, z); name: shown to users."""

    lsu: np.ndarray
    ssu: np.ndarray
    ssu_mask: np.ndarray
    apix_A: float
    pivot_A: np.ndarray
    axis1: np.ndarray
    axis2: np.ndarray
    name: str = "object"

    def __post_init__(self):
        for name in ("lsu", "ssu", "ssu_mask"):
            arr = np.ascontiguousarray(getattr(self, name), dtype=np.float32).view()
            if arr.ndim != 3 or len(set(arr.shape)) != 1:
                raise ValueError(f"{name}: must be a cubic 3D array (got shape {arr.shape})")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name}: contains NaN or infinite values")
            arr.flags.writeable = False  # a read-only view: the caller's array stays writable
            object.__setattr__(self, name, arr)
        if not self.lsu.shape == self.ssu.shape == self.ssu_mask.shape:
            raise ValueError(f"lsu, ssu, ssu_mask: shapes differ ({self.lsu.shape}, "
                             f"{self.ssu.shape}, {self.ssu_mask.shape})")
        if self.ssu_mask.min() < 0.0 or self.ssu_mask.max() > 1.0:
            raise ValueError("ssu_mask: values must lie in [0, 1]")
        if not (math.isfinite(self.apix_A) and self.apix_A > 0):
            raise ValueError(f"apix_A: must be > 0 (got {self.apix_A})")
        object.__setattr__(self, "apix_A", float(self.apix_A))
        pivot = np.asarray(self.pivot_A, dtype=np.float64)
        if pivot.shape != (3,) or not np.all(np.isfinite(pivot)):
            raise ValueError(f"pivot_A: expected 3 finite numbers (x, y, z) (got {self.pivot_A!r})")
        half = self.box_size * self.apix_A / 2
        if np.any(np.abs(pivot) > half):
            raise ValueError(f"pivot_A: {pivot.tolist()} lies outside the box (half-width {half:.1f} A)")
        object.__setattr__(self, "pivot_A", pivot)
        a1, a2 = (np.asarray(a, dtype=np.float64) for a in (self.axis1, self.axis2))
        for name, a in (("axis1", a1), ("axis2", a2)):
            if a.shape != (3,) or abs(np.linalg.norm(a) - 1.0) > 1e-6:
                raise ValueError(f"{name}: must be a unit vector (x, y, z) (got {a.tolist()})")
        if abs(a1 @ a2) > 1e-6:
            raise ValueError(f"axis1, axis2: must be orthogonal (dot product {a1 @ a2:.2e})")
        object.__setattr__(self, "axis1", a1)
        object.__setattr__(self, "axis2", a2)

    @property
    def box_size(self) -> int:
        return self.lsu.shape[0]

    @property
    def mass_fraction_lsu(self) -> float:
        """LSU share of the total density."""
        lsu, ssu = float(self.lsu.sum(dtype=np.float64)), float(self.ssu.sum(dtype=np.float64))
        return lsu / (lsu + ssu)

    @cached_property
    def diameter_A(self) -> float:
        """Diameter of the SNR (noise) mask, Angstrom: twice the largest distance from the
        box centre of a voxel whose density (LSU + SSU at rest) exceeds EXTENT_LEVEL of the
        maximum, plus one voxel; at most the box width. Not the object's size (an off-centre
        object gets a larger circle): see :attr:`extent_A`. Same as :attr:`mask_diameter_A`."""
        idx = np.argwhere(self._above_extent_level())
        r = np.linalg.norm(idx - self.box_size // 2, axis=1).max() + 1.0
        return float(min(2 * r, self.box_size) * self.apix_A)

    @property
    def mask_diameter_A(self) -> float:
        """The SNR mask diameter (Angstrom), the name that says what it is (= diameter_A)."""
        return self.diameter_A

    @cached_property
    def extent_A(self) -> float:
        """The object's size, Angstrom: the largest distance between two voxel centres whose
        density (LSU + SSU at rest) exceeds EXTENT_LEVEL of the maximum, plus one voxel (the
        maximum Feret diameter, from the convex hull of those voxels)."""
        pts = np.argwhere(self._above_extent_level()).astype(np.float64)
        if len(pts) >= 5:
            try:
                pts = pts[ConvexHull(pts).vertices]
            except QhullError:  # flat or degenerate: all points are few enough anyway
                pass
        far = max((float(np.linalg.norm(pts - p, axis=1).max()) for p in pts), default=0.0)
        return (far + 1.0) * self.apix_A

    def _above_extent_level(self) -> np.ndarray:
        vol = self.lsu + self.ssu
        return vol > EXTENT_LEVEL * vol.max()


def orthonormal_axes(axis1, axis2, tolerance_deg: float = 1.0):
    """Normalise two axes given in any length; refuse them if they are further than
    ``tolerance_deg`` from orthogonal, else make axis2 exactly orthogonal to axis1."""
    a1, a2 = (np.asarray(a, dtype=np.float64) for a in (axis1, axis2))
    for name, a in (("axis1", a1), ("axis2", a2)):
        if a.shape != (3,) or not np.all(np.isfinite(a)) or np.linalg.norm(a) < 1e-12:
            raise ValueError(f"{name}: expected a non-zero vector (x, y, z) (got {a.tolist()})")
    a1 = a1 / np.linalg.norm(a1)
    a2 = a2 / np.linalg.norm(a2)
    angle = math.degrees(math.acos(float(np.clip(a1 @ a2, -1, 1))))
    if abs(angle - 90.0) > tolerance_deg:
        raise ValueError(f"axis1, axis2: must be orthogonal (they are {angle:.1f} degrees apart)")
    a2 = a2 - (a1 @ a2) * a1
    return a1, a2 / np.linalg.norm(a2)


def default_apix_A(box_size: int) -> float:
    """Voxel size that makes the built-in object span DEFAULT_BOX_FILL of the box."""
    return RIBOSOME_DIAMETER_A / (DEFAULT_BOX_FILL * box_size)


def voxel_coordinates_A(box_size: int, apix_A: float):
    """1-D voxel centre coordinates (Angstrom) along one axis: (index - D//2) * apix."""
    return (np.arange(box_size) - box_size // 2) * apix_A


def ssu_transform(obj: TwoBodyObject, cc1_deg: float, cc2_deg: float):
    """The SSU's rigid motion at (cc1, cc2) as ``x -> Rc x + t`` (x, y, z Angstrom): returns
    (Rc (3, 3), t (3,)) with t = p - Rc p. For moving meshes and markers."""
    rc = conformation_matrix(obj.axis1, obj.axis2, cc1_deg, cc2_deg)[0]
    return rc, obj.pivot_A - rc @ obj.pivot_A


def rotate_about_point(volume: np.ndarray, rotation: np.ndarray, point_A, apix_A: float,
                       order: int = 3, coeffs: np.ndarray | None = None) -> np.ndarray:
    """Real-space rotation of a map: ``out(x) = volume(R^T (x - p) + p)`` (density moves as
    ``x -> R (x - p) + p``), spline interpolation of the given order, zero outside the box.
    volume: (D, D, D) [z, y, x]; rotation (3, 3) acting on (x, y, z); point_A (3,) (x, y, z).
    Order 3 (the default) runs the compiled kernel of ``spline_rotation``; other orders scipy's
    ``map_coordinates`` (same interpolant family, one z-plane at a time). ``coeffs``: the
    volume's ``spline_coefficients`` when already at hand (several rotations of one map)."""
    d = volume.shape[0]
    rt = np.asarray(rotation, dtype=np.float64).T
    p = np.asarray(point_A, dtype=np.float64)
    coeffs = spline_coefficients(volume, order) if coeffs is None else coeffs
    # In voxel indices v = x / apix + c (c = D//2) the source point is one affine map
    # v' = R^T v + offset with offset = c - R^T c + (p - R^T p) / apix.
    centre = d // 2
    offset_px = (p - rt @ p) / apix_A + centre - rt @ np.full(3, centre, dtype=np.float64)
    if order == 3:
        return resample_rigid(np.ascontiguousarray(coeffs), np.ascontiguousarray(rt), offset_px)
    out = np.empty(volume.shape, dtype=np.float32)
    grid = np.arange(d, dtype=np.float64)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    plane = np.stack([xx.ravel(), yy.ravel()], axis=1)
    for i in range(d):  # one z-plane at a time keeps the coordinate arrays small
        src = np.column_stack([plane, np.full(plane.shape[0], float(i))]) @ rt.T + offset_px
        out[i] = ndimage.map_coordinates(coeffs, src[:, ::-1].T, order=order, mode="grid-constant",
                                         prefilter=False).reshape(d, d)
    return out


def composite_map(obj: TwoBodyObject, cc1_deg: float, cc2_deg: float, order: int = 3) -> np.ndarray:
    """The full density at conformation (cc1, cc2): LSU + SSU rotated about the pivot in real
    space (spline interpolation of ``order``). (D, D, D) float32 [z, y, x]."""
    return next(composite_maps(obj, [(cc1_deg, cc2_deg)], order))


def composite_maps(obj: TwoBodyObject, conformations, order: int = 3):
    """Yield ``composite_map(obj, cc1, cc2, order)`` for each (cc1, cc2) of ``conformations``
    (degrees), filtering the SSU into spline coefficients once for all of them (the well maps of
    a dataset: one filter instead of twelve)."""
    coeffs = None
    for cc1_deg, cc2_deg in conformations:
        rc = conformation_matrix(obj.axis1, obj.axis2, cc1_deg, cc2_deg)[0]
        if np.allclose(rc, np.eye(3), atol=1e-12):
            yield obj.lsu + obj.ssu
            continue
        if coeffs is None:
            coeffs = spline_coefficients(obj.ssu, order)
        yield obj.lsu + rotate_about_point(obj.ssu, rc, obj.pivot_A, obj.apix_A, order, coeffs=coeffs)


def spline_coefficients(volume: np.ndarray, order: int = 3) -> np.ndarray:
    """(D, D, D) float64 B-spline coefficients of ``volume`` for ``rotate_about_point`` (zero
    outside the box, as its interpolation assumes); the volume itself for order 0 or 1."""
    if order > 1:
        return ndimage.spline_filter(volume, order=order, mode="grid-constant", output=np.float64)
    return np.asarray(volume, dtype=np.float64)


def make_soft_mask(density: np.ndarray, apix_A: float, threshold: float = 0.05,
                   extend_A: float = 6.0, soft_edge_A: float = 12.0) -> np.ndarray:
    """RELION-style soft mask of a density (like ``relion_mask_create``): voxels above
    ``threshold`` x max, grown by ``extend_A``, then a raised-cosine edge ``soft_edge_A`` wide.
    (D, D, D) float32 in [0, 1]."""
    if not density.max() > 0:
        raise ValueError("density: has no positive values to mask")
    inside = density > threshold * density.max()
    edge = max(soft_edge_A, 1e-6)
    # Only voxels nearer than extend + edge to the inside get a non-zero value, and the nearest
    # inside voxel of any point of the inside's bounding box grown by that much lies in the box:
    # the distance transform of that crop is exact there (the same numbers), and costs a tenth
    # of the whole map's at box 128.
    margin = int(math.ceil((max(extend_A, 0.0) + edge) / apix_A)) + 1
    crop = tuple(slice(max(int(i.min()) - margin, 0), int(i.max()) + margin + 1) for i in np.nonzero(inside))
    dist_A = ndimage.distance_transform_edt(~inside[crop]) * apix_A - extend_A
    mask = np.zeros(density.shape, dtype=np.float32)
    mask[crop] = np.where(dist_A <= 0, 1.0, np.where(dist_A >= edge, 0.0, 0.5 + 0.5 * np.cos(np.pi * dist_A / edge)))
    return mask


# --- the built-in ribosome-like object -------------------------------------------------------

# Parts as (name, centre (x, y, z) A, semi-axes (A), share of blobs). Frame: interface normal
# +y (LSU at y < 0, SSU at y > 0), SSU long axis +z (head up), x lateral. Designed ~250 A across.
_LSU_PARTS = (
    ("body", (8.0, -52.0, -12.0), (98.0, 58.0, 82.0)),
    ("central protuberance", (-12.0, -38.0, 82.0), (34.0, 26.0, 30.0)),
    ("L1 stalk", (100.0, -36.0, 58.0), (34.0, 18.0, 28.0)),
    ("L7/L12 stalk", (-100.0, -50.0, -4.0), (28.0, 14.0, 16.0)),
)
_SSU_PARTS = (
    ("body", (-12.0, 32.0, -30.0), (54.0, 30.0, 62.0)),
    ("platform", (44.0, 26.0, 4.0), (26.0, 22.0, 30.0)),
    ("spur", (-24.0, 30.0, -96.0), (16.0, 14.0, 18.0)),
    ("neck", (0.0, 34.0, 34.0), (18.0, 16.0, 12.0)),
    ("head", (8.0, 38.0, 70.0), (44.0, 30.0, 34.0)),
    ("beak", (-38.0, 50.0, 84.0), (14.0, 12.0, 14.0)),
)
_LSU_INTERFACE_Y_A = -4.0  # LSU blob centres stop here: a flat face for the SSU to sit on
_PIVOT_Y_A = -1.0  # between that face and the bottom of the SSU body (y = 2)


def _blobs_in_parts(parts, rng, sigma_range_A, density_per_A3, clip_y_max=None):
    """Random blob centres uniformly inside each ellipsoid part, sigmas log-uniform."""
    centres, sigmas = [], []
    for _, centre, semi in parts:
        volume = 4.0 / 3.0 * math.pi * np.prod(semi)
        n = max(3, int(round(volume * density_per_A3)))
        u = rng.standard_normal((n, 3))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        pts = np.asarray(centre) + u * rng.random((n, 1)) ** (1 / 3) * np.asarray(semi)
        if clip_y_max is not None:
            pts = pts[pts[:, 1] <= clip_y_max]
        centres.append(pts)
        sigmas.append(np.exp(rng.uniform(*np.log(sigma_range_A), len(pts))))
    return np.concatenate(centres), np.concatenate(sigmas)


def _render_blobs(centres_A, sigmas_A, amplitudes, box_size, apix_A):
    """Sum of isotropic Gaussians on the grid, each evaluated in a +-4 sigma window as a
    separable product. (D, D, D) float32 [z, y, x]."""
    vol = np.zeros((box_size,) * 3, dtype=np.float32)
    c = box_size // 2
    for (x, y, z), s, a in zip(centres_A, sigmas_A, amplitudes):
        windows = []
        for pos in (z, y, x):
            centre_px = pos / apix_A + c
            half = 4.0 * s / apix_A
            lo, hi = max(0, int(math.floor(centre_px - half))), min(box_size, int(math.ceil(centre_px + half)) + 1)
            if lo >= hi:
                break
            t = (np.arange(lo, hi) - centre_px) * apix_A
            windows.append((slice(lo, hi), np.exp(-0.5 * (t / s) ** 2).astype(np.float32)))
        if len(windows) < 3:
            continue
        (sz, gz), (sy, gy), (sx, gx) = windows
        vol[sz, sy, sx] += a * gz[:, None, None] * (gy[:, None] * gx[None, :])[None]
    return vol


def build_ribosome_like(box_size: int = 128, apix_A: float | None = None, seed: int = 0) -> TwoBodyObject:
    """The built-in ribosome-like object on a (box_size)^3 grid, deterministic in ``seed``.

    apix_A defaults to :func:`default_apix_A` (the object spans 2/3 of the box). Blob widths are
    kept >= MIN_BLOB_SIGMA_PX voxels, so the maps are band-limited on any grid. Densities are
    scaled so the LSU holds exactly 2/3 of the mass and the composite's maximum is about 1.
    """
    if box_size < 16:
        raise ValueError(f"box_size: must be >= 16 (got {box_size})")
    apix = default_apix_A(box_size) if apix_A is None else float(apix_A)
    if not apix > 0:
        raise ValueError(f"apix_A: must be > 0 (got {apix_A})")
    if box_size * apix < RIBOSOME_DIAMETER_A * 1.05:
        raise ValueError(f"box_size, apix_A: a {box_size} x {apix:.2f} A box is too small for the "
                         f"{RIBOSOME_DIAMETER_A:.0f} A object (need >= {RIBOSOME_DIAMETER_A * 1.05:.0f} A)")
    rng = np.random.default_rng(seed)
    bodies = []
    for parts, clip in ((_LSU_PARTS, _LSU_INTERFACE_Y_A), (_SSU_PARTS, None)):
        # coarse lumps give the silhouette, fine blobs the surface texture (domains, helices)
        c1, s1 = _blobs_in_parts(parts, rng, (11.0, 17.0), 1.0 / 9000.0, clip)
        c2, s2 = _blobs_in_parts(parts, rng, (4.5, 7.0), 1.0 / 2500.0, clip)
        amps = np.concatenate([rng.uniform(0.6, 1.0, len(c1)), rng.uniform(0.5, 1.0, len(c2)) * 0.6])
        bodies.append((np.concatenate([c1, c2]), np.concatenate([s1, s2]), amps))
    # masses of blobs (a Gaussian's mass ~ amp sigma^3, kept when a width is clamped below);
    # scale the SSU to exactly half the LSU's mass, then centre the total mass on the box centre
    mass = [b[2] * b[1] ** 3 for b in bodies]
    ssu_scale = 0.5 * mass[0].sum() / mass[1].sum()
    mass[1] = mass[1] * ssu_scale
    all_c = np.concatenate([b[0] for b in bodies])
    all_m = np.concatenate(mass)
    shift = (all_c * all_m[:, None]).sum(0) / all_m.sum()
    maps = []
    for (centres, sigmas, amps), scale in zip(bodies, (1.0, ssu_scale)):
        sig = np.maximum(sigmas, MIN_BLOB_SIGMA_PX * apix)
        maps.append(_render_blobs(centres - shift, sig, scale * amps * (sigmas / sig) ** 3, box_size, apix))
    lsu, ssu = maps
    ssu *= 0.5 * lsu.sum(dtype=np.float64) / ssu.sum(dtype=np.float64)  # exact despite box edges
    scale = 1.0 / float((lsu + ssu).max())
    lsu *= scale
    ssu *= scale
    ssu_centre = (bodies[1][0] * mass[1][:, None]).sum(0) / mass[1].sum() - shift
    pivot = np.array([ssu_centre[0], _PIVOT_Y_A - shift[1], ssu_centre[2]])
    return TwoBodyObject(lsu=lsu, ssu=ssu, ssu_mask=make_soft_mask(ssu, apix),
                         apix_A=apix, pivot_A=pivot, axis1=np.array([0.0, 1.0, 0.0]),
                         axis2=np.array([0.0, 0.0, 1.0]), name=f"ribosome-like (seed {seed})")


__all__ = ["TwoBodyObject", "build_ribosome_like", "composite_map", "make_soft_mask",
           "orthonormal_axes", "default_apix_A", "ssu_transform", "rotate_about_point", "composite_maps",
           "voxel_coordinates_A"]

"""Compiled cubic B-spline resampling of a map under a rigid motion (numba, threads over z-planes).

The same interpolant as ``scipy.ndimage.map_coordinates(coeffs, ..., order=3,
mode="grid-constant", prefilter=False)`` on coefficients from ``ndimage.spline_filter(...,
order=3, mode="grid-constant")``: at each output voxel the 4 x 4 x 4 coefficients around the
source point, weighted by the cubic B-spline, coefficients outside the box taken as zero. It
gives scipy's values to float64 rounding, about 10x faster on one core (the per-point Python
and index-array overhead of map_coordinates is gone) and parallel over z-planes. The well maps
of a dataset (twelve 128^3 rotations for paper-3x4) were the slowest part of a small run.

Example::

    coeffs = ndimage.spline_filter(volume, order=3, mode="grid-constant", output=np.float64)
    out = resample_rigid(coeffs, rt, offset_px)     # (D, D, D) float32 [z, y, x]
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _bspline3_weights(t: float, w: np.ndarray) -> None:
    """Weights of the 4 taps at floor(x) - 1 .. floor(x) + 2 for fractional part t in [0, 1)."""
    s = 1.0 - t
    w[0] = s * s * s / 6.0
    w[1] = (4.0 - 6.0 * t * t + 3.0 * t * t * t) / 6.0
    w[2] = (4.0 - 6.0 * s * s + 3.0 * s * s * s) / 6.0
    w[3] = t * t * t / 6.0


@numba.njit(cache=True, parallel=True, nogil=True)
def resample_rigid(coeffs: np.ndarray, rt: np.ndarray, offset_px: np.ndarray) -> np.ndarray:
    """Out[z, y, x] = spline(coeffs) at source voxel ``rt @ (x, y, z) + offset_px``.

    coeffs: (D, D, D) float64 cubic B-spline coefficients [z, y, x]; rt: (3, 3) acting on voxel
    coordinates (x, y, z); offset_px: (3,) (x, y, z) in voxels. Points whose 4-tap support lies
    wholly outside the box give 0 (grid-constant, cval 0). Returns (D, D, D) float32.
    """
    d = coeffs.shape[0]
    out = np.empty((d, d, d), dtype=np.float32)
    for iz in numba.prange(d):
        wx = np.empty(4)
        wy = np.empty(4)
        wz = np.empty(4)
        for iy in range(d):
            for ix in range(d):
                sx = rt[0, 0] * ix + rt[0, 1] * iy + rt[0, 2] * iz + offset_px[0]
                sy = rt[1, 0] * ix + rt[1, 1] * iy + rt[1, 2] * iz + offset_px[1]
                sz = rt[2, 0] * ix + rt[2, 1] * iy + rt[2, 2] * iz + offset_px[2]
                fx, fy, fz = np.floor(sx), np.floor(sy), np.floor(sz)
                x0, y0, z0 = int(fx) - 1, int(fy) - 1, int(fz) - 1
                if x0 >= d or y0 >= d or z0 >= d or x0 + 3 < 0 or y0 + 3 < 0 or z0 + 3 < 0:
                    out[iz, iy, ix] = 0.0
                    continue
                _bspline3_weights(sx - fx, wx)
                _bspline3_weights(sy - fy, wy)
                _bspline3_weights(sz - fz, wz)
                total = 0.0
                for c in range(4):
                    z = z0 + c
                    if z < 0 or z >= d:
                        continue
                    plane = 0.0
                    for b in range(4):
                        y = y0 + b
                        if y < 0 or y >= d:
                            continue
                        row = 0.0
                        for a in range(4):
                            x = x0 + a
                            if 0 <= x < d:
                                row += wx[a] * coeffs[z, y, x]
                        plane += wy[b] * row
                    total += wz[c] * plane
                out[iz, iy, ix] = total
    return out

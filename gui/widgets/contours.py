"""Contour lines of a 2D field as line segments (vectorised marching squares).

pyqtgraph's ``isocurve`` walks the grid in Python (~40 ms per level on 512^2); this finds the
few cells each level crosses with numpy and interpolates their edges, a few ms for a dozen
levels, so contours follow a drag live. The result feeds one
``PlotCurveItem(connect="pairs")``.

Example::

    x, y = contour_segments(energy, cc1, cc2, levels=[-3, -2, -1])
    curve.setData(x, y, connect="pairs")
"""
from __future__ import annotations

import math

import numpy as np

# Edges of a cell: 0 bottom (a-b), 1 right (b-c), 2 top (d-c), 3 left (a-d), with corners
# a=(i, j), b=(i, j+1), c=(i+1, j+1), d=(i+1, j). Case bit k set when corner k is above.
_SEGMENTS = np.full((16, 2, 2), -1, dtype=np.int8)
for _case, _segs in {
    1: [(3, 0)], 2: [(0, 1)], 3: [(3, 1)], 4: [(1, 2)], 5: [(3, 0), (1, 2)], 6: [(0, 2)],
    7: [(3, 2)], 8: [(2, 3)], 9: [(0, 2)], 10: [(0, 1), (2, 3)], 11: [(1, 2)], 12: [(1, 3)],
    13: [(0, 1)], 14: [(3, 0)],
}.items():
    for _k, _seg in enumerate(_segs):
        _SEGMENTS[_case, _k] = _seg


def contour_segments(z: np.ndarray, x: np.ndarray, y: np.ndarray, levels) -> tuple[np.ndarray, np.ndarray]:
    """Segments where ``z`` crosses each of ``levels``.

    z: (ny, nx) values, z[i, j] at (x[j], y[i]); x (nx,), y (ny,) increasing coordinates.
    Returns (xs, ys), each (2 * n_segments,): consecutive pairs are segment end points.
    """
    z = np.asarray(z, dtype=float)
    a, b, c, d = z[:-1, :-1], z[:-1, 1:], z[1:, 1:], z[1:, :-1]
    lo = np.minimum(np.minimum(a, b), np.minimum(c, d))
    hi = np.maximum(np.maximum(a, b), np.maximum(c, d))
    xs, ys = [], []
    for level in levels:
        i, j = np.nonzero((lo <= level) & (hi > level))
        if i.size == 0:
            continue
        za, zb, zc, zd = a[i, j], b[i, j], c[i, j], d[i, j]
        case = ((za > level) * 1 + (zb > level) * 2 + (zc > level) * 4 + (zd > level) * 8)
        x0, x1, y0, y1 = x[j], x[j + 1], y[i], y[i + 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            t_bottom = _fraction(za, zb, level)
            t_right = _fraction(zb, zc, level)
            t_top = _fraction(zd, zc, level)
            t_left = _fraction(za, zd, level)
        edge_x = np.stack([x0 + t_bottom * (x1 - x0), x1, x0 + t_top * (x1 - x0), x0])
        edge_y = np.stack([y0, y0 + t_right * (y1 - y0), y1, y0 + t_left * (y1 - y0)])
        cells = np.arange(i.size)
        for k in range(2):
            seg = _SEGMENTS[case, k]
            keep = seg[:, 0] >= 0
            if not keep.any():
                continue
            e0, e1, cell = seg[keep, 0], seg[keep, 1], cells[keep]
            xs.append(np.stack([edge_x[e0, cell], edge_x[e1, cell]], axis=1).ravel())
            ys.append(np.stack([edge_y[e0, cell], edge_y[e1, cell]], axis=1).ravel())
    if not xs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys)


def _fraction(v0: np.ndarray, v1: np.ndarray, level: float) -> np.ndarray:
    t = (level - v0) / (v1 - v0)
    return np.clip(np.nan_to_num(t, nan=0.5), 0.0, 1.0)


def nice_levels(lo: float, hi: float, target: int = 12) -> np.ndarray:
    """Round-numbered levels strictly inside (lo, hi), about ``target`` of them, spaced
    1, 2, 2.5 or 5 x 10^k so they stay put while the range changes a little."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return np.zeros(0)
    raw = (hi - lo) / target
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) + 1
    levels = np.arange(first, math.ceil(hi / step)) * step
    return levels[(levels > lo) & (levels < hi)]

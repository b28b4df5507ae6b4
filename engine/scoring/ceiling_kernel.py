"""Compiled kernels of the ideal observer's likelihood (numba, nogil, single-threaded).

The per-conformation work of engine.scoring.ceiling_likelihood in one pass and no arrays: for
each conformation c the kernel builds ``Rc = R(axis2, cc2) R(axis1, cc1)``, the slice rows of
``A @ Rc`` and the phase of ``T Q_c`` (image centre minus origin, plus the pivot shift
``A (p - Rc p)``), samples the SSU transform on the band's disc |k| <= k_max with the
projector kernel's bricks, trilinear weights and row-ahead prefetch
(engine.imaging.projector_kernel), and sums the likelihood's two terms as it goes, so no
(n_conf, D, D//2+1) slice is ever written. The spectra it reads (``rt``, ``wc2``) are the full
(D, D//2+1) rfft2 layout, row j holding ky = j (j < (D+1)//2) or j - D; a band reads only its
disc, so all bands share one pair of arrays. Phases along a row are powers of one complex
exponential (complex128: a relative error ~D * 1e-16, far below the float32 samples').

- :func:`ssu_scores`: Re sum conj(rt) u_c - 1/2 sum wc2 |u_c|^2 per conformation (plus the
  real-only Nyquist terms given);
- :func:`fisher_sums`: band-binned sums of wc2 Re(conj(du_a) du_b) for forward differences of
  u at three conformations (the Fisher information);
- :func:`slice_into`: one phased slice of a transform (the particle's LSU term T L);
- :func:`sub_block_weights`: the grid's in-block quadratic model of the log-likelihood and its
  sub-blocks' weights (engine.scoring.ceiling_grid).

Example::

    geom = pack_geometry(a, obj.axis1, obj.axis2, obj.pivot_A, 2, obj.apix_A, centre_px)
    out = np.empty(len(cc))
    ssu_scores(f, bz, by, off, geom, cc, k_max, d, rt, wc2, np.zeros((0, 4)), out)  # (B,) per band
"""
from __future__ import annotations

import math

import numba
import numpy as np

from engine.imaging.projector_kernel import _FAST, _locate, _locate_row, _trilinear

#: Layout of the geometry vector: A (9, row-major), unit axis1 (3), unit axis2 (3), pivot (3)
#: Angstrom, pad, apix (A/px), image centre minus origin (x, y) px.
GEOMETRY_SIZE = 23


def pack_geometry(a, axis1, axis2, pivot_A, pad: int, apix_A: float, centre_px) -> np.ndarray:
    """The kernels' geometry vector (GEOMETRY_SIZE,) float64: RELION matrix ``a`` (3, 3),
    the conformation axes (normalised here, as engine.structure.rotations.axis_angle_matrix
    does), the pivot (3,) Angstrom, padding, pixel size and (x, y) shift of the box centre."""
    u1 = np.asarray(axis1, dtype=np.float64)
    u2 = np.asarray(axis2, dtype=np.float64)
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel(), u1 / np.linalg.norm(u1),
                           u2 / np.linalg.norm(u2), np.asarray(pivot_A, dtype=np.float64),
                           [float(pad), float(apix_A)], np.asarray(centre_px, dtype=np.float64)])


@numba.njit(cache=True, nogil=True, inline="always")
def _axis_rotation(g, at, angle_deg, r):
    """r (3, 3) = cos I + sin K + (1 - cos) u u^T for the unit axis g[at:at+3]."""
    ang = math.radians(angle_deg)
    c = math.cos(ang)
    s = math.sin(ang)
    u0, u1, u2 = g[at], g[at + 1], g[at + 2]
    t = 1.0 - c
    r[0, 0] = c + t * u0 * u0
    r[0, 1] = -s * u2 + t * u0 * u1
    r[0, 2] = s * u1 + t * u0 * u2
    r[1, 0] = s * u2 + t * u1 * u0
    r[1, 1] = c + t * u1 * u1
    r[1, 2] = -s * u0 + t * u1 * u2
    r[2, 0] = -s * u1 + t * u2 * u0
    r[2, 1] = s * u0 + t * u2 * u1
    r[2, 2] = c + t * u2 * u2


@numba.njit(cache=True, nogil=True)
def _conformation(g, cc1, cc2, rows, r1, r2, rc):
    """Fill rows (2, 3) with the first two rows of A @ Rc times the padding (padded voxels per
    image frequency) and return the (x, y) px shift of T Q_c."""
    _axis_rotation(g, 9, cc1, r1)
    _axis_rotation(g, 12, cc2, r2)
    for i in range(3):
        for j in range(3):
            rc[i, j] = r2[i, 0] * r1[0, j] + r2[i, 1] * r1[1, j] + r2[i, 2] * r1[2, j]
    pad, apix = g[18], g[19]
    v0 = g[15] - (rc[0, 0] * g[15] + rc[0, 1] * g[16] + rc[0, 2] * g[17])  # p - Rc p
    v1 = g[16] - (rc[1, 0] * g[15] + rc[1, 1] * g[16] + rc[1, 2] * g[17])
    v2 = g[17] - (rc[2, 0] * g[15] + rc[2, 1] * g[16] + rc[2, 2] * g[17])
    for k in range(2):
        for j in range(3):
            rows[k, j] = (g[3 * k] * rc[0, j] + g[3 * k + 1] * rc[1, j] + g[3 * k + 2] * rc[2, j]) * pad
    sx = g[20] + (g[0] * v0 + g[1] * v1 + g[2] * v2) / apix
    sy = g[21] + (g[3] * v0 + g[4] * v1 + g[5] * v2) / apix
    return sx, sy


@numba.njit(cache=True, nogil=True)
def _phases(shift, first, count, d, out):
    """out[m] = exp(-2 pi i (first + m) shift / d), m < count, complex64 (powers of one step)."""
    step_arg = -2.0 * math.pi * shift / d
    step = complex(math.cos(step_arg), math.sin(step_arg))
    arg = step_arg * first
    p = complex(math.cos(arg), math.sin(arg))
    for m in range(count):
        out[m] = np.complex64(p)
        p *= step


@numba.njit(cache=True, nogil=True)
def _row_lengths(kmax, d, ky_lo, ky_hi, out):
    """Columns of each row ky_lo..ky_hi inside the disc |k| <= kmax (0 for none)."""
    h = d // 2 + 1
    for ky in range(ky_lo, ky_hi + 1):
        rem = kmax * kmax - ky * ky
        out[ky - ky_lo] = 0 if rem < 0 else min(h - 1, int(math.sqrt(rem))) + 1


@numba.njit(cache=True, nogil=True)
def _ky_range(kmax, d):
    return -min(kmax, d // 2), min(kmax, (d + 1) // 2 - 1)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _sample(f, bz, by, off, r0, r1, kx, ky):
    base, code, fx, fy, fz, sign = _locate(kx * r0[0] + ky * r1[0], kx * r0[1] + ky * r1[1],
                                           kx * r0[2] + ky * r1[2], off, bz, by)
    v = _trilinear(f, base, code, fx, fy, fz, bz, by)
    return complex(v.real, v.imag * sign)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def ssu_scores(f, bz, by, off, geom, cc, kmax, d, rt, wc2, nyq, out):
    """out[b] = sum_k Re(conj(rt_k) u_b,k) - 1/2 sum_k wc2_k |u_b,k|^2 over |k| <= kmax, with
    u_b = T Q_c S_c sampled from ``f`` (brick layout, strides bz, by, offset off) for the
    conformations cc (B, 2) degrees; geom: :func:`pack_geometry`; rt (D, D//2+1) complex64,
    wc2 (D, D//2+1) float32 (full rfft2 layout); nyq (m, 4) float64 rows (ky, kx, rho, c):
    self-conjugate frequencies scored apart as rho z - 1/2 c^2 z^2 with z = Re u (m = 0: none).
    float64 accumulators."""
    h = d // 2 + 1
    ky_lo, ky_hi = _ky_range(kmax, d)
    n_rows = ky_hi - ky_lo + 1
    ncol = min(kmax, h - 1) + 1
    nrow = np.empty(n_rows, np.int64)
    _row_lengths(kmax, d, ky_lo, ky_hi, nrow)
    base = np.empty((2, h), np.int64)
    code = np.empty((2, h), np.int64)
    w = np.empty((2, h, 4), np.float32)
    px = np.empty(ncol, np.complex64)
    py = np.empty(n_rows, np.complex64)
    rows = np.empty((2, 3))
    r1 = np.empty((3, 3))
    r2 = np.empty((3, 3))
    rc = np.empty((3, 3))
    for b in range(cc.shape[0]):
        sx, sy = _conformation(geom, cc[b, 0], cc[b, 1], rows, r1, r2, rc)
        _phases(sx, 0, ncol, d, px)
        _phases(sy, ky_lo, n_rows, d, py)
        r0 = rows[0]
        r1v = rows[1]
        _locate_row(f, r0, r1v, ky_lo, nrow[0], off, bz, by, base[0], code[0], w[0])
        cross = 0.0
        power = 0.0
        for m in range(n_rows):
            cur = m & 1
            if m + 1 < n_rows:  # the next row's loads are under way meanwhile
                nxt = 1 - cur
                _locate_row(f, r0, r1v, ky_lo + m + 1, nrow[m + 1], off, bz, by, base[nxt], code[nxt], w[nxt])
            ky = ky_lo + m
            j = ky if ky >= 0 else ky + d
            phase_y = py[m]
            for i in range(nrow[m]):
                wi = w[cur, i]
                v = _trilinear(f, base[cur, i], code[cur, i], wi[0], wi[1], wi[2], bz, by)
                v = complex(v.real, v.imag * wi[3]) * (px[i] * phase_y)
                r = rt[j, i]
                cross += r.real * v.real + r.imag * v.imag
                power += wc2[j, i] * (v.real * v.real + v.imag * v.imag)
        total = cross - 0.5 * power
        for q in range(nyq.shape[0]):
            ky = int(nyq[q, 0])
            kx = int(nyq[q, 1])
            ax = -2.0 * math.pi * kx * sx / d
            ay = -2.0 * math.pi * ky * sy / d
            phase = np.complex64(complex(math.cos(ax), math.sin(ax))) * np.complex64(complex(math.cos(ay), math.sin(ay)))
            z = np.float64((_sample(f, bz, by, off, r0, r1v, kx, ky) * phase).real)
            total += nyq[q, 2] * z - 0.5 * nyq[q, 3] * nyq[q, 3] * z * z
        out[b] = total


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def fisher_sums(f, bz, by, off, geom, cc3, d, wc2, band_k2, out):
    """out[m] += (sum w |du1|^2, sum w Re(conj(du1) du2), sum w |du2|^2) over the frequencies
    whose first band is m (k^2 <= band_k2[m], band_k2 increasing, the last (D/2)^2), with
    du_a = u(cc3[a]) - u(cc3[0]) (u = T Q_c S_c, complex64) and w = wc2 (D, D//2+1) float32.
    out (n_bands, 3) float64; a cumulative sum over m gives each band's sums."""
    h = d // 2 + 1
    kmax = d // 2
    ky_lo, ky_hi = _ky_range(kmax, d)
    n_rows = ky_hi - ky_lo + 1
    nrow = np.empty(n_rows, np.int64)
    _row_lengths(kmax, d, ky_lo, ky_hi, nrow)
    rows = np.empty((3, 2, 3))
    px = np.empty((3, h), np.complex64)
    py = np.empty((3, n_rows), np.complex64)
    r1 = np.empty((3, 3))
    r2 = np.empty((3, 3))
    rc = np.empty((3, 3))
    for a in range(3):
        sx, sy = _conformation(geom, cc3[a, 0], cc3[a, 1], rows[a], r1, r2, rc)
        _phases(sx, 0, h, d, px[a])
        _phases(sy, ky_lo, n_rows, d, py[a])
    n_bands = band_k2.shape[0]
    for m in range(n_rows):
        ky = ky_lo + m
        j = ky if ky >= 0 else ky + d
        for i in range(nrow[m]):
            wt = wc2[j, i]
            if wt == 0:
                continue
            k2 = i * i + ky * ky
            band = 0
            while band < n_bands - 1 and k2 > band_k2[band]:
                band += 1
            u0 = _sample(f, bz, by, off, rows[0, 0], rows[0, 1], i, ky) * (px[0, i] * py[0, m])
            d1 = _sample(f, bz, by, off, rows[1, 0], rows[1, 1], i, ky) * (px[1, i] * py[1, m]) - u0
            d2 = _sample(f, bz, by, off, rows[2, 0], rows[2, 1], i, ky) * (px[2, i] * py[2, m]) - u0
            out[band, 0] += wt * (d1.real * d1.real + d1.imag * d1.imag)
            out[band, 1] += wt * (d1.real * d2.real + d1.imag * d2.imag)
            out[band, 2] += wt * (d2.real * d2.real + d2.imag * d2.imag)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def slice_into(f, bz, by, off, r0, r1, phase_x, phase_y, out):
    """out (D, D//2+1) complex64 = phase_x[i] phase_y[j] slice(f) at kx r0 + ky r1 (r0, r1
    (3,) padded voxels per frequency; phase_x (D//2+1,), phase_y (D,) in rfft2 row order), 0
    outside the disc |k| <= D/2 (as engine.imaging.projector_kernel.two_body_slices)."""
    d, h = out.shape
    r2max = (d // 2) * (d // 2)
    for j in range(d):
        ky = j if j < (d + 1) // 2 else j - d
        rem = r2max - ky * ky
        n = 0 if rem < 0 else min(h - 1, int(math.sqrt(rem))) + 1
        phase_y_j = phase_y[j]
        for i in range(n):
            out[j, i] = _sample(f, bz, by, off, r0, r1, i, ky) * (phase_x[i] * phase_y_j)
        for i in range(n, h):
            out[j, i] = 0


@numba.njit(cache=True, nogil=True, inline="always")
def _gradient_curvature(minus, centre, plus, step):
    """engine.scoring.ceiling_grid._differences for one block (NaN: no neighbour)."""
    has_m = math.isfinite(minus)
    has_p = math.isfinite(plus)
    if has_m and has_p:
        return (plus - minus) / (2 * step), (plus - 2 * centre + minus) / step ** 2
    if has_p:
        return (plus - centre) / step, 0.0
    if has_m:
        return (centre - minus) / step, 0.0
    return 0.0, 0.0


@numba.njit(cache=True, nogil=True)
def sub_block_weights(blocks, ll, cells, h1, h2, r, d2, d1, a2, a1, sub_cells, sub_prior, subs, weight):
    """The in-block quadratic model of engine.scoring.ceiling_grid.ConformationGrid._sub_weights:
    blocks (B,) flat indices i2 * cells + i1 with log-likelihood ll (B,); h1, h2 the step in
    degrees; sub-block offsets d2, d1 (in steps) and index offsets a2, a1 (r^2,); fills subs
    and weight (B, r^2) with sub-block indices and prior * exp(ll - max ll + q)."""
    n = blocks.shape[0]
    i2 = blocks // cells
    i1 = blocks - i2 * cells
    lo2, hi2, lo1, hi1 = i2.min(), i2.max(), i1.min(), i1.max()
    box = np.full((hi2 - lo2 + 3, hi1 - lo1 + 3), np.nan)  # a NaN frame: no neighbour
    for b in range(n):
        box[i2[b] - lo2 + 1, i1[b] - lo1 + 1] = ll[b]
    top = ll.max()
    for b in range(n):
        j2 = i2[b] - lo2 + 1
        j1 = i1[b] - lo1 + 1
        c = ll[b]
        g1, c11 = _gradient_curvature(box[j2, j1 - 1], c, box[j2, j1 + 1], h1)
        g2, c22 = _gradient_curvature(box[j2 - 1, j1], c, box[j2 + 1, j1], h2)
        cross = (box[j2 + 1, j1 + 1] - box[j2 + 1, j1 - 1] - box[j2 - 1, j1 + 1] + box[j2 - 1, j1 - 1]) / (4 * h1 * h2)
        c12 = cross if math.isfinite(cross) else 0.0
        for m in range(d1.shape[0]):
            x1 = d1[m] * h1
            x2 = d2[m] * h2
            q = g1 * x1 + g2 * x2 + 0.5 * (c11 * x1 * x1 + 2 * c12 * x1 * x2 + c22 * x2 * x2)
            s = (r * i2[b] + a2[m]) * sub_cells + r * i1[b] + a1[m]
            subs[b, m] = s
            weight[b, m] = sub_prior[s] * math.exp(c - top + q)

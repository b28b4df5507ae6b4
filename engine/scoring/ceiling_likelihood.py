"""The image likelihood of the ideal observer: Gaussian white noise, in Fourier space, by the
two-body structure (engine.imaging.projector's kernel, reused as it is).

A particle image is ``y = irfft2(M) + n`` with white noise of ``sigma`` per pixel and, in the
projector's convention (DESIGN.md section 4), ``M = C T (L + Q_c S_c)``: C the CTF, T the phase
of the shift that puts the particle at the box centre minus its origin, L the LSU slice at A,
S_c the SSU slice at ``A @ Rc`` and Q_c the phase of the pivot shift ``A (p - Rc p)``. Only
``u_c = T Q_c S_c`` depends on the conformation c, so L, C and the data term are computed once
per particle and each conformation costs one SSU slice.

Parseval with numpy's unnormalised FFT: ``sum_x r(x)^2 = (1/D^2) sum_k |R_k|^2`` over the full
plane. On the rfft2 half plane (columns kx = 0..D/2) a column 0 < kx < D/2 also stands for its
conjugate partner -k, so it counts twice (weight w = 2); columns kx = 0 and kx = D/2 hold both
members of each pair (weight 1). The three self-conjugate frequencies inside the projector's
disc (0, 0), (ky, kx) = (-D/2, 0) and (0, D/2) keep only the real part of M in a real image;
(0, 0) is real already, the two Nyquist ones are summed apart with Re(M). Frequencies outside
the disc |k| <= D/2 carry no signal (the projector zeroes them) and add a constant. So

    log p(y | c) = (Re sum_k conj(r~_k) u_c,k - 1/2 sum_k w_k C_k^2 |u_c,k|^2) / (sigma^2 D^2) + const,
    r~ = w C (Y - C T L),  Y = rfft2(y),

plus the two Nyquist terms. A *band* keeps the frequencies |k| <= k_max only: for white noise
the Fourier coefficients of disjoint frequency sets are independent, so the band's value is the
exact log-likelihood of the low-pass-filtered image (the coarse levels of the grid search use
it). The slice of a band is computed by the same kernel on a (2 k_max + 2)-sized spectrum, which
holds exactly the frequencies |k| <= k_max + 1 of the full one (Fourier cropping).

Example::

    model = TwoBodyLikelihood(build_ribosome_like(64))
    part = model.particle(image, euler_deg, origin_A, ctf, sigma)  # ctf: (D, D//2+1) from ctf_2d
    ll = part.log_likelihood(cc_deg, part.n_bands - 1)             # (B,) nats, full band
    part.fisher_information(cc_deg[0])[-1]                         # (2, 2) per degree^2
"""
from __future__ import annotations

import math

import numba
import numpy as np
import scipy.fft

from engine.imaging.projector import centred_half_transform
from engine.imaging.projector_kernel import _FAST, _locate, _trilinear, brick_layout, two_body_slices
from engine.structure.object_model import TwoBodyObject
from engine.structure.rotations import conformation_matrix, relion_matrix


@numba.njit(cache=True, nogil=True)
def _cross_minus_half_power(u, rt, wc2, out):
    """out[b] = sum Re(conj(rt) u[b]) - 1/2 sum wc2 |u[b]|^2, float64 accumulators.
    u (B, Y, X) complex64, rt (Y, X) complex64, wc2 (Y, X) float32, out (B,) float64."""
    for b in range(u.shape[0]):
        cross = 0.0
        power = 0.0
        for j in range(u.shape[1]):
            for i in range(u.shape[2]):
                v = u[b, j, i]
                r = rt[j, i]
                cross += r.real * v.real + r.imag * v.imag
                power += wc2[j, i] * (v.real * v.real + v.imag * v.imag)
        out[b] = cross - 0.5 * power


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _ssu_scores(f, bz, by, off, rows, phase_x, phase_y, rt, wc2, out):
    """:func:`_cross_minus_half_power` of u = phase * slice(f, rows) without writing u: the
    projector kernel's sampling (its _locate and _trilinear, same layout f, bz, by, off; rows
    (B, 2, 3) in padded voxels; phase_x (B, h), phase_y (B, n)) on the (n, h) spectrum of rt
    and wc2, disc |k| <= n/2. Twice as fast as slices then sums on a band's small spectrum;
    on the full one the projector's row-ahead prefetch wins and that path is used."""
    n, h = rt.shape
    r2max = (n // 2) * (n // 2)
    for b in range(rows.shape[0]):
        r0 = rows[b, 0]
        r1 = rows[b, 1]
        cross = 0.0
        power = 0.0
        for j in range(n):
            ky = j if j < (n + 1) // 2 else j - n
            rem = r2max - ky * ky
            if rem < 0:
                continue
            py = phase_y[b, j]
            for i in range(min(h - 1, int(math.sqrt(rem))) + 1):
                base, code, fx, fy, fz, sign = _locate(i * r0[0] + ky * r1[0], i * r0[1] + ky * r1[1],
                                                       i * r0[2] + ky * r1[2], off, bz, by)
                v = _trilinear(f, base, code, fx, fy, fz, bz, by)
                v = complex(v.real, v.imag * sign) * (phase_x[b, i] * py)
                r = rt[j, i]
                cross += r.real * v.real + r.imag * v.imag
                power += wc2[j, i] * (v.real * v.real + v.imag * v.imag)
        out[b] = cross - 0.5 * power


def _phase(freqs: np.ndarray, shift_px: np.ndarray, box_size: int) -> np.ndarray:
    """exp(-2 pi i k t / D) for frequencies k (W,) and shifts t (B,): (B, W) complex64."""
    arg = np.outer(shift_px, freqs * (-2 * np.pi / box_size))
    out = np.empty(arg.shape, np.complex64)
    out.real = np.cos(arg)
    out.imag = np.sin(arg)
    return out


def default_bands(box_size: int) -> list[int]:
    """Band edges k_max for a box: 2, 4, 8, ... below D/2, then D/2 (the full band). The
    search picks, per grid level, the most informative band that level's step resolves."""
    bands, k = [], 2
    while k < box_size // 2:
        bands.append(k)
        k *= 2
    return bands + [box_size // 2]


class TwoBodyLikelihood:
    """The object's padded 3D transforms (built like TwoBodyProjector's, same ``pad``) and the
    frequency tables of the bands; :meth:`particle` gives one image's likelihood."""

    def __init__(self, obj: TwoBodyObject, pad: int = 2):
        if int(pad) != pad or pad < 1:
            raise ValueError(f"pad: must be a positive integer (got {pad})")
        self.obj = obj
        self.pad = int(pad)
        self.box_size = d = obj.box_size
        centred, self._off = centred_half_transform(obj.lsu, self.pad)
        self._f_lsu, self._bz, self._by = brick_layout(centred)
        centred, _ = centred_half_transform(obj.ssu, self.pad)
        self._f_ssu, _, _ = brick_layout(centred)
        del centred
        self._kx = np.fft.rfftfreq(d) * d
        self._ky = np.fft.fftfreq(d) * d
        k2 = self._ky[:, None] ** 2 + self._kx[None, :] ** 2
        self._k2 = k2
        w = np.full(k2.shape, 2.0)
        w[:, 0] = 1.0
        w[:, -1] = 1.0
        w[k2 > (d // 2) ** 2] = 0.0
        self._nyquist = [(d // 2, 0), (0, d // 2)]  # (row, column) of (-D/2, 0) and (0, D/2)
        for j, i in self._nyquist:
            w[j, i] = 0.0  # summed apart, with Re(M)
        self._weight = w
        self._bands: dict[int, tuple] = {}

    def band(self, k_max: int):
        """(rows, n_cols, weight) of band ``k_max``: the rows (ky in fftfreq order) and first
        n_cols columns of the full (D, D//2+1) spectrum that the kernel's (n, n//2+1) spectrum
        holds (n = D for the full band, else 2 k_max + 2), and the Parseval weight w there,
        0 outside |k| <= k_max, (n, n//2+1) float32."""
        if k_max not in self._bands:
            d = self.box_size
            n = d if k_max >= d // 2 else 2 * k_max + 2
            rows = np.r_[0:n // 2, d - n // 2:d]
            h = n // 2 + 1
            weight = np.where(self._k2[rows, :h] <= k_max * k_max, self._weight[rows, :h], 0.0)
            self._bands[k_max] = (rows, h, weight.astype(np.float32))
        return self._bands[k_max]

    def particle(self, image, euler_deg, origin_A, ctf, sigma: float, bands=None) -> ParticleLikelihood:
        """The likelihood of one image (D, D) [y, x] with RELION angles ``euler_deg`` (3,)
        degrees, ``origin_A`` (2,) rlnOriginX/YAngst (or None), ``ctf`` (D, D//2+1) float32 from
        engine.imaging.ctf.ctf_2d (or None), noise ``sigma`` per pixel (> 0). ``bands``: band
        edges k_max in increasing order, the last D/2 (default: just the full band)."""
        return ParticleLikelihood(self, image, euler_deg, origin_A, ctf, sigma, bands)


class ParticleLikelihood:
    """log p(image | c) up to a constant, for conformations c, in one of ``bands``."""

    def __init__(self, model: TwoBodyLikelihood, image, euler_deg, origin_A, ctf, sigma, bands):
        d, h = model.box_size, model.box_size // 2 + 1
        image = np.asarray(image, dtype=np.float32)
        if image.shape != (d, d):
            raise ValueError(f"image: expected shape ({d}, {d}) (got {image.shape})")
        if not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma: must be > 0 (got {sigma})")
        ctf = np.ones((d, h), np.float32) if ctf is None else np.asarray(ctf, dtype=np.float32)
        if ctf.shape != (d, h):
            raise ValueError(f"ctf: expected shape ({d}, {h}) (got {ctf.shape})")
        bands = [d // 2] if bands is None else [int(k) for k in bands]
        if bands[-1] != d // 2 or any(b <= a for a, b in zip(bands, bands[1:])) or bands[0] < 1:
            raise ValueError(f"bands: must increase from >= 1 to D/2 = {d // 2} (got {bands})")
        self.model = model
        self.bands = bands
        self._a = relion_matrix(*np.asarray(euler_deg, dtype=np.float64).reshape(3))[0]
        origin_px = np.zeros(2) if origin_A is None else np.asarray(origin_A, dtype=np.float64) / model.obj.apix_A
        self._centre_px = d // 2 - origin_px
        tx = _phase(model._kx, self._centre_px[:1], d)
        ty = _phase(model._ky, self._centre_px[1:], d)
        lsu = self._slices(model._f_lsu, self._a[None, :2, :], tx, ty, d, h)[0]  # T L
        data = scipy.fft.rfft2(image, workers=1)
        resid = data - ctf * lsu  # Y - C T L
        self._scale = 1.0 / (sigma * sigma * d * d)
        self._nyq = [(j, i, float(ctf[j, i]) * (data[j, i].real - ctf[j, i] * lsu[j, i].real), float(ctf[j, i]))
                     for j, i in model._nyquist]
        cr, c2 = ctf * resid, ctf * ctf
        self._rt, self._wc2 = [], []
        for k in bands:
            rows, h, weight = model.band(k)
            self._rt.append(np.ascontiguousarray(cr[rows, :h] * weight, np.complex64))
            self._wc2.append(np.ascontiguousarray(c2[rows, :h] * weight, np.float32))

    @property
    def n_bands(self) -> int:
        return len(self.bands)

    def _slices(self, volume, rows, phase_x, phase_y, n, h):
        """The kernel on ``volume`` alone: its second operand is sampled at q = 0 and times a
        zero phase, so out = phase * slice(volume, rows). (B, n, h) complex64."""
        m = self.model
        b = len(rows)
        out = np.empty((b, n, h), np.complex64)
        zero_x = np.zeros((b, h), np.complex64)
        zero_y = np.zeros((b, n), np.complex64)
        two_body_slices(volume, volume, m._bz, m._by, m._off,
                        np.ascontiguousarray(rows * m.pad), np.zeros((b, 2, 3)),
                        phase_x, phase_y, zero_x, zero_y, np.zeros((1, 1, 1), np.float32), False, out)
        return out

    def fisher_information(self, cc_deg, step_deg: float = 0.25) -> np.ndarray:
        """(n_bands, 2, 2) Fisher information matrix of each band at ``cc_deg`` (2,), per
        degree^2, axes (cc1, cc2): J_ij = Re<d_i m, d_j m> / sigma^2 over the band's
        frequencies, the derivatives d_i m of the noise-free image by forward differences of
        h = ``step_deg``. J_ii is the expected curvature of the log-likelihood along axis i
        (1 / sd^2 of its peak there); the full band's J^-1 is the Cramer-Rao bound. (The two
        Nyquist pixels are left out: their share is negligible.)"""
        c = np.asarray(cc_deg, dtype=np.float64).reshape(2)
        full = self.n_bands - 1
        u = self._ssu_terms(np.stack([c, c + [step_deg, 0.0], c + [0.0, step_deg]]), full)
        du = u[1:] - u[0]
        prod = self._wc2[full] * np.stack([[(du[a].conj() * du[b]).real for b in (0, 1)] for a in (0, 1)])
        k2 = self.model._k2
        out = np.array([prod[:, :, k2 <= k * k].sum(-1) for k in self.bands])
        return out * (2 * self._scale / step_deg ** 2)

    def _ssu_geometry(self, cc: np.ndarray, band: int):
        """Rows of A @ Rc (B, 2, 3) and the phases of T Q_c on the band's spectrum (B, h), (B, n)."""
        m, obj = self.model, self.model.obj
        rows, h, _ = m.band(self.bands[band])
        rc = conformation_matrix(obj.axis1, obj.axis2, cc[:, 0], cc[:, 1])
        ssu_px = ((obj.pivot_A - rc @ obj.pivot_A) @ self._a.T)[:, :2] / obj.apix_A
        shift = self._centre_px + ssu_px  # T Q: both shifts in one phase
        return ((self._a @ rc)[:, :2, :], _phase(m._kx[:h], shift[:, 0], m.box_size),
                _phase(m._ky[rows], shift[:, 1], m.box_size))

    def _ssu_terms(self, cc: np.ndarray, band: int) -> np.ndarray:
        """u_c = T Q_c S_c (B, n, n//2+1) complex64 on the band's spectrum."""
        rows, px, py = self._ssu_geometry(cc, band)
        return self._slices(self.model._f_ssu, rows, px, py, py.shape[1], px.shape[1])

    def log_likelihood(self, cc_deg, band: int) -> np.ndarray:
        """(B,) float64 log-likelihood (nats, up to a constant shared by all c of this band)
        of conformations ``cc_deg`` (B, 2) (cc1, cc2) degrees, frequencies of ``bands[band]``."""
        cc = np.asarray(cc_deg, dtype=np.float64).reshape(-1, 2)
        out = np.empty(len(cc))
        m = self.model
        if band < self.n_bands - 1:
            rows, px, py = self._ssu_geometry(cc, band)
            _ssu_scores(m._f_ssu, m._bz, m._by, m._off, np.ascontiguousarray(rows * m.pad), px, py,
                        self._rt[band], self._wc2[band], out)
            return out * self._scale
        u = self._ssu_terms(cc, band)
        _cross_minus_half_power(u, self._rt[band], self._wc2[band], out)
        for j, i, rho, c in self._nyq:
            z = u[:, j, i].real.astype(np.float64)  # a real image keeps only Re(T Q S) here
            out += rho * z - 0.5 * c * c * z * z
        return out * self._scale

"""The image likelihood of the ideal observer: Gaussian white noise, in Fourier space, by the
two-body structure (engine.imaging.projector's bricks and sampling, in the fused kernels of
engine.scoring.ceiling_kernel).

A particle image is ``y = irfft2(M) + n`` with white noise of ``sigma`` per pixel and, in the
projector's convention (DESIGN.md section 4), ``M = C T (L + Q_c S_c)``: C the CTF, T the phase
of the shift that puts the particle at the box centre minus its origin, L the LSU slice at A,
S_c the SSU slice at ``A @ Rc`` and Q_c the phase of the pivot shift ``A (p - Rc p)``. Only
``u_c = T Q_c S_c`` depends on the conformation c, so L, C and the data term are computed once
per particle and each conformation costs one SSU slice, sampled and scored in one pass
without being stored.

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
it). The kernel samples just the band's disc, so a band costs its share of the frequencies.

Example::

    model = TwoBodyLikelihood(build_ribosome_like(64))
    part = model.particle(image, euler_deg, origin_A, ctf, sigma)  # ctf: (D, D//2+1) from ctf_2d
    ll = part.log_likelihood(cc_deg, part.n_bands - 1)             # (B,) nats, full band
    part.fisher_information(cc_deg[0])[-1]                         # (2, 2) per degree^2
"""
from __future__ import annotations

import math

import numpy as np
import scipy.fft

from engine.imaging.projector import padded_brick_transform
from engine.scoring.ceiling_kernel import fisher_sums, pack_geometry, slice_into, ssu_scores
from engine.structure.object_model import TwoBodyObject
from engine.structure.rotations import relion_matrix


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
    """The object's padded 3D transforms (built like TwoBodyProjector's, same ``pad``, the same
    bricks) and the Parseval weights; :meth:`particle` gives one image's likelihood."""

    def __init__(self, obj: TwoBodyObject, pad: int = 2):
        if int(pad) != pad or pad < 1:
            raise ValueError(f"pad: must be a positive integer (got {pad})")
        self.obj = obj
        self.pad = int(pad)
        self.box_size = d = obj.box_size
        self._f_lsu, self._bz, self._by, self._off = padded_brick_transform(obj.lsu, self.pad)
        self._f_ssu = padded_brick_transform(obj.ssu, self.pad)[0]
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
        self._weight = w.astype(np.float32)

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
        obj = model.obj
        a = relion_matrix(*np.asarray(euler_deg, dtype=np.float64).reshape(3))[0]
        origin_px = np.zeros(2) if origin_A is None else np.asarray(origin_A, dtype=np.float64) / obj.apix_A
        centre_px = d // 2 - origin_px
        self._geom = pack_geometry(a, obj.axis1, obj.axis2, obj.pivot_A, model.pad, obj.apix_A, centre_px)
        lsu = np.empty((d, h), np.complex64)  # T L
        rows = np.ascontiguousarray(a[:2] * model.pad)
        slice_into(model._f_lsu, model._bz, model._by, model._off, rows[0], rows[1],
                   _phase(model._kx, centre_px[:1], d)[0], _phase(model._ky, centre_px[1:], d)[0], lsu)
        data = scipy.fft.rfft2(image, workers=1)
        resid = data - ctf * lsu  # Y - C T L
        self._scale = 1.0 / (sigma * sigma * d * d)
        self._nyq = np.array([(model._ky[j], model._kx[i], float(ctf[j, i]) * (data[j, i].real - ctf[j, i] * lsu[j, i].real),
                               float(ctf[j, i])) for j, i in model._nyquist])
        # every band reads its disc of these (the weights are 0 outside |k| <= D/2)
        self._rt = np.ascontiguousarray(ctf * resid * model._weight, np.complex64)
        self._wc2 = np.ascontiguousarray(ctf * ctf * model._weight, np.float32)

    @property
    def n_bands(self) -> int:
        return len(self.bands)

    def fisher_information(self, cc_deg, step_deg: float = 0.25) -> np.ndarray:
        """(n_bands, 2, 2) Fisher information matrix of each band at ``cc_deg`` (2,), per
        degree^2, axes (cc1, cc2): J_ij = Re<d_i m, d_j m> / sigma^2 over the band's
        frequencies, the derivatives d_i m of the noise-free image by forward differences of
        h = ``step_deg``. J_ii is the expected curvature of the log-likelihood along axis i
        (1 / sd^2 of its peak there); the full band's J^-1 is the Cramer-Rao bound. (The two
        Nyquist pixels are left out: their share is negligible.)"""
        c = np.asarray(cc_deg, dtype=np.float64).reshape(2)
        m = self.model
        sums = np.zeros((self.n_bands, 3))
        fisher_sums(m._f_ssu, m._bz, m._by, m._off, self._geom, np.stack([c, c + [step_deg, 0.0], c + [0.0, step_deg]]),
                    m.box_size, self._wc2, np.array(self.bands, np.int64) ** 2, sums)
        s = np.cumsum(sums, axis=0) * (2 * self._scale / step_deg ** 2)
        return np.stack([s[:, [0, 1]], s[:, [1, 2]]], axis=1)

    def log_likelihood(self, cc_deg, band: int) -> np.ndarray:
        """(B,) float64 log-likelihood (nats, up to a constant shared by all c of this band)
        of conformations ``cc_deg`` (B, 2) (cc1, cc2) degrees, frequencies of ``bands[band]``."""
        cc = np.ascontiguousarray(cc_deg, dtype=np.float64).reshape(-1, 2)
        out = np.empty(len(cc))
        m = self.model
        nyq = self._nyq if band == self.n_bands - 1 else self._nyq[:0]
        ssu_scores(m._f_ssu, m._bz, m._by, m._off, self._geom, cc, self.bands[band], m.box_size,
                   self._rt, self._wc2, nyq, out)
        return out * self._scale

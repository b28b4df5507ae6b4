"""Two-body Fourier-slice projector in RELION's convention.

``image = slice(F_LSU, A) + phase(p) * slice(F_SSU, A @ Rc)`` then one inverse 2D FFT
(DESIGN.md section 4). F_LSU and F_SSU are 3D FFTs of the maps zero-padded ``pad`` times
(default 2), after a gridding correction (the real-space map divided by the FT of the trilinear
kernel, sinc^2 along each axis, as RELION does with its radial sinc^2); slices are sampled by
trilinear interpolation in a compiled kernel. Projection is linear, so the SSU's rotation about
the pivot p becomes a rotated slice times the phase of the shift A (p - Rc p).

Conventions: maps [z, y, x], voxel (i, j, k) at ((k - D//2), (j - D//2), (i - D//2)) * apix;
``A = relion_matrix(rot, tilt, psi)``; ``img(x, y) = sum_z V(A^T (x, y, z))`` (voxel units, as
RELION's projections), image arrays [y, x] with pixel (j, k) at ((k - D//2), (j - D//2)) * apix.
The particle sits at the box centre minus the origin (rlnOriginX/YAngst). Frequencies beyond
|k| = D/2 (the Nyquist circle) are zero. Output float32.

Example::

    proj = TwoBodyProjector(build_ribosome_like(128))
    ctf = ctf_2d(128, proj.apix_A, dfu, dfv, dfang, CTFParams())
    imgs = proj.project(eulers_deg, cc_deg, origin_A, ctf)   # (B, 128, 128) float32
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.fft

from engine.structure.object_model import TwoBodyObject
from engine.imaging.projector_kernel import bricks_from_transform, two_body_slices
from engine.structure.rotations import conformation_matrix, relion_matrix


def gridding_corrected(volume: np.ndarray, padded_size: int) -> np.ndarray:
    """Divide a map [z, y, x] by the FT of the trilinear interpolation kernel on a
    ``padded_size`` grid: sinc^2(x/N) sinc^2(y/N) sinc^2(z/N), x in voxels from the centre."""
    d = volume.shape[0]
    w = np.sinc((np.arange(d) - d // 2) / padded_size) ** 2
    corr = 1.0 / w
    return (volume * corr[:, None, None] * corr[None, :, None] * corr[None, None, :]).astype(np.float32)


def _padded_transform(volume: np.ndarray, pad: int) -> np.ndarray:
    """rfftn of the gridding-corrected map zero-padded to N = pad * D with the box centre
    (voxel D//2) on index 0: (N, N, N//2+1) complex64, the zero frequency replaced by the
    uncorrected total (see :func:`centred_half_transform`).

    The padded array is mostly zeros, so the three 1D passes skip them: the x pass transforms
    only the D^2 rows that hold the map, the z pass only the D planes of y that are not zero,
    and only the y pass runs over the whole grid (0.58 of the work of a full rfftn, and no
    np.roll of the padded grid). The passes run in pocketfft's own order for rfftn (x, then z,
    then y), and a transform of zeros is exactly zero, so the result equals
    ``rfftn(roll(padded))`` to the bit.
    """
    d = volume.shape[0]
    n = pad * d
    h = n // 2 + 1
    dest = (np.arange(d) - d // 2) % n  # where voxel i lands once the centre is on index 0
    rows = np.zeros((d, d, n), dtype=np.float32)
    rows[:, :, dest] = gridding_corrected(volume, n)
    fx = scipy.fft.rfft(rows, axis=2, workers=-1)
    del rows
    planes = np.zeros((n, d, h), dtype=np.complex64)
    planes[dest] = fx
    del fx
    planes = scipy.fft.fft(planes, axis=0, workers=-1, overwrite_x=True)
    ft = np.zeros((n, n, h), dtype=np.complex64)
    ft[:, dest] = planes
    del planes
    ft = scipy.fft.fft(ft, axis=1, workers=-1, overwrite_x=True)
    # q = 0 is sampled exactly on a grid node in every slice, where trilinear interpolation
    # attenuates nothing, so it must not carry the gridding correction (which would inflate
    # every image's total density by a few per cent, as in RELION): store the true total.
    ft[0, 0, 0] = volume.sum(dtype=np.float64)
    return ft


def centred_half_transform(volume: np.ndarray, pad: int = 2):
    """Gridding-corrected, ``pad`` x zero-padded 3D FFT of a map, laid out for the kernel
    (the zero frequency keeps the uncorrected total, see :func:`_padded_transform`).

    Returns (F, off): F (N+4, N+4, N//2+3) complex64 (each size rounded up to even) with
    F[qz + off, qy + off, qx] the DFT of the padded map (origin at the box centre) at integer
    frequency q (cycles per N voxels), N = pad * D, off = N//2 + 1; y and z wrap periodically,
    the columns past qx = N//2 are 0. (The projector skips this array and goes straight to
    the kernel's bricks: :func:`padded_brick_transform`.)
    """
    n = pad * volume.shape[0]
    ft = _padded_transform(volume, pad)
    off = n // 2 + 1
    size_zy = n + 4 + n % 2
    size_x = n // 2 + 3 + (n // 2 + 3) % 2
    wrap = (np.arange(size_zy) - off) % n
    out = np.zeros((size_zy, size_zy, size_x), dtype=np.complex64)
    for z, src in enumerate(wrap):  # plane by plane: no full-size temporaries
        out[z, :, : n // 2 + 1] = ft[src][wrap]
    return out, off


def padded_brick_transform(volume: np.ndarray, pad: int = 2):
    """What the kernel reads: the bricks of :func:`centred_half_transform` built straight from
    the padded transform, without the centred array. Returns (flat, bz, by, off), the same
    values as ``brick_layout(centred_half_transform(volume, pad)[0])`` plus ``off``."""
    n = pad * volume.shape[0]
    flat, bz, by = bricks_from_transform(_padded_transform(volume, pad), n // 2 + 1)
    return flat, bz, by, n // 2 + 1


def _shift_phase(freqs: np.ndarray, shift_px: np.ndarray, box_size: int) -> np.ndarray:
    """exp(-2 pi i k t / D) for frequencies k (W,) and shifts t (B,): (B, W) complex64.
    Multiplying a spectrum by it moves the image content by +t pixels."""
    return np.exp(-2j * np.pi * shift_px[:, None] * freqs[None, :] / box_size).astype(np.complex64)


class TwoBodyProjector:
    """Projects a :class:`TwoBodyObject` at any orientation and conformation.

    The constructor precomputes the two padded 3D transforms (for D = 128, pad 2: about
    140 MB and a second or so); projecting then costs O(D^2) per image.
    """

    def __init__(self, obj: TwoBodyObject, pad: int = 2):
        if int(pad) != pad or pad < 1:
            raise ValueError(f"pad: must be a positive integer (got {pad})")
        self.obj = obj
        self.pad = int(pad)
        self.box_size = obj.box_size
        self.apix_A = obj.apix_A
        # the two bodies at once: pocketfft and the brick loop release the GIL
        with ThreadPoolExecutor(2, thread_name_prefix="projector") as pool:
            ssu = pool.submit(padded_brick_transform, obj.ssu, self.pad)
            self._f_lsu, self._bz, self._by, self._off = padded_brick_transform(obj.lsu, self.pad)
            self._f_ssu = ssu.result()[0]
        d = self.box_size
        self._kx = np.fft.rfftfreq(d) * d
        self._ky = np.fft.fftfreq(d) * d

    def project_fourier(self, euler_deg, cc_deg, origin_A=None, ctf=None) -> np.ndarray:
        """Spectra of the images, (B, D, D//2+1) complex64 in numpy's rfft2 layout (the
        inverse is ``scipy.fft.irfft2(spec, s=(D, D))``). Arguments as :meth:`project`."""
        euler = np.atleast_2d(np.asarray(euler_deg, dtype=np.float64))
        n = euler.shape[0]
        if euler.shape != (n, 3):
            raise ValueError(f"euler_deg: expected shape (B, 3) (got {euler.shape})")
        cc = np.atleast_2d(np.asarray(cc_deg, dtype=np.float64))
        if cc.shape == (1, 2) and n != 1:
            cc = np.repeat(cc, n, axis=0)
        if cc.shape != (n, 2):
            raise ValueError(f"cc_deg: expected shape ({n}, 2) (got {cc.shape})")
        d, h = self.box_size, self.box_size // 2 + 1
        if origin_A is None:
            origin_px = np.zeros((n, 2))
        else:
            origin_px = np.atleast_2d(np.asarray(origin_A, dtype=np.float64)) / self.apix_A
            if origin_px.shape != (n, 2):
                raise ValueError(f"origin_A: expected shape ({n}, 2) (got {origin_px.shape})")
        use_ctf = ctf is not None
        if use_ctf:
            ctf = np.ascontiguousarray(ctf, dtype=np.float32)
            if ctf.shape != (n, d, h):
                raise ValueError(f"ctf: expected shape ({n}, {d}, {h}) (got {ctf.shape})")
        else:
            ctf = np.zeros((1, 1, 1), dtype=np.float32)
        a = relion_matrix(euler[:, 0], euler[:, 1], euler[:, 2])
        rc = conformation_matrix(self.obj.axis1, self.obj.axis2, cc[:, 0], cc[:, 1])
        m = a @ rc
        p = self.obj.pivot_A
        # the rotated SSU is the SSU turned about the box centre, then moved by p - Rc p
        ssu_shift_px = np.einsum("bij,bj->bi", a, p - rc @ p)[:, :2] / self.apix_A
        centre_shift_px = d // 2 - origin_px
        out = np.empty((n, d, h), dtype=np.complex64)
        two_body_slices(self._f_lsu, self._f_ssu, self._bz, self._by, self._off,
                        np.ascontiguousarray(a[:, :2, :] * self.pad),
                        np.ascontiguousarray(m[:, :2, :] * self.pad),
                        _shift_phase(self._kx, centre_shift_px[:, 0], d),
                        _shift_phase(self._ky, centre_shift_px[:, 1], d),
                        _shift_phase(self._kx, ssu_shift_px[:, 0], d),
                        _shift_phase(self._ky, ssu_shift_px[:, 1], d),
                        ctf, use_ctf, out)
        return out

    def project(self, euler_deg, cc_deg, origin_A=None, ctf=None) -> np.ndarray:
        """Clean images (B, D, D) float32 [y, x].

        euler_deg: (B, 3) RELION (rot, tilt, psi) degrees; cc_deg: (B, 2) (cc1, cc2) degrees
        (or (2,) for all); origin_A: (B, 2) rlnOriginX/YAngst or None (zero); ctf: (B, D, D//2+1)
        from :func:`engine.imaging.ctf.ctf_2d`, applied in Fourier space, or None.
        """
        spec = self.project_fourier(euler_deg, cc_deg, origin_A, ctf)
        return scipy.fft.irfft2(spec, s=(self.box_size,) * 2, axes=(-2, -1), workers=1)

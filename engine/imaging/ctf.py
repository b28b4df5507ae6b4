"""Contrast transfer function in RELION's convention (images with protein white).

``CTF(s) = -sin(gamma) * exp(-B s^2 / 4)`` with
``gamma = -pi lambda dz s^2 + (pi/2) Cs lambda^3 s^4 - phi - atan(Q0 / sqrt(1 - Q0^2))``,
``dz = (U + V)/2 + ((U - V)/2) cos(2 (theta - theta_ast))`` (U, V > 0 underfocus, Angstrom),
s in 1/Angstrom, theta = atan2(s_y, s_x) the direction of the frequency in the image (x along
columns, y along rows), Cs in Angstrom (mm * 1e7), phi the phase shift. With underfocus the
CTF is positive at low frequency (it starts at +Q0), so a positive density projects to a
positive (white) image, as RELION writes its images.

The electron wavelength uses RELION's (and cryoDRGN's) constants,
``lambda = 12.2643247 / sqrt(V (1 + 0.978466e-6 V))`` Angstrom; DESIGN.md prints the older
textbook constants 12.2639 / 0.97845e-6, which differ by 3.5e-5 relative (0.01 rad of phase at
Nyquist for 1 A pixels and 2.5 um defocus). We follow RELION since our images must equal its.

Example::

    optics = CTFParams(voltage_kV=300.0, cs_mm=2.7, amplitude_contrast=0.1)
    dfu, dfv, ang = sample_defocus(256, np.random.default_rng(0))
    ctf = ctf_2d(128, 2.0, dfu, dfv, ang, optics)        # (256, 128, 65) float32, rfft layout
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class CTFParams:
    """Per-dataset optics (RELION's data_optics): voltage (kV), spherical aberration (mm),
    amplitude contrast Q0 (fraction, 0 <= Q0 < 1) and B-factor of the envelope (A^2, >= 0)."""

    voltage_kV: float = 300.0
    cs_mm: float = 2.7
    amplitude_contrast: float = 0.1
    bfactor_A2: float = 0.0

    def __post_init__(self):
        if not (math.isfinite(self.voltage_kV) and self.voltage_kV > 0):
            raise ValueError(f"voltage_kV: must be > 0 (got {self.voltage_kV})")
        if not (math.isfinite(self.cs_mm) and self.cs_mm >= 0):
            raise ValueError(f"cs_mm: must be >= 0 (got {self.cs_mm})")
        if not (0.0 <= self.amplitude_contrast < 1.0):
            raise ValueError(f"amplitude_contrast: must be in [0, 1) (got {self.amplitude_contrast})")
        if not (math.isfinite(self.bfactor_A2) and self.bfactor_A2 >= 0):
            raise ValueError(f"bfactor_A2: must be >= 0 (got {self.bfactor_A2})")


def electron_wavelength_A(voltage_kV: float) -> float:
    """Relativistic electron wavelength in Angstrom for an accelerating voltage in kV."""
    v = float(voltage_kV) * 1e3
    return 12.2643247 / math.sqrt(v * (1.0 + 0.978466e-6 * v))


def ctf_values(s_x_A, s_y_A, defocus_u_A, defocus_v_A, defocus_angle_deg, optics: CTFParams,
               phase_shift_deg=0.0) -> np.ndarray:
    """CTF at spatial frequencies (s_x, s_y) in 1/Angstrom; all arguments broadcast together.

    Returns float64 of the broadcast shape (the reference for plots and tests).
    """
    s_x = np.asarray(s_x_A, dtype=np.float64)
    s_y = np.asarray(s_y_A, dtype=np.float64)
    s2 = s_x * s_x + s_y * s_y
    theta = np.arctan2(s_y, s_x)
    return _ctf(s2, np.cos(2 * theta), np.sin(2 * theta), defocus_u_A, defocus_v_A,
                defocus_angle_deg, optics, phase_shift_deg)


def _ctf(s2, cos2t, sin2t, dfu, dfv, dfang_deg, optics, phase_shift_deg):
    """The CTF formula in float64 (the reference ctf_2d is checked against)."""
    lam = electron_wavelength_A(optics.voltage_kV)
    cs_A = optics.cs_mm * 1e7
    q0 = optics.amplitude_contrast
    dfu = np.asarray(dfu, dtype=np.float64)
    dfv = np.asarray(dfv, dtype=np.float64)
    ang = np.deg2rad(np.asarray(dfang_deg, dtype=np.float64))
    # cos(2(theta - a)) = cos2t cos2a + sin2t sin2a: keeps per-image work to products
    dz = 0.5 * (dfu + dfv) + 0.5 * (dfu - dfv) * (cos2t * np.cos(2 * ang) + sin2t * np.sin(2 * ang))
    gamma = (-math.pi * lam * dz * s2 + 0.5 * math.pi * cs_A * lam ** 3 * s2 * s2
             - np.deg2rad(phase_shift_deg) - math.atan(q0 / math.sqrt(1.0 - q0 * q0)))
    ctf = -np.sin(gamma)
    if optics.bfactor_A2:
        ctf = ctf * np.exp(-0.25 * optics.bfactor_A2 * s2)
    return ctf


@lru_cache(maxsize=8)
def _frequency_grids(box_size: int, apix_A: float, rfft: bool):
    """s^2, cos(2 theta), sin(2 theta) on the image's FFT grid, each (D, W) float32."""
    fy = np.fft.fftfreq(box_size) / apix_A
    fx = (np.fft.rfftfreq(box_size) if rfft else np.fft.fftfreq(box_size)) / apix_A
    sx, sy = np.meshgrid(fx, fy)
    s2 = sx * sx + sy * sy
    theta = np.arctan2(sy, sx)
    grids = tuple(g.astype(np.float32) for g in (s2, np.cos(2 * theta), np.sin(2 * theta)))
    for g in grids:
        g.flags.writeable = False
    return grids


def ctf_2d(box_size: int, apix_A: float, defocus_u_A, defocus_v_A, defocus_angle_deg,
           optics: CTFParams, phase_shift_deg=0.0, rfft: bool = True) -> np.ndarray:
    """CTF images for B particles on the FFT grid of a (D, D) image.

    defocus_u_A, defocus_v_A, defocus_angle_deg, phase_shift_deg: scalars or (B,) arrays
    (RELION's rlnDefocusU/V/Angle, rlnPhaseShift). Returns (B, D, D//2 + 1) float32 in
    numpy's rfft2 layout (rows = s_y in fftfreq order, columns = s_x >= 0, the Nyquist column
    at +1/(2 apix)), or (B, D, D) in fft2 layout (unshifted) when ``rfft`` is False.
    Per-image coefficients are computed in float64, the per-pixel polynomial and sine in
    float32 (10x faster; phase error ~1e-5 rad at 3 A/px, CTF error < 5e-5).
    """
    if box_size < 2:
        raise ValueError(f"box_size: must be >= 2 (got {box_size})")
    if not apix_A > 0:
        raise ValueError(f"apix_A: must be > 0 (got {apix_A})")
    dfu, dfv, ang, phase = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(a, dtype=np.float64))
          for a in (defocus_u_A, defocus_v_A, defocus_angle_deg, phase_shift_deg)))
    if dfu.ndim != 1:
        raise ValueError(f"defocus_u_A: expected a scalar or a 1-D array (got shape {dfu.shape})")
    s2, cos2t, sin2t = _frequency_grids(int(box_size), float(apix_A), bool(rfft))
    lam = electron_wavelength_A(optics.voltage_kV)
    q0 = optics.amplitude_contrast
    # gamma = s^2 (c_avg + c_cos cos2t + c_sin sin2t) + c4 s^4 + c0, from the formula above
    k1 = -math.pi * lam
    two_a = 2 * np.deg2rad(ang)
    c_avg = (k1 * 0.5 * (dfu + dfv)).astype(np.float32)
    c_cos = (k1 * 0.5 * (dfu - dfv) * np.cos(two_a)).astype(np.float32)
    c_sin = (k1 * 0.5 * (dfu - dfv) * np.sin(two_a)).astype(np.float32)
    c0 = (-np.deg2rad(phase) - math.atan(q0 / math.sqrt(1.0 - q0 * q0))).astype(np.float32)
    quartic = np.float32(0.5 * math.pi * optics.cs_mm * 1e7 * lam ** 3) * s2 * s2
    envelope = np.exp(np.float32(-0.25 * optics.bfactor_A2) * s2) if optics.bfactor_A2 else None
    out = np.empty((dfu.size,) + s2.shape, dtype=np.float32)
    for b in range(dfu.size):
        g = out[b]
        np.multiply(cos2t, c_cos[b], out=g)
        g += sin2t * c_sin[b]
        g += c_avg[b]
        g *= s2
        g += quartic
        g += c0[b]
        np.sin(g, out=g)
        np.negative(g, out=g)
        if envelope is not None:
            g *= envelope
    return out


def sample_defocus(n: int, rng: np.random.Generator, min_A: float = 10000.0,
                   max_A: float = 25000.0, max_astigmatism_A: float = 500.0):
    """Random per-particle defocus, DESIGN.md's default: mean defocus uniform in
    [min_A, max_A], astigmatism U - V uniform in [0, max_astigmatism_A], angle uniform in
    [0, 180) degrees. Returns (defocus_u_A, defocus_v_A, defocus_angle_deg), each (n,) float64,
    with U >= V as RELION keeps them."""
    if not 0 < min_A <= max_A:
        raise ValueError(f"min_A, max_A: need 0 < min_A <= max_A (got {min_A}, {max_A})")
    if not 0 <= max_astigmatism_A < 2 * min_A:
        raise ValueError(f"max_astigmatism_A: must be in [0, 2 min_A) (got {max_astigmatism_A})")
    mean = rng.uniform(min_A, max_A, n)
    astig = rng.uniform(0.0, max_astigmatism_A, n)
    angle = rng.uniform(0.0, 180.0, n)
    return mean + 0.5 * astig, mean - 0.5 * astig, angle

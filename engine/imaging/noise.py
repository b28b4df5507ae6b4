"""White Gaussian noise at a target SNR, with the SNR definition of DESIGN.md section 4.

``SNR = signal_var / sigma^2``, where ``signal_var`` is the mean, over a calibration sample of
clean CTF-modulated images, of each image's pixel variance inside a centred circular mask whose
diameter is the particle's. Tools differ here (cryoDRGN used the whole-box std, ASPIRE the mean
energy in a disk), so the definition, mask radius and sigma go into the dataset's manifest.
The mask is centred on pixel (D//2, D//2), the particle's centre in our images.

Example::

    cal = calibrate_noise(projector, snr=1.0, rng=np.random.default_rng(1))
    noisy = add_white_noise(projector.project(eulers, cc, None, ctf), cal.sigma, rng)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from engine.imaging.ctf import CTFParams, ctf_2d, sample_defocus
from engine.structure.rotations import uniform_euler_angles

SNR_DEFINITION = ("SNR = signal_var / sigma^2, signal_var = mean over calibration images of the pixel "
                  "variance of the clean CTF-modulated image inside a centred circle of the particle's "
                  "diameter; noise white Gaussian with standard deviation sigma, added in real space")


def disk_mask(box_size: int, radius_px: float) -> np.ndarray:
    """(D, D) bool, True within ``radius_px`` of pixel (D//2, D//2)."""
    y, x = np.ogrid[:box_size, :box_size]
    c = box_size // 2
    return (x - c) ** 2 + (y - c) ** 2 <= radius_px ** 2


def signal_variance(images: np.ndarray, radius_px: float) -> float:
    """Mean over images (B, D, D) of the variance of the pixels inside the centred disk."""
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images: expected shape (B, D, D) (got {images.shape})")
    if not radius_px >= 1:
        raise ValueError(f"radius_px: must be >= 1 (got {radius_px})")
    pixels = images[:, disk_mask(images.shape[1], radius_px)].astype(np.float64)
    return float(pixels.var(axis=1).mean())


def noise_sigma(signal_var: float, snr: float) -> float:
    """Standard deviation of the white noise that gives ``snr``: sqrt(signal_var / snr)."""
    if not (math.isfinite(snr) and snr > 0):
        raise ValueError(f"snr: must be > 0 (got {snr})")
    if not (math.isfinite(signal_var) and signal_var >= 0):
        raise ValueError(f"signal_var: must be >= 0 (got {signal_var})")
    return math.sqrt(signal_var / snr)


def add_white_noise(images: np.ndarray, sigma: float, rng: np.random.Generator,
                    in_place: bool = False) -> np.ndarray:
    """images + N(0, sigma^2) per pixel, float32 (B, D, D) or any shape. The noise is drawn
    as ``rng.standard_normal(images.shape, dtype=float32)``, so it depends only on the rng's
    state and the shape. With ``in_place`` (and float32 input) the input array is modified."""
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma: must be >= 0 (got {sigma})")
    noise = rng.standard_normal(np.shape(images), dtype=np.float32)
    noise *= np.float32(sigma)
    if in_place and isinstance(images, np.ndarray) and images.dtype == np.float32:
        images += noise
        return images
    noise += images
    return noise


@dataclass(frozen=True)
class NoiseCalibration:
    """A calibrated noise level (goes into the dataset manifest as ``asdict``)."""

    snr: float
    sigma: float
    signal_variance: float
    mask_radius_px: float
    n_calibration_images: int
    definition: str = SNR_DEFINITION

    def to_dict(self) -> dict:
        return asdict(self)


def calibrate_noise(projector, snr: float, rng: np.random.Generator, optics: CTFParams | None = CTFParams(),
                    n_images: int = 256, mask_radius_px: float | None = None, cc_deg=None,
                    defocus_range_A=(10000.0, 25000.0), max_astigmatism_A: float = 500.0,
                    batch_size: int = 128) -> NoiseCalibration:
    """Noise sigma for ``snr`` from ``n_images`` clean images of ``projector``
    (a :class:`engine.imaging.projector.TwoBodyProjector`): uniform random orientations, conformations
    ``cc_deg`` ((n_images, 2) degrees; default all (0, 0)), no shift, and with ``optics`` a
    random defocus (:func:`engine.imaging.ctf.sample_defocus`); ``optics=None`` calibrates without CTF.
    mask_radius_px defaults to the particle radius (``obj.diameter_A / 2``), at most D/2.
    The draws use ``rng`` in this order: orientations, then defocus.
    """
    if n_images < 1:
        raise ValueError(f"n_images: must be >= 1 (got {n_images})")
    d = projector.box_size
    if mask_radius_px is None:
        mask_radius_px = min(projector.obj.diameter_A / 2.0 / projector.apix_A, d / 2.0)
    cc = np.zeros((n_images, 2)) if cc_deg is None else np.asarray(cc_deg, dtype=np.float64)
    if cc.shape != (n_images, 2):
        raise ValueError(f"cc_deg: expected shape ({n_images}, 2) (got {cc.shape})")
    euler = uniform_euler_angles(n_images, rng)
    if optics is not None:
        dfu, dfv, dfang = sample_defocus(n_images, rng, *defocus_range_A, max_astigmatism_A)
    total = 0.0
    for lo in range(0, n_images, batch_size):
        hi = min(lo + batch_size, n_images)
        ctf = None if optics is None else ctf_2d(d, projector.apix_A, dfu[lo:hi], dfv[lo:hi], dfang[lo:hi], optics)
        total += signal_variance(projector.project(euler[lo:hi], cc[lo:hi], None, ctf), mask_radius_px) * (hi - lo)
    var = total / n_images
    return NoiseCalibration(float(snr), noise_sigma(var, snr), float(var), float(mask_radius_px), int(n_images))

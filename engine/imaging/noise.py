"""White Gaussian noise at a target SNR, with the SNR definition of DESIGN.md section 4.

``SNR = signal_var / sigma^2``, where ``signal_var`` is the mean, over a calibration sample of
clean CTF-modulated images, of each image's pixel variance inside a centred circular mask whose
diameter is the particle's (:func:`particle_mask_radius_px`). Tools differ here (cryoDRGN used
the whole-box std, ASPIRE the mean energy in a disk), so the definition, mask radius and sigma
go into the dataset's manifest. The mask is centred on pixel (D//2, D//2), the particle's
centre in our images. :func:`calibrate_noise` is the one place that computes it: the
simulation calls it on images drawn like the dataset's (engine.simulation.calibration), and
the GUI's projection preview on the same images, so both show one sigma.

Example::

    radius = particle_mask_radius_px(obj.diameter_A, obj.apix_A, obj.box_size)
    cal = calibrate_noise([projector.project(eulers, cc, None, ctf)], snr=1.0, mask_radius_px=radius)
    noisy = add_white_noise(clean_images, cal.sigma, rng)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Iterable

import numpy as np

SNR_DEFINITION = ("SNR = signal_var / sigma^2, signal_var = mean over calibration images of the pixel "
                  "variance of the clean CTF-modulated image inside a centred circle of the particle's "
                  "diameter; noise white Gaussian with standard deviation sigma, added in real space")


def particle_mask_radius_px(diameter_A: float, apix_A: float, box_size: int) -> float:
    """Radius in pixels of the SNR disk: the particle's radius (``diameter_A`` / 2, Angstrom,
    e.g. TwoBodyObject.diameter_A) at ``apix_A`` Angstrom per pixel, at most half the box."""
    return float(min(diameter_A / 2.0 / apix_A, box_size / 2.0))


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
    """A calibrated noise level (goes into the dataset manifest as ``asdict``): ``snr`` (None:
    noiseless, sigma 0), ``sigma`` per pixel, ``signal_variance`` (mean pixel variance in the
    disk), ``mask_radius_px``, the number of calibration images and the definition text."""

    snr: float | None
    sigma: float
    signal_variance: float
    mask_radius_px: float
    n_calibration_images: int
    definition: str = SNR_DEFINITION

    def to_dict(self) -> dict:
        return asdict(self)

    def at_snr(self, snr: float | None) -> NoiseCalibration:
        """The same calibration for another SNR (signal_var does not depend on it): sigma =
        sqrt(signal_var / snr), 0 for None."""
        return replace(self, snr=snr, sigma=0.0 if snr is None else float(noise_sigma(self.signal_variance, snr)))


def calibrate_noise(clean_batches: Iterable[np.ndarray], snr: float | None, mask_radius_px: float,
                    definition: str = SNR_DEFINITION) -> NoiseCalibration:
    """Noise sigma for ``snr`` from a calibration sample of clean CTF-modulated images, given as
    batches (each (B, D, D)): signal_var is the mean over all images of the pixel variance
    inside the centred disk of ``mask_radius_px``, sigma = sqrt(signal_var / snr) (0 for
    ``snr`` None). The batches are consumed once; memory is one batch."""
    total, n_images = 0.0, 0
    for batch in clean_batches:
        total += signal_variance(batch, mask_radius_px) * len(batch)
        n_images += len(batch)
    if n_images < 1:
        raise ValueError("clean_batches: no calibration images")
    return NoiseCalibration(None, 0.0, float(total / n_images), float(mask_radius_px), n_images, definition).at_snr(snr)

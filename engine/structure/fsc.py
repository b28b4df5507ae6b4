"""Compare two maps: Fourier shell correlation, resolution at a threshold, real-space correlation.

Maps are cubic float arrays (D, D, D) [z, y, x] on the same grid, ``apix_A`` Angstrom per voxel.

- :func:`fsc`: FSC per shell k = 0 .. D//2, shell k holding the Fourier voxels whose radius
  (integer frequencies, cycles per box) rounds to k; k = D//2 is Nyquist. Computed from real
  FFTs with each half-space voxel weighted as the pair it stands for, so the curve equals the
  full-FFT one at half the memory.
- :func:`shell_frequencies_per_A`: shell k sits at k / (D apix_A) 1/Angstrom.
- :func:`resolution_A`: 1 / the frequency where the curve first falls below a threshold
  (linear between the shells either side); Nyquist (2 apix_A) when it never does, since the
  curve cannot tell anything finer; ``math.inf`` when shell 1 is already below (nothing resolved).
- :func:`real_space_correlation`: Pearson correlation weighted by a soft mask (0..1), so
  the solvent outside the object neither helps nor hurts.
- :func:`compare_maps`: all of these for a map against a reference, both multiplied by one
  soft mask of the reference's object first (a masked FSC: noise in the solvent of a
  reconstruction would otherwise pull every shell down).

Thresholds: against a noiseless reference (a ground-truth map) 0.5 is the criterion that
matches the gold-standard half-map 0.143 (Rosenthal & Henderson 2003: C_ref = sqrt(2 FSC /
(1 + FSC)), and 0.143 -> 0.5); 0.143 applied to a map-vs-truth curve is more lenient.

Example::

    curve = fsc(reconstruction, truth)                       # (D//2 + 1,)
    resolution_A(curve, shell_frequencies_per_A(64, 5.0), threshold=0.5)   # e.g. 14.2
    c = compare_maps(reconstruction, truth, apix_A=5.0)      # masked FSC, 0.5 / 0.143, correlation
    c.resolution_fsc05_A, c.resolution_fsc0143_A, c.correlation
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft

from engine.structure.object_model import make_soft_mask

FSC_HALF = 0.5
FSC_GOLD = 0.143


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.ndim != 3 or len(set(a.shape)) != 1:
        raise ValueError(f"maps must be cubic 3D arrays (got shape {a.shape})")
    if a.shape != b.shape:
        raise ValueError(f"maps must have the same shape (got {a.shape} and {b.shape})")


def _shells(d: int) -> tuple[np.ndarray, np.ndarray]:
    """(shell index, pair weight) of every voxel of a (d, d, d // 2 + 1) real FFT, flattened."""
    f = np.fft.fftfreq(d) * d
    fz = np.arange(d // 2 + 1, dtype=np.float64)
    radius = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + fz[None, None, :] ** 2)
    shell = np.rint(radius).astype(np.int64)
    # the last axis keeps only kz >= 0: a plane 0 < kz < d/2 stands for itself and its mirror,
    # while kz = 0 (and kz = d/2 for even d) already holds both members of each pair
    weight = np.full(fz.shape, 2.0)
    weight[0] = 1.0
    if d % 2 == 0:
        weight[-1] = 1.0
    return shell.ravel(), np.broadcast_to(weight, shell.shape).ravel()


def fsc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(D//2 + 1,) float64 Fourier shell correlation of two cubic maps, shells 0 .. D//2.

    A shell where either map has no power gives 0 (nothing correlates there)."""
    a, b = np.asarray(a), np.asarray(b)
    _check_pair(a, b)
    d = a.shape[0]
    fa = scipy.fft.rfftn(a.astype(np.float64, copy=False))
    fb = scipy.fft.rfftn(b.astype(np.float64, copy=False))
    shell, weight = _shells(d)
    n = d // 2 + 1
    keep = shell < n  # the corners beyond Nyquist are not a full shell
    shell, weight = shell[keep], weight[keep]
    fa, fb = fa.ravel()[keep], fb.ravel()[keep]
    cross = np.bincount(shell, weight * (fa * np.conj(fb)).real, minlength=n)
    power = np.bincount(shell, weight * np.abs(fa) ** 2, minlength=n) * \
        np.bincount(shell, weight * np.abs(fb) ** 2, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(power > 0, cross / np.sqrt(power), 0.0)


def shell_frequencies_per_A(box_size: int, apix_A: float) -> np.ndarray:
    """(box_size//2 + 1,) spatial frequency of each FSC shell in 1/Angstrom: k / (D apix_A)."""
    if not apix_A > 0:
        raise ValueError(f"apix_A must be > 0 (got {apix_A})")
    return np.arange(box_size // 2 + 1) / (box_size * apix_A)


def resolution_A(curve: np.ndarray, frequency_per_A: np.ndarray, threshold: float = FSC_HALF) -> float:
    """Resolution in Angstrom where ``curve`` (shells 0 .. D//2, as :func:`fsc` gives) at
    ``frequency_per_A`` (:func:`shell_frequencies_per_A`) first falls below ``threshold``, from
    shell 1 on (shell 0 is the mean density): 1 / the frequency interpolated linearly between
    the last shell above and the first below. 1 / the last shell's frequency (Nyquist, 2 apix_A,
    for an even box) when no shell falls below; ``math.inf`` when shell 1 already does."""
    curve = np.asarray(curve, dtype=np.float64)
    freq = np.asarray(frequency_per_A, dtype=np.float64)
    if curve.ndim != 1 or len(curve) < 2 or freq.shape != curve.shape:
        raise ValueError(f"curve and frequency_per_A must be the same shells 0 .. D//2, at least two "
                         f"(got shapes {curve.shape} and {freq.shape})")
    below = np.flatnonzero(curve[1:] < threshold)
    if below.size == 0:
        return float(1.0 / freq[-1])
    k = int(below[0]) + 1
    if k == 1:
        return math.inf
    above, under = curve[k - 1], curve[k]
    f = freq[k - 1] + (freq[k] - freq[k - 1]) * (above - threshold) / (above - under)
    return float(1.0 / f)


def real_space_correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Pearson correlation of two maps, each voxel weighted by ``mask`` (values 0..1, same
    shape; None: every voxel weighs 1). Scale and offset of either map do not matter."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"maps must have the same shape (got {np.shape(a)} and {np.shape(b)})")
    w = np.ones_like(a) if mask is None else np.asarray(mask, dtype=np.float64).ravel()
    if w.shape != a.shape or w.min() < 0 or not w.sum() > 0:
        raise ValueError("mask must have the maps' shape, values >= 0 and some weight")
    a_c = a - np.dot(w, a) / w.sum()
    b_c = b - np.dot(w, b) / w.sum()
    denominator = math.sqrt(float(np.dot(w, a_c * a_c)) * float(np.dot(w, b_c * b_c)))
    return float(np.dot(w, a_c * b_c)) / denominator if denominator > 0 else 0.0


@dataclass(frozen=True, eq=False)
class MapComparison:
    """A map against a reference: ``curve`` (D//2 + 1,) masked FSC per shell at
    ``frequency_per_A`` (1/Angstrom); resolutions in Angstrom at FSC 0.5 and 0.143 (see
    :func:`resolution_A`); ``correlation``: real-space correlation in the same soft mask."""

    curve: np.ndarray
    frequency_per_A: np.ndarray
    resolution_fsc05_A: float
    resolution_fsc0143_A: float
    correlation: float


def compare_maps(volume: np.ndarray, reference: np.ndarray, apix_A: float,
                 mask: np.ndarray | None = None) -> MapComparison:
    """Compare ``volume`` with ``reference`` (same grid) inside ``mask`` (0..1; None: the soft
    mask of the reference's object, ``make_soft_mask``: 5 % of its maximum, grown 6 A, a 12 A
    soft edge, as the dataset's own SSU mask is made)."""
    volume, reference = np.asarray(volume), np.asarray(reference)
    _check_pair(volume, reference)
    mask = make_soft_mask(reference, apix_A) if mask is None else np.asarray(mask, dtype=np.float32)
    curve = fsc(volume * mask, reference * mask)
    freq = shell_frequencies_per_A(volume.shape[0], apix_A)
    return MapComparison(curve=curve, frequency_per_A=freq,
                         resolution_fsc05_A=resolution_A(curve, freq, FSC_HALF),
                         resolution_fsc0143_A=resolution_A(curve, freq, FSC_GOLD),
                         correlation=real_space_correlation(volume, reference, mask))

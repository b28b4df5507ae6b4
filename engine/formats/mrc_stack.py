"""MRC image stacks of a dataset: ``particles/particles_NNNNN.mrcs``, float32, pixel size set.

:class:`MrcStackWriter` streams float32 images into an MRC image stack through a temporary
file beside its target (engine.atomic_files), accumulating the header statistics on the way,
then renames it and returns its sha256. Memory stays at one batch of images.

Example::

    with MrcStackWriter(path, n=len(images), box_size=64, apix_A=5.0) as w:
        w.write(images)                 # (B, 64, 64) float32, any number of calls
    sha = w.sha256
"""
from __future__ import annotations

from pathlib import Path

import mrcfile
import numba
import numpy as np

from engine.atomic_files import fsync_replace, sha256_file, temporary_path

STACK_LABEL = "elbench simulated particles (RELION convention: protein white)"


@numba.njit(cache=True, nogil=True)
def _statistics(values):
    """(min, max, sum, sum of squares) of float32 ``values`` in one pass, sums in float64 in
    index order (so the header does not depend on the CPU's vector width). One pass
    instead of numpy's four, and no float64 copy of the batch: 7x faster at box 128."""
    lo = np.inf
    hi = -np.inf
    total = 0.0
    squares = 0.0
    for v in values:
        x = np.float64(v)
        lo = min(lo, x)
        hi = max(hi, x)
        total += x
        squares += x * x
    return lo, hi, total, squares


class MrcStackWriter:
    """Stream ``n`` float32 images of ``box_size`` pixels into an MRC image stack.

    The header (mode 2, space group 0 = image stack, voxel size ``apix_A``) is written by
    ``mrcfile``; images go straight to the file, so memory stays at one batch. min, max, mean
    and rms are accumulated and patched into the header at the end. On success the file is
    fsynced and renamed to ``path``; on error or :meth:`abort` the temporary file is removed.
    """

    def __init__(self, path, n: int, box_size: int, apix_A: float):
        self.path = Path(path)
        self.n, self.box_size, self.apix_A = int(n), int(box_size), float(apix_A)
        self.tmp = temporary_path(self.path)
        self.sha256: str | None = None
        self._written = 0
        self._min, self._max, self._sum, self._sumsq = np.inf, -np.inf, 0.0, 0.0
        with mrcfile.new_mmap(self.tmp, shape=(self.n, self.box_size, self.box_size), mrc_mode=2) as mrc:
            mrc.set_image_stack()
            mrc.voxel_size = self.apix_A
            self._header_dtype = mrc.header.dtype
            self._offset = mrc.header.nbytes + mrc.extended_header.nbytes
        self._fh = open(self.tmp, "r+b")
        self._fh.seek(self._offset)

    def write(self, images: np.ndarray) -> None:
        images = np.ascontiguousarray(images, dtype=np.float32)
        if images.ndim != 3 or images.shape[1:] != (self.box_size, self.box_size):
            raise ValueError(f"images: expected (B, {self.box_size}, {self.box_size}), got {images.shape}")
        if self._written + len(images) > self.n:
            raise ValueError(f"{self.path}: more than {self.n} images written")
        self._fh.write(images.data)  # mode 2: float32 in the machine's byte order, as mrcfile writes
        self._written += len(images)
        if len(images):
            lo, hi, total, squares = _statistics(images.reshape(-1))
            self._min, self._max = min(self._min, lo), max(self._max, hi)
            self._sum += total
            self._sumsq += squares

    def close(self) -> str:
        """Finish the stack: patch header stats, fsync, rename; returns the sha256."""
        if self._written != self.n:
            self.abort()
            raise ValueError(f"{self.path}: {self._written} images written, expected {self.n}")
        count = self.n * self.box_size**2
        mean = self._sum / count
        rms = np.sqrt(max(self._sumsq / count - mean * mean, 0.0))
        self._fh.seek(0)
        header = np.frombuffer(bytearray(self._fh.read(self._header_dtype.itemsize)), dtype=self._header_dtype).copy()
        header["dmin"], header["dmax"], header["dmean"], header["rms"] = self._min, self._max, mean, rms
        # mrcfile's label carries the creation time; ours is fixed so the bytes depend on the data alone
        header["label"][0, 0] = STACK_LABEL.ljust(80).encode("ascii")
        header["nlabl"] = 1
        self._fh.seek(0)
        self._fh.write(header.tobytes())
        self._fh.close()
        self.sha256 = sha256_file(self.tmp)
        fsync_replace(self.tmp, self.path)
        return self.sha256

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> MrcStackWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

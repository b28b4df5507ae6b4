"""ManifoldEM outputs: the occupancy map ``S2_OM`` and per-particle coordinates.

ManifoldEM (Python) histograms the reaction coordinate of every projection direction into
``nClass`` bins (50 by default), sums the histograms, and writes the counts with
``hUn.astype('int').tofile(.../ELConc50/OM/S2_OM)``: raw little-endian int64 on 64-bit Linux,
no header, no shape -- even where the file is named ``S2_OM.npy`` (newer releases), so the
file is read as a .npy only when it starts with numpy's magic bytes, never for its name. Its energy, ``-kT ln(max(count, 1))`` shifted to 0, goes to ``S2_EL`` as raw
float64 (``load_occupancy_map`` recognises that file and refuses it). A 2D map has the same
layout, n x n values in row-major order.

What an occupancy map can and cannot score: it holds counts per bin of ManifoldEM's own
coordinate, not which particle fell in which bin, so per-well recall and accuracy (the paper's
metric) cannot be computed from it; it gives the recovered free-energy profile (or surface),
``-kT ln(p / p_max)``, whose minima, depths and barriers can be compared with the designed
landscape by eye or along a path. Recall needs per-particle coordinates: ManifoldEM's output
folder, whose per-direction files give each particle its tau
(engine.formats.loaders.manifoldem_folder), or a table with image names or particle indices
(read by the generic loader). Both are kind "manifoldem".

Example::

    om = load_occupancy_map("outputs_x/ELConc50/OM/S2_OM")
    om.counts.shape, om.free_energy(kT_kcal_per_mol=0.596)
    out = load_manifoldem("output/ribosome", dataset)          # the output folder: tau
    out = load_manifoldem("manifoldem_coords.csv", dataset)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.formats.input_checks import OCCUPANCY_MAX_BYTES
from engine.formats.loaders.base import LoaderError, MethodOutput, load_npy, refuse_unusual_file
from engine.formats.loaders.generic import load_generic
from engine.formats.loaders.manifoldem_folder import is_manifoldem_folder, load_manifoldem_folder

KIND = "manifoldem"
OCCUPANCY_KIND = "manifoldem_occupancy"
_NPY_MAGIC = b"\x93NUMPY"
# Counts above this are not a histogram of particles: most likely float64 bits read as int64.
_MAX_PLAUSIBLE_COUNT = 2**53


@dataclass(frozen=True, eq=False)
class OccupancyMap:
    """Counts per bin of a method's own coordinate(s).

    counts: (n_bins,) for a 1D map, (n2, n1) for a 2D one (row-major, as written), int64 >= 0.
    """

    path: str
    counts: np.ndarray
    label: str = "ManifoldEM occupancy"

    @property
    def n_counted(self) -> int:
        return int(self.counts.sum())

    def free_energy(self, kT_kcal_per_mol: float) -> np.ndarray:
        """-kT ln(p / p_max) in kcal/mol per bin (0 at the most populated), NaN for empty bins."""
        counts = self.counts.astype(np.float64)
        with np.errstate(divide="ignore"):
            g = kT_kcal_per_mol * np.log(counts.max() / counts)  # not -kT ln(p): no -0.0
        g[counts == 0] = np.nan
        return g


def load_occupancy_map(path, shape: tuple[int, ...] | None = None, label: str | None = None) -> OccupancyMap:
    """Read an ``S2_OM`` file: raw int64 (what ManifoldEM writes, whatever the name), or a
    .npy when it starts with numpy's magic. ``shape``: e.g. (n2, n1) for a 2D map; default 1D
    (a .npy keeps its own shape), or square 2D when the length is a perfect square of at least
    100 (ManifoldEM's 1D maps have 50 bins)."""
    path = Path(path)
    refuse_unusual_file(path, OCCUPANCY_MAX_BYTES, "a ManifoldEM occupancy map")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LoaderError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if not raw:
        raise LoaderError(path, "the file is empty")
    if raw.startswith(_NPY_MAGIC):
        counts = _npy_counts(path, raw)
        shape = shape or counts.shape
        counts = counts.ravel()
    else:
        counts = _raw_counts(path, raw)
    if (counts < 0).any() or (counts > _MAX_PLAUSIBLE_COUNT).any():
        raise LoaderError(path, "values are not particle counts (negative or astronomically large): "
                                "is this the float64 energy file S2_EL rather than S2_OM?")
    if counts.sum() == 0:
        raise LoaderError(path, "every bin is empty")
    if shape is None:
        side = math.isqrt(counts.size)
        shape = (side, side) if side * side == counts.size and counts.size >= 100 else (counts.size,)
    shape = tuple(int(s) for s in shape)
    if math.prod(shape) != counts.size:
        raise LoaderError(path, f"{counts.size} values cannot have shape {shape}")
    return OccupancyMap(str(path), counts.reshape(shape), label or f"ManifoldEM {path.name}")


def _raw_counts(path: Path, raw: bytes) -> np.ndarray:
    if len(raw) % 8:
        raise LoaderError(path, f"{len(raw)} bytes is not a whole number of int64 values "
                                "(a truncated file, or not a ManifoldEM occupancy map?)")
    return np.frombuffer(raw, dtype="<i8").copy()


def _npy_counts(path: Path, raw: bytes) -> np.ndarray:
    """Counts from a real .npy (numpy's magic found): whole numbers, any integer or float dtype."""
    arr = load_npy(path, raw)
    if arr.ndim not in (1, 2) or arr.size == 0 or not (np.issubdtype(arr.dtype, np.integer)
                                                        or np.issubdtype(arr.dtype, np.floating)):
        raise LoaderError(path, f"a .npy of shape {arr.shape} and dtype {arr.dtype} is not an occupancy map")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise LoaderError(path, "values are not particle counts (not whole numbers): "
                                    "is this an energy map rather than S2_OM?")
        if np.abs(arr).max() > _MAX_PLAUSIBLE_COUNT:
            raise LoaderError(path, "values are not particle counts (astronomically large)")
    return arr.astype(np.int64)


def load_manifoldem(path, dataset, *, ind=None, label: str | None = None) -> MethodOutput:
    """Per-particle ManifoldEM coordinates: from its output folder (or its ``ELConc<R>``
    folder, or one ``S2_prD_<k>.pkl`` in it: the whole folder is read), 1D tau per particle;
    else from a table (see engine.formats.loaders.generic). An occupancy map given here is
    refused with an explanation."""
    path = Path(path)
    if is_manifoldem_folder(path):
        if ind is not None:
            raise LoaderError(path, "option ind does not apply to a ManifoldEM output folder "
                                    "(its distances/IMGs_prD_<k>.h5 files hold the particle indices)")
        return load_manifoldem_folder(path, dataset, label=label)
    if path.is_dir():
        raise LoaderError(path, "is not a ManifoldEM output folder: no distances/ folder beside "
                                "ELConc<R>/S2_prD_<k>.pkl files")
    if is_occupancy_map(path):
        raise LoaderError(path, "is a ManifoldEM occupancy map (counts per bin, no particle assignment): "
                                "it has no per-particle coordinates to score; read it with load_occupancy_map")
    return load_generic(path, dataset, ind=ind, label=label or f"ManifoldEM {path.stem}", kind=KIND)


def is_occupancy_map(path) -> bool:
    return Path(path).name.startswith("S2_OM")

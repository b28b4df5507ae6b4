"""ManifoldEM's output folder read as one 1D coordinate per particle.

ManifoldEM (Python, flatironinstitute/ManifoldEM) writes no per-particle file. Its output
folder ``output/<project>/`` holds, per projection direction (prD) k:

* ``distances/IMGs_prD_<k>.h5`` (HDF5): ``ind``, the 0-based indices of the prD's images in
  the STAR file ManifoldEM was given (also ``D``, ``q``, ...; only ``ind`` is read);
* ``ELConc<R>/S2_prD_<k>.pkl`` (a pickled dict of numpy arrays): ``posPath`` (positions in
  ``ind`` of the images kept by manifold trimming), ``PosPsi1`` (``posPath`` positions sorted
  along the chosen diffusion coordinate, nS of them) and ``tau`` (the reaction coordinate,
  0..1, one per NLSA snapshot: nS - 2 ConOrder of them).

With ConOrder = nS // R (R = ``con_order_range``, 50 by default, the number in the folder's
name), snapshot j is image ``posPath[PosPsi1[ConOrder - 1 + j]]``: this is how ManifoldEM's
own ``writeRelionS2`` pairs ``tau`` with the images' orientations. So particle
``ind[posPath[PosPsi1[ConOrder - 1 + j]]]`` gets ``tau[j]``, re-scaled to 0..1 per prD as
``probability_landscape`` does before it histograms S2_OM. Particles ManifoldEM dropped
(prDs below the occupancy threshold, images trimmed from the manifold, the ConOrder edge
snapshots of each prD) have no coordinate and are not scored.

A particle in several prDs (possible with older ManifoldEM's augmented S2) gets the mean of
its taus: after ManifoldEM's sense alignment the prDs' taus share one direction, S2_OM counts
every occurrence, and no prD is more right than another (taking the first would depend on
file numbering). The notes say how many particles that affected.

Example::

    out = load_manifoldem_folder("output/ribosome", dataset)     # or .../ELConc50
    out.coords.shape      # (M, 1): tau
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from engine.formats.input_checks import ARRAY_MAX_BYTES
from engine.formats.loaders.base import LoaderError, MethodOutput, build_output, refuse_unusual_file
from engine.formats.safe_pickle import PickleLoadError, describe, load_pickle

KIND = "manifoldem"
_EL_DIR = re.compile(r"^ELConc(\d+)$")
_EL_FILE = re.compile(r"^S2_prD_(\d+)\.pkl$")
ONE_D_NOTE = ("1D: ManifoldEM's reaction coordinate tau (0..1 within each projection direction), "
              "one coordinate per particle")


def is_manifoldem_folder(path) -> bool:
    """An output folder (holding ``distances/`` and ``ELConc<R>/S2_prD_<k>.pkl``), its
    ``ELConc<R>`` folder, or one ``S2_prD_<k>.pkl`` in it (the file picker's way to name it)."""
    path = Path(path)
    if path.is_file():
        return bool(_EL_FILE.match(path.name)) and bool(_EL_DIR.match(path.parent.name))
    if _EL_DIR.match(path.name):
        return any(_prd_files(path))
    return (path / "distances").is_dir() and any(any(_prd_files(d)) for d in _el_dirs(path))


def load_manifoldem_folder(path, dataset, *, label: str | None = None) -> MethodOutput:
    """Per-particle tau from a ManifoldEM output folder (see the module docstring)."""
    el_dir = _find_el_dir(Path(path))
    con_order_range = int(_EL_DIR.match(el_dir.name).group(1))
    dist_dir = el_dir.parent / "distances"
    if not dist_dir.is_dir():
        raise LoaderError(el_dir, f"has no sibling folder {dist_dir.name}/ holding ManifoldEM's "
                                  "IMGs_prD_<k>.h5 index files (give the whole output folder)")
    if con_order_range < 1:
        raise LoaderError(el_dir, "ConOrder range 0 in the folder name")
    prds = sorted(_prd_files(el_dir), key=lambda f: int(_EL_FILE.match(f.name).group(1)))
    particles, taus = [], []
    for el_file in prds:
        k = int(_EL_FILE.match(el_file.name).group(1))
        ind = _read_index(dist_dir / f"IMGs_prD_{k}.h5", dataset.n_particles)
        p, t = prd_assignment(el_file, ind, con_order_range)
        particles.append(p)
        taus.append(t)
    particles, taus = np.concatenate(particles), np.concatenate(taus)
    index, where, counts = np.unique(particles, return_inverse=True, return_counts=True)
    mean_tau = np.bincount(where, weights=taus) / counts
    notes = [ONE_D_NOTE, f"read {len(prds)} projection directions of {el_dir} (ConOrder = nS // "
                         f"{con_order_range}); rows matched to particles by ManifoldEM's 0-based "
                         "indices (the order of the STAR file it was given)"]
    if (counts > 1).any():
        notes.append(f"{int((counts > 1).sum())} particles lie in several projection directions: "
                     "their mean tau is used")
    n_dropped = dataset.n_particles - len(index)
    if n_dropped:
        notes.append(f"{n_dropped} particles ManifoldEM dropped (directions below its threshold, "
                     "trimmed from the manifold, or edge snapshots) are not scored")
    return build_output(el_dir, dataset, mean_tau, kind=KIND, label=label or f"ManifoldEM {el_dir.parent.name}",
                        index=index, dim_names=("tau",), notes=notes,
                        sources=[el_dir, dist_dir])


def prd_assignment(el_file, ind: np.ndarray, con_order_range: int) -> tuple[np.ndarray, np.ndarray]:
    """(particle indices, tau) of one prD: ``ind[posPath[PosPsi1[ConOrder - 1 + j]]]`` gets
    ``tau[j]``, tau re-scaled to 0..1. Raises LoaderError naming ``el_file``."""
    try:
        data = load_pickle(el_file)
    except PickleLoadError as exc:
        raise LoaderError(el_file, exc.problem) from None
    if not isinstance(data, dict):
        raise LoaderError(el_file, f"holds a {describe(data)}, not ManifoldEM's dict of psi-analysis results")
    missing = [key for key in ("tau", "posPath", "PosPsi1") if key not in data]
    if missing:
        raise LoaderError(el_file, f"has no {', '.join(missing)} (keys: {', '.join(map(str, data)) or 'none'}); "
                                   "not a ManifoldEM S2_prD file")
    tau = _vector(el_file, data["tau"], "tau", float)
    pos_path = _vector(el_file, data["posPath"], "posPath", int)
    pos_psi1 = _vector(el_file, data["PosPsi1"], "PosPsi1", int)
    n_s = len(pos_psi1)
    con_order = n_s // con_order_range
    if con_order < 1:
        raise LoaderError(el_file, f"has {n_s} images (PosPsi1), fewer than the ConOrder range "
                                   f"{con_order_range}: ManifoldEM cannot have computed its tau")
    if con_order - 1 + len(tau) > n_s:
        raise LoaderError(el_file, f"has {len(tau)} tau values but only {n_s} images with ConOrder "
                                   f"{con_order} (expected at most {n_s - con_order + 1})")
    if len(tau) == 0 or not np.isfinite(tau).all():
        raise LoaderError(el_file, "tau is empty or holds NaN or infinite values")
    _check_range(el_file, pos_psi1, len(pos_path), "PosPsi1", "posPath")
    _check_range(el_file, pos_path, len(ind), "posPath", f"the {len(ind)} images of the direction")
    particles = ind[pos_path[pos_psi1[con_order - 1:con_order - 1 + len(tau)]]]
    if len(np.unique(particles)) != len(particles):
        raise LoaderError(el_file, "names one image twice (repeated posPath/PosPsi1 entries)")
    span = tau.max() - tau.min()
    if span <= 0:
        raise LoaderError(el_file, f"every tau is {tau[0]}: no coordinate to scale to 0..1")
    return particles, (tau - tau.min()) / span


def _read_index(h5_path: Path, n_particles: int) -> np.ndarray:
    """The ``ind`` dataset of a distances file: (n,) int64, checked against the dataset."""
    import h5py

    refuse_unusual_file(h5_path, ARRAY_MAX_BYTES, "a ManifoldEM distances file")
    try:
        with h5py.File(h5_path, "r") as fh:
            if "ind" not in fh:
                raise LoaderError(h5_path, f"has no 'ind' dataset (holds {', '.join(fh.keys()) or 'nothing'})")
            ind = fh["ind"][()]
    except OSError as exc:
        raise LoaderError(h5_path, f"is not a readable HDF5 file ({exc})") from None
    ind = _vector(h5_path, ind, "ind", int)
    if len(ind) and (ind.min() < 0 or ind.max() >= n_particles):
        bad = ind[(ind < 0) | (ind >= n_particles)][0]
        raise LoaderError(h5_path, f"particle index {bad} is outside the dataset (0..{n_particles - 1}): "
                                   "was ManifoldEM run on this dataset's particles.star?")
    return ind


def _vector(path, value, name: str, kind) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    numeric = np.issubdtype(arr.dtype, np.integer) if kind is int else np.issubdtype(arr.dtype, np.number)
    if arr.ndim != 1 or not numeric or np.issubdtype(arr.dtype, np.complexfloating):
        raise LoaderError(path, f"{name} is a {describe(arr)}, expected a 1-D "
                                f"{'integer' if kind is int else 'number'} array")
    return arr.astype(np.int64 if kind is int else np.float64)


def _check_range(path, idx: np.ndarray, n: int, name: str, into: str) -> None:
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise LoaderError(path, f"{name} holds {int(idx.max() if idx.max() >= n else idx.min())}, "
                                f"outside {into} (0..{n - 1})")


def _find_el_dir(path: Path) -> Path:
    if path.is_file() and _EL_FILE.match(path.name):
        path = path.parent
    if _EL_DIR.match(path.name):
        if not any(_prd_files(path)):
            raise LoaderError(path, "holds no S2_prD_<k>.pkl files (did ManifoldEM's probability "
                                    "landscape step run?)")
        return path
    found = [d for d in _el_dirs(path) if any(_prd_files(d))]
    if not found:
        raise LoaderError(path, "is not a ManifoldEM output folder: no ELConc<R>/S2_prD_<k>.pkl files")
    if len(found) > 1:
        raise LoaderError(path, f"holds {len(found)} ELConc folders ({', '.join(d.name for d in found)}); "
                                "give the one to read")
    return found[0]


def _el_dirs(path: Path):
    return sorted(d for d in path.glob("ELConc*") if d.is_dir() and _EL_DIR.match(d.name))


def _prd_files(el_dir: Path):
    return (f for f in el_dir.glob("S2_prD_*.pkl") if _EL_FILE.match(f.name))


__all__ = ["KIND", "ONE_D_NOTE", "is_manifoldem_folder", "load_manifoldem_folder", "prd_assignment"]

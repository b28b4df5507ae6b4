"""Match the rows of a method output to the dataset's particles.

By index (0-based, e.g. cryoDRGN ``--ind``), by RELION image name ``"000123@dir/stack.mrcs"``
(1-based position in a stack), or by cryoSPARC uid. Image names are first compared exactly;
tools often rewrite the directory (RELION project folders, cryoSPARC's ``J1/imported/``), so
the fallback compares the position and the *file name* of the stack, also without the numeric
prefix cryoSPARC's import gives file names ("006241839424467288006_particles_00000.mrcs"),
as long as those keys are unique in the dataset.

Every rejection names the output file: rows that name no particle of the dataset, a particle
named twice, indices out of range.

Example::

    index, how = match_image_names("run_proj.txt", names, dataset)
"""
from __future__ import annotations

import numpy as np

from engine.formats.image_names import parse_image_names
from engine.formats.loaders.errors import LoaderError


def check_index(path, index, n_particles: int, n_rows: int) -> np.ndarray:
    """Validate 0-based particle indices for ``n_rows`` rows; (n_rows,) int64."""
    idx = np.asarray(index)
    if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
        if idx.ndim == 1 and np.issubdtype(idx.dtype, np.floating) and np.all(idx == np.round(idx)):
            idx = idx.astype(np.int64)
        else:
            raise LoaderError(path, f"particle indices must be a 1-D integer array (got {idx.dtype}, shape {idx.shape})")
    if len(idx) != n_rows:
        raise LoaderError(path, f"{n_rows} rows of coordinates but {len(idx)} particle indices")
    idx = idx.astype(np.int64)
    if len(idx) and (idx.min() < 0 or idx.max() >= n_particles):
        bad = idx[(idx < 0) | (idx >= n_particles)][0]
        raise LoaderError(path, f"particle index {bad} is outside the dataset (0..{n_particles - 1})")
    _refuse_duplicates(path, idx, lambda i: f"particle index {i}")
    return idx


def match_uids(path, uids, dataset) -> np.ndarray:
    """Particle index of each cryoSPARC uid, using the dataset's ``cryosparc/particles.cs``."""
    import pandas as pd

    known = dataset.cryosparc_uids
    if known is None:
        raise LoaderError(path, "rows carry only cryoSPARC uids, and the dataset has no cryosparc/particles.cs")
    idx = pd.Index(known).get_indexer(np.asarray(uids, dtype=np.uint64)).astype(np.int64)
    _refuse_unmatched(path, idx, np.asarray(uids), "uid")
    _refuse_duplicates(path, idx, lambda i: f"particle {i} (uid {known[i]})")
    return idx


def match_image_names(path, names, dataset) -> tuple[np.ndarray, str]:
    """(particle index (M,) int64, how it matched) for RELION image names."""
    names = np.asarray(names).astype(str)
    idx = dataset.index_of_names(names)
    how = "rows matched to particles by image name"
    if (idx < 0).any():
        idx, how = _match_by_stack_file(path, names, dataset, idx)
    _refuse_unmatched(path, idx, names, "image name")
    image_names = dataset.image_names
    _refuse_duplicates(path, idx, lambda i: f"particle {str(image_names[i])!r}")
    return idx, how


def _match_by_stack_file(path, names, dataset, exact: np.ndarray) -> tuple[np.ndarray, str]:
    import pandas as pd

    keys, ok = stack_keys(names)
    if not ok.all():
        first = names[~ok][0]
        raise LoaderError(path, f"{first!r} is not a RELION image name (expected 'N@stack.mrcs')")
    ds_keys, ds_ok = stack_keys(dataset.image_names)
    ds_index = pd.Index(ds_keys)
    if not ds_ok.all() or not ds_index.is_unique:
        return exact, "rows matched to particles by image name"
    idx = ds_index.get_indexer(keys).astype(np.int64)
    how = "rows matched to particles by stack position and stack file name"
    if (idx < 0).any():
        stripped = pd.Series(keys).str.replace(r"@\d+_", "@", n=1, regex=True).to_numpy(str)
        idx = np.where(idx < 0, ds_index.get_indexer(stripped), idx).astype(np.int64)
        how += " (cryoSPARC import prefixes removed)"
    return idx, how


def stack_keys(names) -> tuple[np.ndarray, np.ndarray]:
    """("position@file name" keys, valid (M,) bool) for RELION image names: the leading zeros
    and the directory are dropped, so "000012@Extract/job3/a.mrcs" -> "12@a.mrcs"."""
    import pandas as pd

    position, stack, ok = parse_image_names(names)
    file_name = pd.Series(stack, dtype=object).str.rsplit("/", n=1).str[-1]
    return (pd.Series(position.astype(str), dtype=object) + "@" + file_name).to_numpy(dtype=str), ok


def _refuse_unmatched(path, idx: np.ndarray, keys: np.ndarray, what: str) -> None:
    missing = idx < 0
    if missing.any():
        count = int(missing.sum())
        raise LoaderError(path, f"{count} row(s) name no particle of the dataset, e.g. {what} "
                           f"{str(keys[np.flatnonzero(missing)[0]])!r} (is this output from another dataset?)")


def _refuse_duplicates(path, idx: np.ndarray, describe) -> None:
    if len(idx) < 2:
        return
    counts = np.bincount(idx)
    if counts.max() > 1:
        raise LoaderError(path, f"{describe(int(np.argmax(counts)))} appears in {counts.max()} rows")

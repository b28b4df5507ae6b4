"""RECOVAR outputs: ``model/embeddings.pkl`` and ``model/zdim_N/latent_coords.npy``.

Older RECOVAR pipelines pickle a dict whose ``zs`` entry maps each computed zdim to an
(M, zdim) array of latent coordinates; newer ones save one ``model/zdim_N/latent_coords.npy``
per zdim. Row i is particle i of the input file (RECOVAR reorders its two half-sets back):
particles it filtered out, or left out with ``--ind``, are rows of NaN, and a run given
``--ind`` writes max(ind) + 1 rows, none for the particles after its last index (checked on
a real 1.0.5 run, tests/fixtures/recovar/ind_run). So rows are never re-ordered by an index
file; missing and NaN rows are reported as dropped, not refused. ``ind``, when given, is
only checked against the rows (its particles must be the non-NaN rows).

``path`` may be the result folder, its ``model/`` folder, ``embeddings.pkl``, a ``zdim_N``
folder or a ``latent_coords.npy`` file. ``zdim`` picks the embedding (default: the largest).

Example::

    out = load_recovar("recovar_out", dataset, zdim=4)
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from engine.formats.loaders.base import LoaderError, MethodOutput, build_output, load_npy
from engine.formats.safe_pickle import PickleLoadError, describe, load_pickle

KIND = "recovar"
_ZDIM_DIR = re.compile(r"^zdim_(\d+)$")


def load_recovar(path, dataset, *, zdim: int | None = None, ind=None, label: str | None = None) -> MethodOutput:
    path = Path(path)
    source, zs, notes = _read_embedding(path, zdim)
    n = dataset.n_particles
    if len(zs) > n:
        raise LoaderError(source, f"has {len(zs)} rows, but the dataset has {n} particles "
                                  "(RECOVAR writes at most one row per particle of its input)")
    if ind is not None:
        _check_index(source, ind, zs)
    if len(zs) < n:
        notes = notes + [f"rows stop at particle {len(zs)} (a run given --ind ends at its last index): "
                         f"the {n - len(zs)} particles after it have no row"]
    k = zs.shape[1] if zs.ndim == 2 else 1
    return build_output(source, dataset, zs, kind=KIND, label=label or f"RECOVAR zdim {k}",
                        index=np.arange(len(zs)), dim_names=[f"z{i}" for i in range(k)], notes=notes,
                        allow_empty_rows=True)


def _check_index(source: Path, ind, zs: np.ndarray) -> None:
    """The run's --ind file must name exactly the rows that hold numbers."""
    from engine.formats.loaders.cryodrgn import read_index

    index = np.unique(np.asarray(read_index(ind, source), dtype=np.int64))
    filled = np.flatnonzero(~np.all(np.isnan(np.asarray(zs, dtype=np.float64).reshape(len(zs), -1)), axis=1))
    if len(index) and index[-1] >= len(zs):
        raise LoaderError(source, f"has {len(zs)} rows, but the index file names particle {index[-1]}: "
                                  "not the output of a run given that --ind")
    stray = np.setdiff1d(filled, index)
    if len(stray):
        raise LoaderError(source, f"row {stray[0]} holds coordinates but particle {stray[0]} is not in the "
                                  "index file: not the output of a run given that --ind")


def _read_embedding(path: Path, zdim: int | None):
    if path.is_dir():
        model = path / "model" if (path / "model").is_dir() else path
        if _ZDIM_DIR.match(path.name):
            return _read_latent_coords(path / "latent_coords.npy", zdim)
        per_zdim = {int(m.group(1)): d for d in model.glob("zdim_*")
                    if (m := _ZDIM_DIR.match(d.name)) and (d / "latent_coords.npy").is_file()}
        if per_zdim:
            chosen = _choose(model, sorted(per_zdim), zdim)
            source, zs, notes = _read_latent_coords(per_zdim[chosen] / "latent_coords.npy", chosen)
            return source, zs, notes + _choice_note(sorted(per_zdim), chosen, zdim)
        if (model / "embeddings.pkl").is_file():
            return _read_embeddings_pkl(model / "embeddings.pkl", zdim)
        raise LoaderError(path, "not a RECOVAR result: no model/embeddings.pkl or model/zdim_N/latent_coords.npy")
    if path.suffix == ".npy":
        return _read_latent_coords(path, zdim)
    return _read_embeddings_pkl(path, zdim)


def _read_latent_coords(path: Path, zdim: int | None):
    folder_zdim = int(m.group(1)) if (m := _ZDIM_DIR.match(path.parent.name)) else None
    if zdim is not None and folder_zdim is not None and zdim != folder_zdim:
        raise LoaderError(path, f"zdim {zdim} was asked for, but this file is in zdim_{folder_zdim}")
    return path, load_npy(path), []


def _read_embeddings_pkl(path: Path, zdim: int | None):
    try:
        embeddings = load_pickle(path)
    except PickleLoadError as exc:
        raise LoaderError(path, exc.problem) from None
    if not isinstance(embeddings, dict) or "zs" not in embeddings:
        keys = sorted(map(str, embeddings)) if isinstance(embeddings, dict) else describe(embeddings)
        raise LoaderError(path, f"missing field 'zs' (expected RECOVAR's dict of embeddings; found {keys})")
    zs_by_dim = embeddings["zs"]
    if not isinstance(zs_by_dim, dict) or not zs_by_dim:
        raise LoaderError(path, f"field 'zs' must map zdim to arrays, found a {describe(zs_by_dim)}")
    try:
        available = sorted(int(k) for k in zs_by_dim)
    except (TypeError, ValueError):
        raise LoaderError(path, f"field 'zs' has keys that are not zdims: {list(zs_by_dim)[:5]}") from None
    chosen = _choose(path, available, zdim)
    zs = next(v for k, v in zs_by_dim.items() if int(k) == chosen)
    if not isinstance(zs, np.ndarray):
        raise LoaderError(path, f"zs[{chosen}] is a {describe(zs)}, expected an array")
    return path, zs, _choice_note(available, chosen, zdim)


def _choose(path, available: list[int], zdim: int | None) -> int:
    if zdim is None:
        return max(available)
    if zdim not in available:
        raise LoaderError(path, f"zdim {zdim} does not exist (available: {', '.join(map(str, available))})")
    return zdim


def _choice_note(available: list[int], chosen: int, asked: int | None) -> list[str]:
    if asked is None and len(available) > 1:
        return [f"zdim {chosen} of {available} (the largest; choose another with zdim=)"]
    return []

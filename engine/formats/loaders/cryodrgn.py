"""cryoDRGN outputs: ``z.N.pkl`` latent means and ``analyze.N/umap.pkl``.

``train_vae`` writes ``z.N.pkl`` as two consecutive pickles, z_mu (M, zdim) then z_logvar
(M, zdim) (cryoDRGN 4.x numbers epochs from 1; ``z.pkl`` is the last epoch). ``umap.pkl`` is
one pickle (M, 2). Row i belongs to particle i of the input stack, or, for a run given
``--ind ind.pkl`` (a pickled int array), to particle ``ind[i]``. When ``ind`` is not given and
the run's ``config.yaml`` (beside ``z.N.pkl``, or one folder up from ``analyze.N/``) names an
ind file that can be found, that file is used and a note says so. All pickles are read with
the restricted unpickler (engine.formats.safe_pickle).

Example::

    out = load_cryodrgn("train/z.25.pkl", dataset)                 # all particles
    out = load_cryodrgn("train/z.25.pkl", dataset, ind="ind.pkl")  # a filtered run
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.formats.input_checks import CONFIG_MAX_BYTES
from engine.formats.loaders.base import LoaderError, MethodOutput, build_output, load_npy
from engine.formats.safe_pickle import PickleLoadError, describe, load_pickle, load_pickles
from engine.input_files import input_file_problem

KIND = "cryodrgn"


def load_cryodrgn(path, dataset, *, ind=None, label: str | None = None) -> MethodOutput:
    """Read z.N.pkl (or umap.pkl) and match rows to ``dataset`` particles (see module docstring).

    ind: path of the ``--ind`` pickle (or .npy), an integer array, or None (look in config.yaml).
    """
    path = Path(path)
    objects = _read(path)
    z = objects[0]
    if not isinstance(z, np.ndarray):
        raise LoaderError(path, f"the first pickle is a {describe(z)}, expected an array of latent coordinates")
    if len(objects) > 1:
        logvar = objects[1]
        if not isinstance(logvar, np.ndarray) or logvar.shape != z.shape:
            raise LoaderError(path, f"the second pickle (z_logvar) is a {describe(logvar)}, "
                                    f"expected an array of shape {z.shape} like z_mu")
    if len(objects) > 2:
        raise LoaderError(path, f"holds {len(objects)} pickles; z.N.pkl holds two (z_mu, z_logvar)")
    notes = []
    sources = [path]
    index = None
    ind_source = ind if ind is not None else _ind_from_config(path, notes)
    if ind_source is not None:
        index = read_index(ind_source, path)
        if not isinstance(ind_source, np.ndarray):
            sources.append(Path(ind_source))
            notes.append(f"rows follow the index file {Path(ind_source).name} (cryoDRGN --ind)")
    hint = f"{notes[-1]}; give it with ind=" if notes and "not found" in notes[-1] else \
        "for a run trained with --ind, give that index file (ind=)"
    is_umap = path.name.startswith("umap")
    k = z.shape[1] if z.ndim == 2 else 1
    dim_names = [f"umap{i + 1}" for i in range(k)] if is_umap else [f"z{i}" for i in range(k)]
    return build_output(path, dataset, z, kind=KIND, label=label or _label(path), index=index,
                        dim_names=dim_names, notes=notes, sources=sources,
                        positional_hint=hint)


def _read(path: Path) -> list:
    try:
        return load_pickles(path)
    except PickleLoadError as exc:
        raise LoaderError(path, exc.problem) from None


def read_index(source, output_path) -> np.ndarray:
    """The particle indices of a ``--ind`` file (.pkl via the restricted unpickler, or .npy),
    or of an integer array given directly."""
    if isinstance(source, np.ndarray):
        values, where = source, output_path
    else:
        where = Path(source)
        if where.suffix == ".npy":
            values = load_npy(where)
        else:
            try:
                values = load_pickle(where)
            except PickleLoadError as exc:
                raise LoaderError(where, exc.problem) from None
    values = np.asarray(values) if isinstance(values, (list, tuple, np.ndarray)) else values
    if not isinstance(values, np.ndarray) or values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
        raise LoaderError(where, f"an index file must hold a 1-D integer array, found a {describe(values)}")
    return values.astype(np.int64)


def _ind_from_config(path: Path, notes: list):
    """The ind file named by the run's config.yaml / config.pkl, if it can be found."""
    folders = [path.parent] + ([path.parent.parent] if path.parent.name.startswith("analyze") else [])
    for folder in folders:
        config = _read_config(folder)
        if config is None:
            continue
        ind = (config.get("dataset_args") or {}).get("ind") if isinstance(config, dict) else None
        if not ind:
            return None
        for candidate in (Path(ind), folder / ind, folder / Path(ind).name):
            if candidate.is_file():
                notes.append(f"index file {candidate} found through {folder.name}/config")
                return candidate
        notes.append(f"the run's config names --ind {ind}, which was not found")
        return None
    return None


def _read_config(folder: Path):
    yaml_path, pkl_path = folder / "config.yaml", folder / "config.pkl"
    try:
        if yaml_path.is_file() and input_file_problem(yaml_path, CONFIG_MAX_BYTES, "a config") is None:
            import yaml

            return yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
        if pkl_path.is_file():
            return load_pickle(pkl_path)
    except Exception:  # a config we cannot read only means no automatic --ind
        return None
    return None


def _label(path: Path) -> str:
    if path.name.startswith("umap") and path.parent.name.startswith("analyze"):
        return f"cryoDRGN UMAP ({path.parent.name})"
    return f"cryoDRGN {path.stem}"

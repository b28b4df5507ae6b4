"""Per-particle coordinates in a plain file: .npy, .npz, .csv, .txt, .star (or a .pkl array).

Rows are identified, in this order of preference, by
- an index column (0-based particle index in ``particles.star`` order) named ``index``,
  ``particle_index`` or ``idx`` (a header column, a structured-array field or an .npz key),
- an image-name column (``rlnImageName`` or ``image_name``; in a headerless .txt/.csv, a
  first column of "N@stack.mrcs" strings),
- an ``ind`` index array given by the caller,
- otherwise position: the file must have exactly one row per particle.
Every other numeric column is an output coordinate, in file order. In a .star file, RELION's
own particle metadata (angles, origins, CTF, groups, ...) is not a coordinate.
An .npz holds the coordinates under ``coords`` (or ``z``, ``embedding``, ``latent``), or as its
only other 2-D numeric array.

Example::

    out = load_generic("my_method.csv", dataset)   # header: image_name,x,y
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from engine.formats.loaders.base import LoaderError, MethodOutput, build_output, load_npy
from engine.formats.safe_pickle import PickleLoadError, describe, load_pickle
from engine.formats.star import StarFileError, read_star_blocks

KIND = "generic"
INDEX_NAMES = ("index", "particle_index", "idx")
NAME_COLUMNS = ("rlnImageName", "image_name")
COORD_KEYS = ("coords", "z", "embedding", "latent")
# RELION particle metadata that is never a method's output coordinate.
RELION_METADATA = frozenset({
    "rlnImageName", "rlnMicrographName", "rlnImageOriginalName", "rlnCoordinateX", "rlnCoordinateY",
    "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnAngleRotPrior", "rlnAngleTiltPrior",
    "rlnAnglePsiPrior", "rlnOriginX", "rlnOriginY", "rlnOriginXAngst", "rlnOriginYAngst",
    "rlnOriginXPrior", "rlnOriginYPrior", "rlnOriginXPriorAngst", "rlnOriginYPriorAngst",
    "rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnPhaseShift", "rlnCtfBfactor",
    "rlnCtfScalefactor", "rlnCtfMaxResolution", "rlnCtfFigureOfMerit", "rlnVoltage",
    "rlnSphericalAberration", "rlnAmplitudeContrast", "rlnDetectorPixelSize", "rlnMagnification",
    "rlnImagePixelSize", "rlnOpticsGroup", "rlnGroupNumber", "rlnGroupName", "rlnClassNumber",
    "rlnRandomSubset", "rlnNormCorrection", "rlnLogLikeliContribution",
    "rlnMaxValueProbDistribution", "rlnNrOfSignificantSamples", "rlnNrOfFrames",
    "rlnHelicalTubeID", "rlnAutopickFigureOfMerit", "rlnParticleSelectZScore",
})


def load_generic(path, dataset, *, ind=None, label: str | None = None, kind: str = KIND) -> MethodOutput:
    path = Path(path)
    suffix = path.suffix.lower()
    readers = {".npy": _read_npy, ".npz": _read_npz, ".csv": _read_table, ".txt": _read_table,
               ".star": _read_star, ".pkl": _read_pickle}
    if suffix not in readers:
        raise LoaderError(path, f"unknown file type {suffix or '(none)'}; generic outputs are "
                                ".npy, .npz, .csv, .txt, .star or .pkl")
    if not path.is_file():
        raise LoaderError(path, "no such file")
    coords, index, names, dim_names = readers[suffix](path)
    if index is None and names is None and ind is not None:
        from engine.formats.loaders.cryodrgn import read_index

        index = read_index(ind, path)
    return build_output(path, dataset, coords, kind=kind, label=label or f"{kind} {path.name}",
                        index=index, names=names, dim_names=dim_names,
                        positional_hint="add an index column (0-based) or image names")


def _read_npy(path: Path):
    arr = load_npy(path)
    if arr.dtype.names:
        return _from_fields(path, {name: arr[name] for name in arr.dtype.names})
    return arr, None, None, _dim_names(arr)


def _read_npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise LoaderError(path, f"corrupt or unreadable .npz ({exc})") from None
    return _from_fields(path, arrays, coord_keys=COORD_KEYS)


def _read_pickle(path: Path):
    try:
        obj = load_pickle(path)
    except PickleLoadError as exc:
        raise LoaderError(path, exc.problem) from None
    if isinstance(obj, dict):
        return _from_fields(path, {str(k): np.asarray(v) for k, v in obj.items()}, coord_keys=COORD_KEYS)
    if not isinstance(obj, np.ndarray):
        raise LoaderError(path, f"holds a {describe(obj)}, expected an array of coordinates")
    return obj, None, None, _dim_names(obj)


def _from_fields(path, fields: dict, coord_keys=()):
    index = next((fields[k] for k in INDEX_NAMES if k in fields), None)
    names = next((fields[k] for k in NAME_COLUMNS if k in fields), None)
    used = set(INDEX_NAMES) | set(NAME_COLUMNS)
    key = next((k for k in coord_keys if k in fields), None)
    if key is not None:
        return fields[key], index, names, _dim_names(fields[key])
    numeric = [k for k, v in fields.items() if k not in used and np.issubdtype(v.dtype, np.number)]
    if not numeric:
        raise LoaderError(path, f"missing field: no numeric coordinates among {sorted(fields)}")
    if coord_keys:  # .npz / dict: one array holds all coordinates
        if len(numeric) != 1:
            raise LoaderError(path, f"cannot tell which array holds the coordinates ({numeric}); "
                                    f"name it one of {list(coord_keys)}")
        return fields[numeric[0]], index, names, _dim_names(fields[numeric[0]])
    return np.stack([fields[k] for k in numeric], axis=1), index, names, numeric


def _read_table(path: Path):
    import pandas as pd

    try:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise LoaderError(path, f"cannot read the file as text ({exc})") from None
    if not first.strip():
        raise LoaderError(path, "the file is empty (or starts with a blank line)")
    sep = "," if "," in first else r"\s+"
    tokens = [t.strip() for t in (first.split(",") if sep == "," else first.split())]
    has_header = any(not _is_number(t) and "@" not in t for t in tokens)
    try:
        table = pd.read_csv(path, sep=sep, header=0 if has_header else None)
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
        raise LoaderError(path, f"not a readable table ({str(exc).strip().splitlines()[0]})") from None
    if has_header:
        table.columns = [str(c).strip() for c in table.columns]
    else:  # headerless: image names in the first column, if any, then coordinates
        first_is_name = len(table) > 0 and "@" in str(table.iloc[0, 0])
        n_coords = table.shape[1] - first_is_name
        table.columns = (["image_name"] if first_is_name else []) + [f"dim {i}" for i in range(n_coords)]
    fields = {}
    for column in table.columns:
        values = table[column]
        if column in NAME_COLUMNS:
            fields[column] = values.to_numpy(dtype=str)
            continue
        converted = pd.to_numeric(values, errors="coerce")
        bad = (converted.isna() & values.notna()).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise LoaderError(path, f"row {row + 1}, column {column!r}: {values.iloc[row]!r} is not a number")
        fields[column] = converted.to_numpy(dtype=np.float64)
    return _from_fields(path, fields)


def _read_star(path: Path):
    try:
        blocks = read_star_blocks(path)
    except StarFileError as exc:
        raise LoaderError(path, exc.problem) from None
    tables = {name: block for name, block in blocks.items() if hasattr(block, "columns")}
    block = tables.get("particles")
    if block is None:
        with_names = [b for b in tables.values() if "rlnImageName" in b.columns]
        block = with_names[0] if len(with_names) == 1 else (next(iter(tables.values())) if len(tables) == 1 else None)
    if block is None:
        raise LoaderError(path, f"cannot tell which data block holds the particles (blocks: {list(blocks)})")
    fields = {}
    for column in block.columns:
        if column == "rlnImageName":
            fields[column] = block[column].to_numpy(dtype=str)
        elif column not in RELION_METADATA and np.issubdtype(block[column].dtype, np.number):
            fields[column] = block[column].to_numpy(dtype=np.float64)
    return _from_fields(path, fields)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _dim_names(arr) -> list[str]:
    arr = np.asarray(arr)
    k = arr.shape[1] if arr.ndim == 2 else 1
    return [f"dim {i}" for i in range(k)]

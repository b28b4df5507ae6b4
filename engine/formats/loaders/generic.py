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
A text table (.csv, .txt, .star) must end with a line break (else its last line was cut); a
short row, an empty cell, or text in a number column is refused naming its row and column, in
the same words for every kind of table. A STAR column without a single number (a file name) is
not a coordinate.
An .npz holds the coordinates under ``coords`` (or ``z``, ``embedding``, ``latent``), or as its
only other 2-D numeric array.

Example::

    out = load_generic("my_method.csv", dataset)   # header: image_name,x,y
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from engine.formats.loaders.base import (LoaderError, MethodOutput, build_output, load_npy, refuse_unusual_file,
                                         refuse_unusual_table)
from engine.formats.safe_pickle import PickleLoadError, describe, load_pickle
from engine.formats.star import StarFileError, read_star_blocks

KIND = "generic"
INDEX_NAMES = ("index", "particle_index", "idx")
NAME_COLUMNS = ("rlnImageName", "image_name")
COORD_KEYS = ("coords", "z", "embedding", "latent")
# How a table spells not-a-number on purpose (numpy.savetxt, pandas, R): read as NaN, and then
# refused or dropped as NaN rows, never reported as text.
_NAN_TOKENS = ("nan", "-nan", "+nan", "na", "n/a")
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
    refuse_unusual_file(path)
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

    refuse_unusual_table(path)
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
        # no NA parsing: a missing or empty cell stays "", so it is reported as such, not as NaN
        table = pd.read_csv(path, sep=sep, header=0 if has_header else None, keep_default_na=False)
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
        raise LoaderError(path, f"not a readable table ({str(exc).strip().splitlines()[0]})") from None
    if has_header:
        table.columns = [str(c).strip() for c in table.columns]
    else:  # headerless: image names in the first column, if any, then coordinates
        first_is_name = len(table) > 0 and "@" in str(table.iloc[0, 0])
        n_coords = table.shape[1] - first_is_name
        table.columns = (["image_name"] if first_is_name else []) + [f"dim {i}" for i in range(n_coords)]
    _refuse_missing_cells(path, table)
    fields = {}
    for column in table.columns:
        values = table[column]
        fields[column] = (values.to_numpy(dtype=str) if column in NAME_COLUMNS
                          else numeric_column(path, column, values))
    return _from_fields(path, fields)


def _refuse_missing_cells(path, table) -> None:
    """LoaderError for the first row with an empty cell: a row with fewer values than the
    header has columns (a ragged or truncated table) or one empty cell."""
    import pandas as pd

    text = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]  # numbers are never empty
    if not text:
        return
    empty = np.zeros(table.shape, dtype=bool)
    for column in text:
        empty[:, table.columns.get_loc(column)] = (table[column].astype(str).str.strip() == "").to_numpy()
    if not empty.any():
        return
    row, col = np.argwhere(empty)[0]
    if empty[row, col:].all():
        raise LoaderError(path, f"row {row + 1} has {col} values, but the table has {table.shape[1]} columns "
                                f"({', '.join(map(str, table.columns))}): a ragged or truncated table")
    raise LoaderError(path, f"row {row + 1}, column {table.columns[col]!r}: the cell is empty")


def numeric_column(path, column: str, values) -> np.ndarray:
    """(M,) float64 of one table column (pandas Series), or LoaderError naming the row and
    column of the first cell that is not a number (the same words for CSV, TXT and STAR)."""
    import pandas as pd

    converted = pd.to_numeric(values, errors="coerce")
    missing = np.flatnonzero(converted.isna().to_numpy())
    bad = missing[~_spells_nan(values.iloc[missing])]  # only the cells that did not convert
    if bad.size:
        row = int(bad[0])
        raise LoaderError(path, f"row {row + 1}, column {column!r}: {values.iloc[row]!r} is not a number")
    return converted.to_numpy(dtype=np.float64)


def _spells_nan(values) -> np.ndarray:
    return values.astype(str).str.strip().str.lower().isin(_NAN_TOKENS).to_numpy()


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
        elif column not in RELION_METADATA and not _is_text_column(block[column]):
            fields[column] = numeric_column(path, column, block[column])
    return _from_fields(path, fields)


def _is_text_column(values) -> bool:
    """A STAR column with no number in it (a file name, a group name): not a coordinate. A
    column of numbers with some text in it is a coordinate with bad cells, reported as such."""
    import pandas as pd

    return len(values) > 0 and pd.to_numeric(values, errors="coerce").isna().all() and not _spells_nan(values).any()


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

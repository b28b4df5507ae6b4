"""RELION multibody: ``relion_flex_analyse --write_pca_projections`` output.

``<out>_projections_along_eigenvectors_all_particles.txt`` has no header and one line per
particle: the ``rlnImageName``, then the particle's projections on eigenvectors 1..K (K = 6
parameters x number of bodies, in order of decreasing explained variance), whitespace
separated (RELION 3.1 right-aligns them in 15-character fields and ends each line with a
space). RELION may reorder particles, so rows are matched by image name, never by position.
Output dimension d (0-based, as ``--dims`` counts) is RELION's component d + 1.

Example::

    out = load_relion_projections("analyse_projections_along_eigenvectors_all_particles.txt", ds)
    out.dim_names[:2]     # ('component 1', 'component 2')
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.formats.image_names import parse_image_names
from engine.formats.loaders.base import LoaderError, MethodOutput, build_output, refuse_unusual_table

KIND = "relion_multibody"
FILE_PATTERN = "_projections_along_eigenvectors_all_particles"


def load_relion_projections(path, dataset, *, label: str | None = None) -> MethodOutput:
    path = Path(path)
    names, values = read_projections(path)
    k = values.shape[1]
    return build_output(path, dataset, values, kind=KIND, label=label or "RELION multibody",
                        names=names, dim_names=[f"component {i + 1}" for i in range(k)])


def read_projections(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(image names (M,) str, projections (M, K) float64) of a projections file."""
    import pandas as pd

    refuse_unusual_table(path)
    try:
        table = pd.read_csv(path, sep=r"\s+", header=None, dtype={0: str}, comment=None,
                            skip_blank_lines=True, engine="c")
    except FileNotFoundError:
        raise LoaderError(path, "no such file") from None
    except pd.errors.EmptyDataError:
        raise LoaderError(path, "the file is empty") from None
    except (pd.errors.ParserError, ValueError, OSError, UnicodeDecodeError) as exc:
        raise LoaderError(path, f"not a RELION projections file ({_first_line(exc)})") from None
    if table.shape[1] < 2:
        raise LoaderError(path, "expected an image name then the projections on each line; found one column")
    names = table[0].to_numpy(dtype=str)
    if not names.size or not parse_image_names(names[:1])[2][0]:
        raise LoaderError(path, f"line 1 starts with {names[0]!r}, expected an rlnImageName like "
                                "'000001@particles.mrcs' (is this the _all_particles.txt file?)")
    values = table.iloc[:, 1:]
    numeric = values.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna().to_numpy() & values.notna().to_numpy()
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise LoaderError(path, f"line {row + 1}, column {col + 2}: {values.iat[row, col]!r} is not a number")
    missing = numeric.isna().to_numpy().any(axis=1)
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise LoaderError(path, f"line {row + 1} has {int(numeric.iloc[row].notna().sum())} values, "
                                f"the others {values.shape[1]} (a truncated file?)")
    return names, numeric.to_numpy(dtype=np.float64)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

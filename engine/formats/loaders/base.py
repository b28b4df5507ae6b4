"""What every loader returns (MethodOutput), its error, and the shared checks.

A method output is a table of M rows (particles the method kept) by K output coordinates,
and for each row the index of the particle in the dataset's ``particles.star`` order.
``build_output`` turns what a loader read (coordinates plus a way to identify rows: explicit
indices, image names, cryoSPARC uids, or nothing = row i is particle i) into a validated
MethodOutput, so every loader refuses the same bad inputs with the same wording.

Example::

    out = build_output("z.pkl", dataset, z_mu, kind="cryodrgn", label="cryoDRGN")
    out.coords.shape, out.particle_index[:3], out.n_dropped
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.formats.input_checks import ARRAY_MAX_BYTES, TABLE_MAX_BYTES, cut_short_problem
from engine.formats.loaders import matching
from engine.formats.loaders.errors import LoaderError
from engine.input_files import input_file_problem


@dataclass(frozen=True, eq=False)
class MethodOutput:
    """Per-particle coordinates from one method run.

    coords: (M, K) float, the method's output coordinates (latent z, PCA projections, ...).
    particle_index: (M,) int64, row m belongs to dataset particle ``particle_index[m]``
        (0-based, ``particles.star`` order); unique.
    n_particles: N, the number of particles in the dataset.
    n_dropped: particles of the dataset the output has no row for (N - M).
    dim_names: (K,) names of the output coordinates, e.g. "z0", "component 1".
    sources: the files read; notes: what a user should know (matching used, rows dropped).
    """

    label: str
    kind: str
    sources: tuple[str, ...]
    coords: np.ndarray
    particle_index: np.ndarray
    n_particles: int
    n_dropped: int
    dim_names: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.coords.ndim != 2:
            raise ValueError(f"coords: must be (M, K), got shape {self.coords.shape}")
        if self.particle_index.shape != (len(self.coords),):
            raise ValueError(f"particle_index: must have {len(self.coords)} entries")
        if len(self.dim_names) != self.coords.shape[1]:
            raise ValueError(f"dim_names: {len(self.dim_names)} names for {self.coords.shape[1]} dimensions")
        if self.n_dropped != self.n_particles - len(self.coords):
            raise ValueError("n_dropped: must equal n_particles - rows")

    @property
    def source(self) -> str:
        return self.sources[0]

    @property
    def n_rows(self) -> int:
        return len(self.coords)

    @property
    def n_dims(self) -> int:
        return self.coords.shape[1]


def as_coordinates(path, values, *, allow_empty_rows: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(coords (M, K) float, keep (M,) bool) from an array a tool wrote.

    1-D arrays are one coordinate. Refuses non-numeric data and rows with NaN or infinity;
    with ``allow_empty_rows``, rows that are entirely NaN are marked ``keep=False`` (RECOVAR
    writes NaN rows for particles it filtered out) instead.
    """
    arr = np.asarray(values)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise LoaderError(path, f"coordinates are not numbers (dtype {arr.dtype})")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise LoaderError(path, "coordinates are complex numbers")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise LoaderError(path, f"coordinates must be a table (rows x dimensions), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise LoaderError(path, f"no coordinates (shape {arr.shape})")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    finite = np.isfinite(arr)
    row_ok = finite.all(axis=1)
    keep = row_ok
    if not row_ok.all():
        empty = np.isnan(arr).all(axis=1)
        bad = ~row_ok & ~empty if allow_empty_rows else ~row_ok
        if bad.any():
            rows = np.flatnonzero(bad)
            more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
            raise LoaderError(path, f"row {rows[0] + 1}{more} holds NaN or infinite values "
                                    "(a truncated file, or a failed run?)")
    return arr, keep


def build_output(path, dataset, coords, *, kind: str, label: str | None = None,
                 index=None, names=None, uids=None, dim_names=None, notes=(), sources=None,
                 allow_empty_rows: bool = False, positional_hint: str = "") -> MethodOutput:
    """Validate coordinates and match rows to the dataset's particles (see module docstring).

    Exactly one of ``index`` (0-based particle indices), ``names`` (rlnImageName strings),
    ``uids`` (cryoSPARC uids) identifies rows; with none, row i is particle i and the row count
    must equal the dataset's. ``positional_hint`` is added to the wrong-count message.
    """
    coords, keep = as_coordinates(path, coords, allow_empty_rows=allow_empty_rows)
    n = dataset.n_particles
    notes = list(notes)
    if index is not None:
        particle_index = matching.check_index(path, index, n, len(coords))
    elif names is not None:
        particle_index, how = matching.match_image_names(path, names, dataset)
        notes.append(how)
    elif uids is not None:
        particle_index = matching.match_uids(path, uids, dataset)
        notes.append("rows matched to particles by cryoSPARC uid")
    else:
        if len(coords) != n:
            raise LoaderError(path, f"has {len(coords)} rows, but the dataset has {n} particles"
                                    f"{'; ' + positional_hint if positional_hint else ''}")
        particle_index = np.arange(n, dtype=np.int64)
    if not keep.all():
        notes.append(f"{int((~keep).sum())} rows are all NaN (particles the method filtered out): not scored")
        coords, particle_index = coords[keep], particle_index[keep]
    n_dropped = n - len(coords)
    if n_dropped:
        notes.append(f"scored on the {len(coords)} particles the output kept; "
                     f"{n_dropped} of {n} have no row")
    k = coords.shape[1]
    return MethodOutput(
        label=label or default_label(kind, path), kind=kind,
        sources=tuple(str(s) for s in (sources or (path,))),
        coords=coords, particle_index=particle_index, n_particles=n, n_dropped=n_dropped,
        dim_names=tuple(dim_names) if dim_names is not None else tuple(f"dim {i}" for i in range(k)),
        notes=tuple(notes))


def refuse_unusual_file(path, max_bytes: int = ARRAY_MAX_BYTES, what: str = "a method output") -> None:
    """LoaderError naming ``path`` unless it is a regular file of at most ``max_bytes``
    (engine.formats.input_checks: a FIFO would block, /dev/zero fill the memory)."""
    problem = input_file_problem(path, max_bytes, what)
    if problem:
        raise LoaderError(path, problem)


def refuse_unusual_table(path) -> None:
    """:func:`refuse_unusual_file` for a text table, which must also end with a line break
    (a last line without one was cut, and its last number would be read cut short)."""
    refuse_unusual_file(path, TABLE_MAX_BYTES, "a text table")
    problem = cut_short_problem(path)
    if problem:
        raise LoaderError(path, problem)


def load_npy(path, raw: bytes | None = None) -> np.ndarray:
    """np.load without pickles; LoaderError names the file for a missing, damaged or
    object (pickled) array, or for something that is not a regular file of a sane size.
    ``raw``: the file's bytes, already read (and checked) by the caller."""
    if raw is None:
        refuse_unusual_file(path)
    try:
        return np.load(path if raw is None else io.BytesIO(raw), allow_pickle=False)
    except FileNotFoundError:
        raise LoaderError(path, "no such file") from None
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise LoaderError(path, "holds Python objects (a pickled array), which elbench does not load") from None
        raise LoaderError(path, f"corrupt or truncated .npy ({exc})") from None
    except (OSError, EOFError) as exc:
        raise LoaderError(path, f"corrupt or truncated .npy ({exc})") from None


def default_label(kind: str, path) -> str:
    return f"{kind} {Path(path).name}"

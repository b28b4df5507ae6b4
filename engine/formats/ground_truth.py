"""Per-particle ground truth of a simulated dataset: ``ground_truth.npz``.

Arrays, one row per particle in ``particles.star`` order (N rows):

- ``image_name`` (N,) str: the particle's ``rlnImageName``, e.g. "000001@particles/particles_00000.mrcs"
- ``cc1_deg``, ``cc2_deg`` (N,) float64: true conformation in degrees
- ``well`` (N,) int16: ground-truth well, 1-based (basin of attraction of a declared well)
- ``core`` (N,) bool: False for transition particles outside the landscape's core radius
- ``energy_kcal_per_mol`` (N,) float64
- ``rot_deg``, ``tilt_deg``, ``psi_deg`` (N,) float64: RELION ZYZ Euler angles
- ``origin_x_A``, ``origin_y_A`` (N,) float64: rlnOriginX/YAngst
- ``defocus_u_A``, ``defocus_v_A``, ``defocus_angle_deg`` (N,) float64

and per dataset: ``well_centres_deg`` (n_wells, 2) declared centres (cc1, cc2),
``well_names`` (n_wells,) str, ``merged_into`` (n_wells,) int16 (0 = owns a basin, else the
1-based well it merged into), ``kT_kcal_per_mol`` () float64 (:func:`landscape_truth`).

A simulated dataset's file is assembled from its chunks' ParticleMetadata
(engine.formats.particle_metadata): :func:`ground_truth_of` in memory, or
:func:`save_ground_truth_streaming`, the same file with the image names written chunk by chunk.

Example::

    gt = load_ground_truth("dataset/ground_truth.npz")
    gt.well[:10], gt.n_wells
    save_ground_truth_streaming(landscape, "ds/ground_truth.npz", chunks, n)
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from engine.atomic_files import atomic_path
from engine.formats.image_names import format_image_names, stack_file_name
from engine.formats.input_checks import GROUND_TRUTH_MAX_BYTES
from engine.formats.npz import write_npz_streaming
from engine.input_files import input_file_problem

PER_PARTICLE = ("image_name", "cc1_deg", "cc2_deg", "well", "core", "energy_kcal_per_mol",
                "rot_deg", "tilt_deg", "psi_deg", "origin_x_A", "origin_y_A",
                "defocus_u_A", "defocus_v_A", "defocus_angle_deg")
PER_DATASET = ("well_centres_deg", "well_names", "merged_into", "kT_kcal_per_mol")


class GroundTruthError(ValueError):
    """A ground-truth file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True, eq=False)
class GroundTruth:
    image_name: np.ndarray
    cc1_deg: np.ndarray
    cc2_deg: np.ndarray
    well: np.ndarray
    core: np.ndarray
    energy_kcal_per_mol: np.ndarray
    rot_deg: np.ndarray
    tilt_deg: np.ndarray
    psi_deg: np.ndarray
    origin_x_A: np.ndarray
    origin_y_A: np.ndarray
    defocus_u_A: np.ndarray
    defocus_v_A: np.ndarray
    defocus_angle_deg: np.ndarray
    well_centres_deg: np.ndarray
    well_names: np.ndarray
    merged_into: np.ndarray
    kT_kcal_per_mol: float

    def __post_init__(self) -> None:
        n = len(self.image_name)
        for name in PER_PARTICLE:
            if len(getattr(self, name)) != n:
                raise GroundTruthError(f"{name}: has {len(getattr(self, name))} rows, expected {n}")
        if np.any(self.well < 1) or np.any(self.well > len(self.well_centres_deg)):
            raise GroundTruthError(f"well: labels must lie in 1..{len(self.well_centres_deg)}")

    def __len__(self) -> int:
        return len(self.image_name)

    @property
    def n_wells(self) -> int:
        return len(self.well_centres_deg)

    def subset(self, index: np.ndarray) -> GroundTruth:
        """The ground truth of the particles ``index`` (per-dataset fields unchanged)."""
        return GroundTruth(**{f.name: (getattr(self, f.name)[index] if f.name in PER_PARTICLE
                                       else getattr(self, f.name)) for f in fields(self)})


def save_ground_truth(gt: GroundTruth, path) -> None:
    """Write atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{f.name: getattr(gt, f.name) for f in fields(gt)})


def load_ground_truth(path) -> GroundTruth:
    """Read a ground_truth.npz; GroundTruthError names the file for a missing or malformed
    field, and for what is not a regular file of at most GROUND_TRUTH_MAX_BYTES."""
    path = Path(path)
    problem = input_file_problem(path, GROUND_TRUTH_MAX_BYTES, "a ground-truth file")
    if problem:
        raise GroundTruthError(f"{path}: {problem}")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in PER_PARTICLE + PER_DATASET if k not in data.files]
            if missing:
                raise GroundTruthError(f"{path}: missing field {missing[0]!r}")
            values = {k: data[k] for k in PER_PARTICLE + PER_DATASET}
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        if isinstance(exc, GroundTruthError):
            raise
        raise GroundTruthError(f"{path}: not a readable ground-truth .npz ({exc})") from None
    values["kT_kcal_per_mol"] = float(values["kT_kcal_per_mol"])
    try:
        return GroundTruth(**values)
    except GroundTruthError as exc:
        raise GroundTruthError(f"{path}: {exc}") from None


def landscape_truth(landscape, grid=None) -> dict:
    """The per-dataset fields of the ground truth of ``landscape`` (engine.landscape.model):
    declared centres, names, basins' merges (from ``grid``, default its sampling grid), kT."""
    basins = (grid if grid is not None else landscape.sampling_grid()).basins
    return dict(well_centres_deg=landscape.centres_deg, well_names=np.array([w.name for w in landscape.wells]),
                merged_into=np.array([m or 0 for m in basins.merged_into], dtype=np.int16),
                kT_kcal_per_mol=float(landscape.kT_kcal_per_mol))


# GroundTruth's numeric per-particle fields from a chunk's ParticleMetadata: (dtype, getter)
METADATA_COLUMNS = {
    "cc1_deg": (np.float64, lambda m: m.cc1_deg), "cc2_deg": (np.float64, lambda m: m.cc2_deg),
    "well": (np.int16, lambda m: m.well), "core": (bool, lambda m: m.core),
    "energy_kcal_per_mol": (np.float64, lambda m: m.energy_kcal_per_mol),
    "rot_deg": (np.float64, lambda m: m.euler_deg[:, 0]), "tilt_deg": (np.float64, lambda m: m.euler_deg[:, 1]),
    "psi_deg": (np.float64, lambda m: m.euler_deg[:, 2]),
    "origin_x_A": (np.float64, lambda m: m.origin_A[:, 0]), "origin_y_A": (np.float64, lambda m: m.origin_A[:, 1]),
    "defocus_u_A": (np.float64, lambda m: m.defocus_u_A), "defocus_v_A": (np.float64, lambda m: m.defocus_v_A),
    "defocus_angle_deg": (np.float64, lambda m: m.defocus_angle_deg),
}


def _fill_columns(metas, n: int) -> tuple[dict, list]:
    """(columns {field: (n,) array}, [(chunk, size)]) of the chunks ``metas`` (consumed once)."""
    columns = {name: np.empty(n, dtype) for name, (dtype, _) in METADATA_COLUMNS.items()}
    sizes = []
    first = 0
    for meta in metas:
        if first + len(meta) > n:
            raise GroundTruthError(f"the chunks hold more than the {n} particles expected")
        for name, (_, get) in METADATA_COLUMNS.items():
            columns[name][first:first + len(meta)] = get(meta)
        sizes.append((meta.chunk, len(meta)))
        first += len(meta)
    if first != n:
        raise GroundTruthError(f"the chunks hold {first} particles, expected {n}")
    return columns, sizes


def ground_truth_of(landscape, metas) -> GroundTruth:
    """The GroundTruth of the chunks ``metas`` (ParticleMetadata, in particle order) of a
    dataset of ``landscape``, all in memory."""
    metas = list(metas)
    columns, _ = _fill_columns(metas, sum(len(m) for m in metas))
    names = np.concatenate([m.image_names() for m in metas]) if metas else np.zeros(0)
    return GroundTruth(image_name=names, **columns, **landscape_truth(landscape))


def save_ground_truth_streaming(landscape, path, metas, n: int) -> None:
    """``ground_truth.npz`` of the ``n`` particles of the chunks ``metas`` (an iterable,
    consumed once, in particle order): the same file as
    ``save_ground_truth(ground_truth_of(landscape, metas), path)``, but the numeric columns are
    filled in place (91 bytes per particle) and the image names are made chunk by chunk."""
    columns, sizes = _fill_columns(metas, n)
    width = max((len(format_image_names([size], stack_file_name(chunk))[0]) for chunk, size in sizes), default=1)
    gt = GroundTruth(image_name=np.broadcast_to(np.array("x"), (n,)), **columns,
                     **landscape_truth(landscape))  # validates (well labels...)

    def image_names():
        for chunk, size in sizes:
            yield format_image_names(np.arange(1, size + 1), stack_file_name(chunk))

    entries = []
    for f in fields(gt):
        if f.name == "image_name":
            entries.append((f.name, f"<U{width}", (n,), image_names()))
        else:
            value = np.asarray(getattr(gt, f.name))
            entries.append((f.name, value.dtype, value.shape, value))
    write_npz_streaming(path, entries)


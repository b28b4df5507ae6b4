"""A dataset as scoring sees it: ground truth, landscape, and how particles are named.

Scoring needs only ``ground_truth.npz`` (engine.formats.ground_truth) and, for the recovered-landscape
comparison and figures, ``landscape.json``; ``particles.star`` and ``cryosparc/particles.cs``
are read only when a method output must be matched by image name or cryoSPARC uid and the
ground truth cannot answer by itself (DESIGN.md section 5 layout).

``load_dataset`` also accepts a bare ``.npz`` file: either the full ground-truth format, or a
*minimal* one holding at least ``well`` (1-based) and optionally ``image_name``, ``cc1``/
``cc1_deg``, ``cc2``/``cc2_deg``, ``core``, ``well_centres``/``well_centres_deg``
(the shape of the ground-truth files under ``shared/fixtures``). Missing per-particle fields
are NaN; missing well centres are the mean (cc1, cc2) of each well's particles.

Example::

    ds = load_dataset("runs/paper-3x4")      # folder, or a ground-truth .npz file
    ds.n_particles, ds.ground_truth.well[:5], ds.landscape
    ds.index_of_names(["000001@particles/particles_00000.mrcs"])   # -> array([0])
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from engine.formats.ground_truth import GroundTruth, GroundTruthError, landscape_truth, load_ground_truth
from engine.formats.image_names import format_image_names, stack_file_name
from engine.formats.input_checks import CS_MAX_BYTES
from engine.formats.star import StarFileError, read_star_blocks
from engine.landscape.model import Landscape, kT_kcal
from engine.landscape.io import LandscapeFileError, load_landscape
from engine.input_files import input_file_problem

GROUND_TRUTH_FILE = "ground_truth.npz"
LANDSCAPE_FILE = "landscape.json"
STAR_FILE = "particles.star"
CRYOSPARC_FILE = "cryosparc/particles.cs"
DEFAULT_TEMPERATURE_K = 300.0


class DatasetError(ValueError):
    """A dataset that cannot be used for scoring; the message names the file and problem."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """The particles of one dataset, in ``particles.star`` order (N particles).

    ground_truth: per-particle truth (engine.formats.ground_truth.GroundTruth).
    landscape: the designed landscape, or None when only a ground-truth file was given.
    root: the dataset folder (None for an in-memory or single-file dataset).
    source: the path the dataset was read from, for messages.
    """

    ground_truth: GroundTruth
    landscape: Landscape | None = None
    root: Path | None = None
    source: str = "<dataset>"
    notes: tuple[str, ...] = ()

    @property
    def n_particles(self) -> int:
        return len(self.ground_truth)

    @property
    def n_wells(self) -> int:
        return self.ground_truth.n_wells

    @property
    def kT_kcal_per_mol(self) -> float:
        return float(self.ground_truth.kT_kcal_per_mol)

    @cached_property
    def image_names(self) -> np.ndarray:
        """(N,) str rlnImageName of every particle: from the ground truth, else particles.star."""
        names = _as_unicode(self.ground_truth.image_name)
        if names.size and np.all(names != ""):
            return names
        return self.star_image_names()

    @cached_property
    def _name_index(self):
        import pandas as pd

        return pd.Index(self.image_names)

    @cached_property
    def _name_hash_index(self):
        """pandas Index of 64-bit hashes of the image names (None if two hashes coincide)."""
        import pandas as pd

        index = pd.Index(_string_hashes(self.image_names, self.image_names.dtype.itemsize // 4))
        return index if index.is_unique else None

    def index_of_names(self, names) -> np.ndarray:
        """(M,) int64 particle index of each exact image name, -1 where not in the dataset.

        Looks up 64-bit hashes of the names (about 5x faster than hashing Python strings at
        millions of names), then checks every hit against the real name; any doubt falls back
        to the exact string lookup."""
        names = _as_unicode(names)
        own = self.image_names
        width = max(own.dtype.itemsize, names.dtype.itemsize) // 4
        if self._name_hash_index is not None and width == own.dtype.itemsize // 4:
            found = np.asarray(self._name_hash_index.get_indexer(_string_hashes(names, width)), dtype=np.int64)
            hit = found >= 0
            if np.array_equal(own[found[hit]], names[hit]):
                return found
        return np.asarray(self._name_index.get_indexer(names), dtype=np.int64)

    def star_image_names(self) -> np.ndarray:
        """(N,) rlnImageName column of ``particles.star`` (DatasetError if absent or wrong length)."""
        if self.root is None or not (self.root / STAR_FILE).exists():
            raise DatasetError(f"{self.source}: particle image names are unknown (no image_name "
                               f"in the ground truth and no {STAR_FILE})")
        _, blocks = self.read_star()
        return blocks["particles"]["rlnImageName"].to_numpy().astype(str)

    def read_star(self) -> tuple[Path, dict]:
        """(path, blocks) of the dataset's ``particles.star`` as starfile reads it (dict of
        DataFrames by block name), checked: a data_particles block with rlnImageName and one
        row per particle. DatasetError names the file and the problem."""
        if self.root is None:
            raise DatasetError(f"{self.source}: the dataset has no folder, so no {STAR_FILE}")
        path = self.root / STAR_FILE
        try:
            blocks = read_star_blocks(path)
        except StarFileError as exc:
            raise DatasetError(str(exc)) from None
        block = blocks.get("particles")
        if block is None or "rlnImageName" not in getattr(block, "columns", ()):
            raise DatasetError(f"{path}: no data_particles block with rlnImageName")
        if len(block) != self.n_particles:
            raise DatasetError(f"{path}: {len(block)} particles, but {GROUND_TRUTH_FILE} has {self.n_particles}")
        return path, blocks

    @cached_property
    def cryosparc_uids(self) -> np.ndarray | None:
        """(N,) uint64 uid of each particle in the dataset's ``cryosparc/particles.cs``, or None."""
        if self.root is None or not (self.root / CRYOSPARC_FILE).exists():
            return None
        path = self.root / CRYOSPARC_FILE
        problem = input_file_problem(path, CS_MAX_BYTES, "a cryoSPARC .cs file")
        if problem:
            raise DatasetError(f"{path}: {problem}")
        try:
            table = np.load(path, allow_pickle=False)
            uids = np.asarray(table["uid"], dtype=np.uint64)
        except (OSError, ValueError, KeyError, IndexError) as exc:
            raise DatasetError(f"{path}: cannot read the uid field ({exc})") from None
        if len(uids) != self.n_particles:
            raise DatasetError(f"{path}: {len(uids)} rows, but the dataset has {self.n_particles} particles")
        return uids


def _as_unicode(values) -> np.ndarray:
    """A numpy unicode array (no copy when it already is one)."""
    values = np.asarray(values)
    return values if values.dtype.kind == "U" else values.astype(str)


def _string_hashes(strings: np.ndarray, width: int) -> np.ndarray:
    """(N,) uint64 polynomial hash of each string, its characters padded to ``width``."""
    codes = np.ascontiguousarray(strings.astype(f"<U{width}", copy=False)).view(np.uint32).reshape(len(strings), width)
    h = np.zeros(len(strings), dtype=np.uint64)
    prime = np.uint64(1099511628211)
    for k in range(width):  # wrapping uint64 arithmetic is the intended modulus 2^64
        h *= prime
        h += codes[:, k]
    return h


def load_dataset(path) -> Dataset:
    """Read a dataset folder (ground_truth.npz, optional landscape.json) or a ground-truth .npz."""
    path = Path(path)
    if path.is_dir():
        gt_path = path / GROUND_TRUTH_FILE
        if not gt_path.exists():  # anything else by that name is refused, by name, when read
            raise DatasetError(f"{path}: not a dataset folder (no {GROUND_TRUTH_FILE})")
        gt, notes = _read_ground_truth(gt_path)
        landscape = None
        if (path / LANDSCAPE_FILE).exists():
            try:
                landscape = load_landscape(path / LANDSCAPE_FILE)
            except LandscapeFileError as exc:
                raise DatasetError(str(exc)) from None
        else:
            notes += (f"no {LANDSCAPE_FILE}: the designed landscape is not shown",)
        return Dataset(gt, landscape, path, str(path), notes)
    if path.exists():
        gt, notes = _read_ground_truth(path)
        return Dataset(gt, None, None, str(path), notes)
    raise DatasetError(f"{path}: no such dataset folder or ground-truth file")


def _read_ground_truth(path: Path) -> tuple[GroundTruth, tuple[str, ...]]:
    try:
        return load_ground_truth(path), ()
    except GroundTruthError as full_error:
        if "missing field" not in str(full_error):
            raise DatasetError(str(full_error)) from None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise DatasetError(f"{path}: not a readable .npz ({exc})") from None
        if "well" not in arrays:
            raise DatasetError(f"{path}: missing field 'well' (neither the full ground-truth format "
                               "nor the minimal one with per-particle 'well')")
        try:
            gt = ground_truth_from_arrays(
                well=arrays["well"],
                image_name=arrays.get("image_name"),
                cc1_deg=arrays.get("cc1_deg", arrays.get("cc1")),
                cc2_deg=arrays.get("cc2_deg", arrays.get("cc2")),
                core=arrays.get("core"),
                well_centres_deg=arrays.get("well_centres_deg", arrays.get("well_centres")))
        except (GroundTruthError, ValueError) as exc:
            raise DatasetError(f"{path}: {exc}") from None
        return gt, (f"{path.name}: minimal ground truth ({', '.join(sorted(arrays))}); "
                    f"kT taken at {DEFAULT_TEMPERATURE_K:g} K",)


def ground_truth_from_arrays(well, *, image_name=None, cc1_deg=None, cc2_deg=None, core=None,
                             well_centres_deg=None, kT_kcal_per_mol: float | None = None) -> GroundTruth:
    """A GroundTruth from the fields scoring needs; unknown per-particle fields are NaN.

    well: (N,) 1-based labels. image_name: (N,) str or None (then empty names).
    cc1_deg, cc2_deg: (N,) or None. core: (N,) bool or None (all core).
    well_centres_deg: (n_wells, 2) or None (mean (cc1, cc2) of each well's particles).
    kT_kcal_per_mol: default kT at 300 K.
    """
    well = np.asarray(well)
    if well.ndim != 1 or not np.issubdtype(well.dtype, np.integer):
        raise ValueError(f"well: must be a 1-D integer array (got {well.dtype}, shape {well.shape})")
    n = len(well)
    if n and well.min() < 1:
        raise ValueError("well: labels must be 1-based (found a label below 1)")
    nan = np.full(n, np.nan)
    cc1 = nan.copy() if cc1_deg is None else np.asarray(cc1_deg, dtype=np.float64)
    cc2 = nan.copy() if cc2_deg is None else np.asarray(cc2_deg, dtype=np.float64)
    if well_centres_deg is None:
        n_wells = int(well.max()) if n else 0
        counts = np.bincount(well, minlength=n_wells + 1)[1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            centres = np.stack([np.bincount(well, weights=c, minlength=n_wells + 1)[1:] / counts
                                for c in (cc1, cc2)], axis=1) if n_wells else np.zeros((0, 2))
    else:
        centres = np.asarray(well_centres_deg, dtype=np.float64).reshape(-1, 2)
    n_wells = len(centres)
    names = np.full(n, "", dtype="<U1") if image_name is None else np.asarray(image_name).astype(str)
    return GroundTruth(
        image_name=names, cc1_deg=cc1, cc2_deg=cc2, well=well.astype(np.int16),
        core=np.ones(n, bool) if core is None else np.asarray(core, dtype=bool),
        energy_kcal_per_mol=nan.copy(), rot_deg=nan.copy(), tilt_deg=nan.copy(), psi_deg=nan.copy(),
        origin_x_A=nan.copy(), origin_y_A=nan.copy(), defocus_u_A=nan.copy(), defocus_v_A=nan.copy(),
        defocus_angle_deg=nan.copy(), well_centres_deg=centres,
        well_names=np.array([str(i + 1) for i in range(n_wells)]),
        merged_into=np.zeros(n_wells, np.int16),
        kT_kcal_per_mol=float(kT_kcal(DEFAULT_TEMPERATURE_K) if kT_kcal_per_mol is None else kT_kcal_per_mol))


def image_names_for(n: int, chunk_size: int) -> np.ndarray:
    """RELION names of N particles in the dataset layout: "000001@particles/particles_00000.mrcs"
    (1-based index inside a stack of ``chunk_size`` particles, 0-based 5-digit stack number)."""
    chunk, within = np.divmod(np.arange(n), chunk_size)
    stacks = np.array([stack_file_name(k) for k in range(-(-n // chunk_size))], dtype=str)
    return format_image_names(within + 1, stacks[chunk])


def synthetic_ground_truth(landscape: Landscape, n: int, seed, chunk_size: int = 10_000) -> GroundTruth:
    """Ground truth of ``n`` conformations drawn from ``landscape`` (engine.landscape.sampling), named as
    in the dataset layout, without images (poses, shifts and defocus NaN). For trying the
    metric on ideal or noisy embeddings, benchmarks and tests."""
    from engine.landscape.sampling import sample_conformations

    grid = landscape.sampling_grid()
    sample = sample_conformations(grid, n, seed)
    gt = ground_truth_from_arrays(sample.well, image_name=image_names_for(n, chunk_size),
                                  cc1_deg=sample.cc1_deg, cc2_deg=sample.cc2_deg, core=sample.core,
                                  well_centres_deg=landscape.centres_deg,
                                  kT_kcal_per_mol=landscape.kT_kcal_per_mol)
    energy = landscape.energy(sample.cc1_deg, sample.cc2_deg)
    fields = {f: getattr(gt, f) for f in gt.__dataclass_fields__}
    return GroundTruth(**{**fields, "energy_kcal_per_mol": energy, **landscape_truth(landscape, grid)})

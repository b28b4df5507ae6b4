"""What an elbench dataset folder says about its own making: geometry, noise, optics, object.

A dataset made by elbench (DESIGN.md section 5) records in ``manifest.json`` the box, pixel
size and the object's pivot and axes (``derived``), the noise calibration (``noise``: SNR,
sigma per pixel, mask radius) and the plan's optics and defocus range (``plan``), and keeps
the two bodies at rest in ``maps/`` (``lsu.mrc``, ``ssu.mrc``, ``ssu_mask.mrc``, [z, y, x],
box-centred). This module is the one reader of those fields (the RELION inputs and the
ideal-observer ceiling both use it); the manifest's JSON is read here directly, since formats
sit below the simulation that writes it.

- :func:`read_dataset_geometry`: a :class:`DatasetGeometry`, checked against the header of
  ``maps/lsu.mrc`` (box and pixel size must agree).
- :func:`dataset_object`: the :class:`engine.structure.object_model.TwoBodyObject` the images
  were projected from, rebuilt from the three maps and the manifest's pivot and axes.

A folder without a manifest, a manifest not written by elbench, or a dataset without its maps
is refused with :class:`DatasetGeometryError`, naming the file: such a dataset's object is not
known, so nothing that needs it (a RELION multibody's masks, the ideal observer's ceiling)
can be computed.

Example::

    geo = read_dataset_geometry("runs/ds1")
    geo.box_size, geo.apix_A, geo.noise_sigma, geo.snr, geo.optics.voltage_kV
    obj = dataset_object("runs/ds1", geo)      # lsu, ssu, ssu_mask (D, D, D) float32
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.imaging.ctf import CTFParams
from engine.input_files import input_file_problem
from engine.structure.maps import MapFileError, map_frame, read_map
from engine.structure.object_model import TwoBodyObject

MANIFEST_FILE = "manifest.json"
LSU_MAP = "maps/lsu.mrc"
SSU_MAP = "maps/ssu.mrc"
SSU_MASK_MAP = "maps/ssu_mask.mrc"
# The manifest's own identity and size limit (engine.simulation.manifest writes it with these; formats
# sit below the simulation, so they are defined here).
MANIFEST_KIND = "elbench-simulated-dataset"
MANIFEST_FORMAT_VERSION = 1
MANIFEST_MAX_BYTES = 256 * 1024**2   # ~150 bytes a chunk: even 10^5 chunks stay far below this
NOT_ELBENCH = "not a dataset made by elbench, so its object, poses and noise are not known"


class DatasetGeometryError(ValueError):
    """A dataset folder that does not say how it was made; the message names the file."""


@dataclass(frozen=True)
class DatasetGeometry:
    """How a dataset was made.

    root: the folder (absolute); box_size: pixels; apix_A: Angstrom per pixel; pivot_A: (3,)
    (x, y, z) Angstrom from the box centre; axis1, axis2: (3,) unit (x, y, z) axes of cc1 and
    cc2 (degrees; cc1 applied first). n_particles: the plan's count; status: the manifest's
    ("complete" once every file is written). snr: the plan's SNR (None: noiseless);
    noise_sigma: the white noise's standard deviation per pixel (0 when noiseless);
    mask_radius_px: the SNR definition's disk. optics: voltage, Cs, Q0, B of every image;
    defocus_range_A: (min, max) mean defocus drawn; astigmatism_max_A: largest |U - V| / 2;
    object_name: the object's name, shown to users.
    """

    root: Path
    box_size: int
    apix_A: float
    pivot_A: tuple[float, float, float]
    axis1: tuple[float, float, float]
    axis2: tuple[float, float, float]
    n_particles: int = 0
    status: str = ""
    snr: float | None = None
    noise_sigma: float = 0.0
    mask_radius_px: float = 0.0
    optics: CTFParams = CTFParams()
    defocus_range_A: tuple[float, float] = (10000.0, 25000.0)
    astigmatism_max_A: float = 500.0
    object_name: str = "object"

    @property
    def box_width_A(self) -> float:
        return self.box_size * self.apix_A


def read_manifest_json(folder, missing_hint: str | None = None) -> dict:
    """The parsed ``manifest.json`` of ``folder``, checked to be an elbench dataset's (kind,
    format version; a FIFO, a device or a file over MANIFEST_MAX_BYTES refused before a byte
    is read). DatasetGeometryError names the file; ``missing_hint``: what a missing file is
    said to mean (default: the folder is not a dataset made by elbench)."""
    path = Path(folder) / MANIFEST_FILE
    problem = None if not path.exists() else input_file_problem(path, MANIFEST_MAX_BYTES, "a manifest")
    if problem:
        raise DatasetGeometryError(f"{path}: {problem}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        hint = missing_hint or f"{Path(folder)} is {NOT_ELBENCH}"
        raise DatasetGeometryError(f"{path}: no such file ({hint})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetGeometryError(f"{path}: cannot read the file ({exc})") from None
    except json.JSONDecodeError as exc:
        raise DatasetGeometryError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict) or data.get("kind") != MANIFEST_KIND:
        raise DatasetGeometryError(f"{path}: kind is not {MANIFEST_KIND!r}: {NOT_ELBENCH}")
    if data.get("format_version") != MANIFEST_FORMAT_VERSION:
        raise DatasetGeometryError(f"{path}: format_version {data.get('format_version')!r} unsupported "
                                   f"(reads {MANIFEST_FORMAT_VERSION})")
    return data


def read_dataset_geometry(folder) -> DatasetGeometry:
    """The geometry, noise and optics of an elbench dataset folder (module docstring), checked
    against ``maps/lsu.mrc``'s header: maps that disagree with the manifest are refused."""
    root = Path(folder).resolve()
    path = root / MANIFEST_FILE
    manifest = read_manifest_json(root)
    try:
        derived, plan, noise = manifest["derived"], manifest["plan"], manifest["noise"]
        obj = derived["object"]
        snr = None if noise["snr"] is None else float(noise["snr"])
        geometry = DatasetGeometry(
            root, int(derived["box_size"]), float(derived["apix_A"]), _vector(obj["pivot_A"]), _vector(obj["axis1"]),
            _vector(obj["axis2"]), n_particles=int(derived["n_particles"]), status=str(manifest.get("status", "")),
            snr=snr, noise_sigma=float(noise["sigma"]), mask_radius_px=float(noise["mask_radius_px"]),
            optics=CTFParams(float(plan["voltage_kV"]), float(plan["cs_mm"]), float(plan["amplitude_contrast"]),
                             float(plan["bfactor_A2"])),
            defocus_range_A=(float(plan["defocus_min_A"]), float(plan["defocus_max_A"])),
            astigmatism_max_A=float(plan["astigmatism_max_A"]), object_name=str(obj.get("name", root.name)))
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetGeometryError(f"{path}: cannot read the box, pixel size, object pivot/axes, noise and "
                                   f"optics fields ({exc!r})") from None
    frame = _map_header(root / LSU_MAP)
    if frame.box_size != geometry.box_size or not math.isclose(frame.apix_A, geometry.apix_A, rel_tol=1e-3):
        raise DatasetGeometryError(f"{root / LSU_MAP}: box {frame.box_size} px at {frame.apix_A:g} A/px, but {path} "
                                   f"says {geometry.box_size} px at {geometry.apix_A:g} A/px")
    return geometry


def dataset_object(folder, geometry: DatasetGeometry | None = None) -> TwoBodyObject:
    """The two-body object a dataset's images were projected from: ``maps/lsu.mrc``,
    ``maps/ssu.mrc``, ``maps/ssu_mask.mrc`` (each (D, D, D) float32 [z, y, x], as the
    simulation wrote its object's arrays) with the manifest's pivot and axes. ``geometry``:
    the folder's, when already read."""
    geometry = geometry or read_dataset_geometry(folder)
    root = geometry.root
    maps = {}
    for name in (LSU_MAP, SSU_MAP, SSU_MASK_MAP):
        path = root / name
        try:
            volume, apix_A = read_map(path)
        except MapFileError as exc:
            raise DatasetGeometryError(f"{exc} (the dataset's object is read from {root / 'maps'})") from None
        if volume.shape[0] != geometry.box_size or not math.isclose(apix_A, geometry.apix_A, rel_tol=1e-3):
            raise DatasetGeometryError(f"{path}: box {volume.shape[0]} px at {apix_A:g} A/px, but "
                                       f"{root / MANIFEST_FILE} says {geometry.box_size} px at {geometry.apix_A:g} A/px")
        maps[name] = volume
    try:
        return TwoBodyObject(lsu=maps[LSU_MAP], ssu=maps[SSU_MAP], ssu_mask=maps[SSU_MASK_MAP],
                             apix_A=geometry.apix_A, pivot_A=np.array(geometry.pivot_A),
                             axis1=np.array(geometry.axis1), axis2=np.array(geometry.axis2),
                             name=geometry.object_name)
    except ValueError as exc:
        raise DatasetGeometryError(f"{root / 'maps'}: not a usable two-body object ({exc})") from None


def _map_header(path: Path):
    try:
        return map_frame(path)
    except MapFileError as exc:
        raise DatasetGeometryError(f"{exc} (an elbench dataset keeps its two bodies in maps/)") from None


def _vector(values) -> tuple[float, float, float]:
    x, y, z = (float(v) for v in values)
    return x, y, z

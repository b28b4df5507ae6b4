"""MRC map files: read and write density maps, and build a two-body object from user maps.

Maps are returned as float32 arrays indexed [z, y, x] (the header's axis order is honoured)
with their voxel size in Angstrom. Written maps carry the voxel size and an origin that puts
the box centre (voxel D//2) at 0 Angstrom, the frame pivot and axes are given in.

Two frames for a pivot (x, y, z) in Angstrom:

- ``PIVOT_FRAME_BOX``, box-centred (RELION's): voxel index n sits at (n - D//2) apix.
- ``PIVOT_FRAME_MAP``, the map's own frame (ChimeraX's): voxel index n sits at
  origin + n apix, the origin being the header's (x, y, z) origin when it is non-zero, else
  (nxstart, nystart, nzstart) apix, as ChimeraX reads it. Coordinates copied from ChimeraX
  are in this frame; :func:`pivot_to_box_frame` converts them (axes are directions and need
  no conversion).

User maps are checked for the usual mistakes: an SSU map with no positive density, an SSU
map that is the whole map (correlation > 0.9 with the LSU map) and an LSU map that still
holds the SSU: each would double or lose density, so they are refused with the file names.
Maps larger than ``max_box`` are Fourier-cropped (:func:`fourier_crop`) for previews.

Example::

    obj = object_from_maps("lsu.mrc", "ssu.mrc", pivot_A=(160, 180, 150),
                           axis1=(0, 1, 0), axis2=(0, 0, 1), pivot_frame=PIVOT_FRAME_MAP)
    write_map("out/full.mrc", composite_map(obj, 5.0, 0.0), obj.apix_A)
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
import scipy.fft

from engine.atomic_files import atomic_path
from engine.input_files import format_bytes, input_file_problem
from engine.structure.object_model import TwoBodyObject, make_soft_mask, orthonormal_axes

PIVOT_FRAME_BOX, PIVOT_FRAME_MAP = "box", "map"
PIVOT_FRAMES = (PIVOT_FRAME_BOX, PIVOT_FRAME_MAP)
#: LSU and SSU maps that correlate more than this are the same map given twice.
# A 1024^3 float32 map (the largest box a plan takes) is 4.3 GB; anything much bigger is not a map.
MAP_MAX_BYTES = 5 * 1024**3
MAP_LABEL = "elbench map (box centre at 0 A)"
SAME_MAP_CORRELATION = 0.9
#: Share of the SSU's core density also found in the LSU map above which it holds the SSU.
DUPLICATED_SSU_FRACTION = 0.5
_SSU_CORE_LEVEL = 0.2       # SSU core: voxels above this fraction of the SSU's maximum
_CHECK_SAMPLES_PER_AXIS = 96  # the pair checks look at about this many voxels along each axis
_MRC_HEADER_BYTES = 1024      # the fixed MRC2014 header, before the extended header and the data


class MapFileError(ValueError):
    """A map file that cannot be used; the message names the file and the problem."""


def _refuse_unusual_file(path: Path) -> None:
    problem = input_file_problem(path, MAP_MAX_BYTES, "a map")
    if problem:
        raise MapFileError(f"{path}: {problem}")


def read_map(path) -> tuple[np.ndarray, float]:
    """Read a cubic 3D MRC map: returns (array (D, D, D) float32 [z, y, x], apix_A).

    Refuses, with a :class:`MapFileError` naming the file: missing or non-MRC files, maps that
    are not 3D or not cubic, anisotropic or unset voxel sizes, NaN/infinite or all-zero data.
    """
    path = Path(path)
    _refuse_unusual_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.open(path, mode="r", permissive=False) as mrc:
                data = np.asarray(mrc.data)
                header = mrc.header
                voxel = mrc.voxel_size
                axis_map = (int(header.mapc), int(header.mapr), int(header.maps))
    except (ValueError, OSError, EOFError) as err:
        raise MapFileError(f"{path}: not a readable MRC file ({err})") from None
    if data is None or data.ndim != 3 or data.shape[0] == 1:
        raise MapFileError(f"{path}: not a 3D map (data shape {None if data is None else data.shape})")
    if sorted(axis_map) != [1, 2, 3]:
        raise MapFileError(f"{path}: invalid axis order in header (mapc, mapr, maps = {axis_map})")
    # data axes are (section, row, column) = (maps, mapr, mapc); we want (z, y, x) = (3, 2, 1)
    stored = (axis_map[2], axis_map[1], axis_map[0])
    data = np.transpose(data, [stored.index(a) for a in (3, 2, 1)])
    if len(set(data.shape)) != 1:
        raise MapFileError(f"{path}: map is not cubic (shape z, y, x = {data.shape})")
    sizes = (float(voxel.x), float(voxel.y), float(voxel.z))
    if min(sizes) <= 0:
        raise MapFileError(f"{path}: voxel size is not set in the header ({sizes} A)")
    if max(sizes) - min(sizes) > 1e-3 * max(sizes):
        raise MapFileError(f"{path}: voxel size is not the same along x, y, z ({sizes} A)")
    array = np.array(data, dtype=np.float32, order="C")  # a writable copy, the file's is not
    if not np.all(np.isfinite(array)):
        raise MapFileError(f"{path}: map contains NaN or infinite values")
    if not np.any(array):
        raise MapFileError(f"{path}: map is empty (all values are zero)")
    return array, sizes[0]


def write_map(path, array: np.ndarray, apix_A: float) -> None:
    """Write a cubic map [z, y, x] as float32 MRC with voxel size ``apix_A`` and origin
    -(D//2) apix_A on each axis (box centre at 0 A). Atomic: written to a temporary file in the
    same folder, then renamed. The bytes depend on the map and ``apix_A`` alone (no time stamp)."""
    path = Path(path)
    array = np.asarray(array, dtype=np.float32)
    if array.ndim != 3 or len(set(array.shape)) != 1:
        raise ValueError(f"array: must be a cubic 3D map (got shape {array.shape})")
    if not apix_A > 0:
        raise ValueError(f"apix_A: must be > 0 (got {apix_A})")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with mrcfile.new(tmp, overwrite=True) as mrc:
            mrc.set_data(np.ascontiguousarray(array))
            mrc.voxel_size = apix_A
            o = -(array.shape[0] // 2) * apix_A
            mrc.header.origin = (o, o, o)
            # mrcfile's label holds the creation time; a fixed one keeps the bytes a function of the map
            mrc.header.label[0] = MAP_LABEL
            mrc.header.nlabl = 1


@dataclass(frozen=True)
class MapFrame:
    """Where a map's voxels lie in its own frame: voxel index (x, y, z) = n sits at
    ``origin_A + n * apix_A``. origin_A: (3,) (x, y, z) Angstrom; box_size: D voxels."""

    origin_A: np.ndarray
    apix_A: float
    box_size: int

    @property
    def box_centre_A(self) -> np.ndarray:
        """The box centre (voxel D//2, the box-centred frame's 0) in the map's own frame."""
        return self.origin_A + (self.box_size // 2) * self.apix_A


def map_frame(path) -> MapFrame:
    """The map's own frame from its MRC header, as ChimeraX reads it: the header origin
    (x, y, z) when it is non-zero and finite, else (nxstart, nystart, nzstart) x voxel size
    (start values are stored in column, row, section order and permuted to x, y, z).

    Only the header is read, but it is checked as :func:`read_map` checks the whole file
    (MRC signature, a cubic 3D box, a known data mode, a usable axis order and voxel size, and
    a file long enough for the data the header announces), so that no estimate is ever made
    from a header that is not a map's: MapFileError names the file."""
    path = Path(path)
    _refuse_unusual_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.open(path, mode="r", header_only=True, permissive=False) as mrc:
                h = mrc.header
                origin = np.array([float(h.origin.x), float(h.origin.y), float(h.origin.z)])
                crs_start = (int(h.nxstart), int(h.nystart), int(h.nzstart))
                crs_axes = (int(h.mapc), int(h.mapr), int(h.maps))
                shape = (int(h.nx), int(h.ny), int(h.nz))
                mode, extended, apix = int(h.mode), int(h.nsymbt), float(mrc.voxel_size.x)
    except (ValueError, OSError, EOFError) as err:
        raise MapFileError(f"{path}: not a readable MRC file ({err})") from None
    _check_header(path, shape, mode, extended)
    if sorted(crs_axes) != [1, 2, 3] or not apix > 0:
        raise MapFileError(f"{path}: header axis order {crs_axes} or voxel size {apix} A is not usable")
    if not (np.all(np.isfinite(origin)) and np.any(origin != 0.0)):
        start = np.zeros(3)
        for crs, axis in enumerate(crs_axes):  # axis 1, 2, 3 = x, y, z
            start[axis - 1] = crs_start[crs]
        origin = start * apix
    return MapFrame(origin_A=origin, apix_A=apix, box_size=shape[0])


def _check_header(path: Path, shape: tuple[int, int, int], mode: int, extended: int) -> None:
    """Refuse a header whose box (nx, ny, nz) is not a cubic 3D map, whose data mode is
    unknown, or that announces more data than the file holds (a truncated file)."""
    if min(shape) < 1 or shape[2] == 1:
        raise MapFileError(f"{path}: not a 3D map (header nx, ny, nz = {shape})")
    if len(set(shape)) != 1:
        raise MapFileError(f"{path}: map is not cubic (header nx, ny, nz = {shape})")
    try:
        itemsize = mrcfile.utils.dtype_from_mode(mode).itemsize
    except ValueError:
        raise MapFileError(f"{path}: unknown MRC data mode {mode} in the header") from None
    needed = _MRC_HEADER_BYTES + max(extended, 0) + math.prod(shape) * itemsize
    size = path.stat().st_size
    if size < needed:
        raise MapFileError(f"{path}: the header announces {shape[0]}^3 voxels ({format_bytes(needed)}) but the "
                           f"file is {format_bytes(size)}: a truncated map")


def pivot_to_box_frame(pivot_A, frame: MapFrame) -> np.ndarray:
    """A point (x, y, z) Angstrom in the map's own frame -> the box-centred frame: (3,)."""
    return np.asarray(pivot_A, dtype=np.float64) - frame.box_centre_A


def pivot_to_map_frame(pivot_A, frame: MapFrame) -> np.ndarray:
    """A point (x, y, z) Angstrom in the box-centred frame -> the map's own frame: (3,)."""
    return np.asarray(pivot_A, dtype=np.float64) + frame.box_centre_A


def _pivot_in_box_frame(pivot_A, path, pivot_frame: str) -> np.ndarray:
    """The pivot given in ``pivot_frame`` of the map at ``path``, box-centred; refused naming
    the file when it lies outside the box (with a hint about the other frame)."""
    if pivot_frame not in PIVOT_FRAMES:
        raise ValueError(f"pivot_frame: must be one of {PIVOT_FRAMES} (got {pivot_frame!r})")
    given = np.asarray(pivot_A, dtype=np.float64)
    if given.shape != (3,) or not np.all(np.isfinite(given)):
        raise ValueError(f"pivot_A: expected 3 finite numbers (x, y, z) (got {pivot_A!r})")
    frame = map_frame(path)
    boxed = given if pivot_frame == PIVOT_FRAME_BOX else pivot_to_box_frame(given, frame)
    half = frame.box_size * frame.apix_A / 2
    if np.any(np.abs(boxed) > half):
        other = pivot_to_box_frame(given, frame) if pivot_frame == PIVOT_FRAME_BOX else given
        hint = ""
        if np.all(np.abs(other) <= half):
            hint = (" It would lie inside read in the map's own frame (ChimeraX coordinates)"
                    if pivot_frame == PIVOT_FRAME_BOX else
                    " It would lie inside read in the box-centred frame (RELION coordinates)")
            hint += ": check which frame the pivot was given in."
        raise MapFileError(
            f"{path}: pivot {given.tolist()} A lies outside the map's box (box-centred "
            f"{np.round(boxed, 2).tolist()} A, half-width {half:.1f} A; the box centre is at "
            f"{np.round(frame.box_centre_A, 2).tolist()} A in the map's own frame).{hint}")
    return boxed


def fourier_crop(volume: np.ndarray, box_size: int) -> np.ndarray:
    """Fourier-crop a cubic map [z, y, x] from D to ``box_size`` voxels (pixel size grows by
    D / box_size): the centred spectrum is cut to the new box, so the map stays band-limited
    (no aliasing), values keep their scale (a constant stays that constant) and the box
    centre (voxel D//2 -> box_size//2) stays at 0 A. A box not larger is returned as a copy."""
    d = volume.shape[0]
    n = int(box_size)
    if n >= d:
        return np.array(volume, dtype=np.float32)
    if n < 2:
        raise ValueError(f"box_size: must be >= 2 (got {box_size})")
    spectrum = scipy.fft.rfftn(np.fft.ifftshift(np.asarray(volume, dtype=np.float32)))
    keep = np.r_[0:(n + 1) // 2, d - n // 2:d]  # frequencies -(n//2) .. (n-1)//2
    cropped = spectrum[np.ix_(keep, keep, np.arange(n // 2 + 1))]
    del spectrum
    out = scipy.fft.irfftn(cropped, s=(n, n, n)) * np.float32((n / d) ** 3)
    return np.ascontiguousarray(np.fft.fftshift(out), dtype=np.float32)


def _crop_to(arrays, apix: float, max_box: int | None):
    """Fourier-crop every array to ``max_box`` when larger; returns (arrays, apix)."""
    d = arrays[0].shape[0]
    if max_box is None or d <= max_box:
        return arrays, apix
    return [fourier_crop(a, max_box) for a in arrays], apix * d / max_box


def _read_pair(path_a, path_b):
    a, apix_a = read_map(path_a)
    b, apix_b = read_map(path_b)
    if a.shape != b.shape:
        raise MapFileError(f"{path_b}: box size {b.shape[0]} differs from {path_a} ({a.shape[0]})")
    if abs(apix_a - apix_b) > 1e-3 * apix_a:
        raise MapFileError(f"{path_b}: pixel size {apix_b:.4f} A differs from {path_a} ({apix_a:.4f} A)")
    return a, b, apix_a


def _check_two_bodies(lsu: np.ndarray, ssu: np.ndarray, lsu_path, ssu_path) -> None:
    """Refuse an LSU / SSU pair that has no density or would count the SSU twice."""
    for body, arr, path in (("SSU", ssu, ssu_path), ("LSU", lsu, lsu_path)):
        if not float(arr.max()) > 0.0:
            raise MapFileError(f"{path}: the {body} map has no positive density "
                               f"(values {float(arr.min()):.3g} to {float(arr.max()):.3g})")
    step = max(1, math.ceil(lsu.shape[0] / _CHECK_SAMPLES_PER_AXIS))  # smooth maps: a subsample
    a = lsu[::step, ::step, ::step].astype(np.float64).ravel()
    b = ssu[::step, ::step, ::step].astype(np.float64).ravel()
    a_c, b_c = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float(a_c @ a_c) * float(b_c @ b_c))
    r = float(a_c @ b_c) / denominator if denominator > 0 else 1.0
    if r > SAME_MAP_CORRELATION:
        raise MapFileError(
            f"{ssu_path}: the SSU map looks like the whole map (correlation {r:.3f} with "
            f"{lsu_path}), so its density would be counted twice; give the LSU map without "
            f"the SSU, or use map + SSU mask")
    core = b > _SSU_CORE_LEVEL * b.max()
    duplicated = float(np.minimum(np.maximum(a[core], 0.0), b[core]).sum() / b[core].sum())
    if duplicated > DUPLICATED_SSU_FRACTION:
        raise MapFileError(
            f"{lsu_path}: the LSU map also holds the SSU's density ({duplicated:.0%} of the "
            f"SSU core in {ssu_path} is in it), so the SSU would be counted twice; give the "
            f"LSU map without the SSU, or use map + SSU mask")


def object_from_maps(lsu_path, ssu_path, pivot_A, axis1, axis2, name: str | None = None,
                     pivot_frame: str = PIVOT_FRAME_BOX, max_box: int | None = None) -> TwoBodyObject:
    """Two-body object from an LSU map and an SSU map (same box and pixel size). The SSU mask
    is made from the SSU map (:func:`make_soft_mask`). Axes are normalised and must be
    orthogonal within 1 degree. ``pivot_frame``: PIVOT_FRAME_BOX or PIVOT_FRAME_MAP (the
    LSU map's own frame, see the module docstring). ``max_box``: maps with more voxels per
    side are Fourier-cropped to it (for previews; the pixel size grows accordingly)."""
    a1, a2 = orthonormal_axes(axis1, axis2)
    lsu, ssu, apix = _read_pair(lsu_path, ssu_path)
    pivot = _pivot_in_box_frame(pivot_A, lsu_path, pivot_frame)
    _check_two_bodies(lsu, ssu, lsu_path, ssu_path)
    (lsu, ssu), apix = _crop_to([lsu, ssu], apix, max_box)
    return TwoBodyObject(lsu=lsu, ssu=ssu, ssu_mask=make_soft_mask(ssu, apix), apix_A=apix,
                         pivot_A=pivot, axis1=a1, axis2=a2,
                         name=name or f"{Path(lsu_path).stem} + {Path(ssu_path).stem}")


def object_from_map_and_mask(map_path, mask_path, pivot_A, axis1, axis2, name: str | None = None,
                             pivot_frame: str = PIVOT_FRAME_BOX,
                             max_box: int | None = None) -> TwoBodyObject:
    """Two-body object from one full map and an SSU mask (binary or soft, values in [0, 1]):
    SSU = map * mask, LSU = map * (1 - mask). ``pivot_frame`` (the full map's frame) and
    ``max_box`` as for :func:`object_from_maps`; the bodies are split at full size, then
    cropped (the cropped mask is clipped to [0, 1])."""
    a1, a2 = orthonormal_axes(axis1, axis2)
    full, mask, apix = _read_pair(map_path, mask_path)
    if mask.min() < -1e-3 or mask.max() > 1 + 1e-3:
        raise MapFileError(f"{mask_path}: mask values must lie in [0, 1] "
                           f"(found {mask.min():.3g} to {mask.max():.3g})")
    pivot = _pivot_in_box_frame(pivot_A, map_path, pivot_frame)
    np.clip(mask, 0.0, 1.0, out=mask)
    ssu = full * mask
    lsu = np.subtract(full, ssu, out=full)  # map * (1 - mask), reusing the map's memory
    if not np.any(ssu):
        raise MapFileError(f"{mask_path}: the mask leaves no density for the SSU in {map_path}")
    if not np.any(lsu):
        raise MapFileError(f"{mask_path}: the mask covers the whole map, nothing is left for the LSU")
    (lsu, ssu, mask), apix = _crop_to([lsu, ssu, mask], apix, max_box)
    np.clip(mask, 0.0, 1.0, out=mask)
    return TwoBodyObject(lsu=lsu, ssu=ssu, ssu_mask=mask, apix_A=apix, pivot_A=pivot,
                         axis1=a1, axis2=a2, name=name or Path(map_path).stem)

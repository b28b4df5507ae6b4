"""MRC map files: read and write density maps, and build a two-body object from user maps.

Maps are returned as float32 arrays indexed [z, y, x] (the header's axis order is honoured)
with their voxel size in Angstrom. Written maps carry the voxel size and an origin that puts
the box centre (voxel D//2) at 0 Angstrom, the frame pivot and axes are given in.

Example::

    obj = object_from_maps("lsu.mrc", "ssu.mrc", pivot_A=(0, 20, 0),
                           axis1=(0, 1, 0), axis2=(0, 0, 1))
    write_map("out/full.mrc", composite_map(obj, 5.0, 0.0), obj.apix_A)
"""
from __future__ import annotations

import warnings
from pathlib import Path

import mrcfile
import numpy as np

from engine.atomic_files import atomic_path
from engine.object_model import TwoBodyObject, make_soft_mask, orthonormal_axes


class MapFileError(ValueError):
    """A map file that cannot be used; the message names the file and the problem."""


def read_map(path) -> tuple[np.ndarray, float]:
    """Read a cubic 3D MRC map: returns (array (D, D, D) float32 [z, y, x], apix_A).

    Refuses, with a :class:`MapFileError` naming the file: missing or non-MRC files, maps that
    are not 3D or not cubic, anisotropic or unset voxel sizes, NaN/infinite or all-zero data.
    """
    path = Path(path)
    if not path.is_file():
        raise MapFileError(f"{path}: no such file")
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
    array = np.ascontiguousarray(data, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        raise MapFileError(f"{path}: map contains NaN or infinite values")
    if not np.any(array):
        raise MapFileError(f"{path}: map is empty (all values are zero)")
    return array, sizes[0]


def write_map(path, array: np.ndarray, apix_A: float) -> None:
    """Write a cubic map [z, y, x] as float32 MRC with voxel size ``apix_A`` and origin
    -(D//2) apix_A on each axis (box centre at 0 A). Atomic: written to a temporary file in the
    same folder, then renamed."""
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


def _read_pair(path_a, path_b):
    a, apix_a = read_map(path_a)
    b, apix_b = read_map(path_b)
    if a.shape != b.shape:
        raise MapFileError(f"{path_b}: box size {b.shape[0]} differs from {path_a} ({a.shape[0]})")
    if abs(apix_a - apix_b) > 1e-3 * apix_a:
        raise MapFileError(f"{path_b}: pixel size {apix_b:.4f} A differs from {path_a} ({apix_a:.4f} A)")
    return a, b, apix_a


def object_from_maps(lsu_path, ssu_path, pivot_A, axis1, axis2, name: str | None = None) -> TwoBodyObject:
    """Two-body object from an LSU map and an SSU map (same box and pixel size). The SSU mask
    is made from the SSU map (:func:`make_soft_mask`). Axes are normalised and must be
    orthogonal within 1 degree."""
    lsu, ssu, apix = _read_pair(lsu_path, ssu_path)
    a1, a2 = orthonormal_axes(axis1, axis2)
    return TwoBodyObject(lsu=lsu, ssu=ssu, ssu_mask=make_soft_mask(ssu, apix), apix_A=apix,
                         pivot_A=np.asarray(pivot_A, dtype=np.float64), axis1=a1, axis2=a2,
                         name=name or f"{Path(lsu_path).stem} + {Path(ssu_path).stem}")


def object_from_map_and_mask(map_path, mask_path, pivot_A, axis1, axis2, name: str | None = None) -> TwoBodyObject:
    """Two-body object from one full map and an SSU mask (binary or soft, values in [0, 1]):
    SSU = map * mask, LSU = map * (1 - mask)."""
    full, mask, apix = _read_pair(map_path, mask_path)
    if mask.min() < -1e-3 or mask.max() > 1 + 1e-3:
        raise MapFileError(f"{mask_path}: mask values must lie in [0, 1] "
                           f"(found {mask.min():.3g} to {mask.max():.3g})")
    mask = np.clip(mask, 0.0, 1.0)
    ssu, lsu = full * mask, full * (1.0 - mask)
    if not np.any(ssu):
        raise MapFileError(f"{mask_path}: the mask leaves no density for the SSU in {map_path}")
    if not np.any(lsu):
        raise MapFileError(f"{mask_path}: the mask covers the whole map, nothing is left for the LSU")
    a1, a2 = orthonormal_axes(axis1, axis2)
    return TwoBodyObject(lsu=lsu, ssu=ssu, ssu_mask=mask, apix_A=apix,
                         pivot_A=np.asarray(pivot_A, dtype=np.float64), axis1=a1, axis2=a2,
                         name=name or Path(map_path).stem)

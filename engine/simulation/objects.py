"""The object a plan images: the procedural ribosome-like object, or the user's maps, checked
against the plan's box and pixel size; and the box and pixel size of a user map, read from its
header once per version of the file (a plan asks for them often: disk and time estimates).

Example::

    obj = build_object(plan)          # TwoBodyObject: maps float32 [z, y, x], apix, pivot, axes
    map_header("lsu.mrc")             # (box in voxels, Angstrom per voxel)
"""
from __future__ import annotations

import os
from functools import lru_cache

from engine.simulation.plan import PlanError, SimulationPlan


def build_object(plan: SimulationPlan):
    """The plan's TwoBodyObject (maps float32 [z, y, x], apix, pivot, axes)."""
    from engine.structure import object_model
    from engine.structure import maps

    spec = plan.object
    if plan.max_shift_A:
        plan.check_shift_limit()  # the maps' pixel size is in their header: read before the maps
    if spec.kind == "ribosome-like":
        return object_model.build_ribosome_like(box_size=plan.effective_box_size(), apix_A=plan.effective_apix_A(),
                                                seed=spec.seed)
    try:
        if spec.kind == "two-maps":
            obj = maps.object_from_maps(spec.lsu_map, spec.ssu_map, spec.pivot_A, spec.axis1, spec.axis2)
        else:
            obj = maps.object_from_map_and_mask(spec.full_map, spec.ssu_mask, spec.pivot_A, spec.axis1, spec.axis2)
    except maps.MapFileError as exc:
        raise PlanError("object", str(exc)) from None
    if plan.box_size is not None and obj.box_size != plan.box_size:
        raise PlanError("box_size", f"is {plan.box_size} but the maps are {obj.box_size} voxels across "
                        "(leave box_size out to use the maps' box)")
    if plan.apix_A is not None and abs(obj.apix_A - plan.apix_A) > 1e-3 * plan.apix_A:
        raise PlanError("apix_A", f"is {plan.apix_A} but the maps have {obj.apix_A:g} A/voxel "
                        "(leave apix_A out to use the maps' voxel size)")
    return obj


def map_header(path: str) -> tuple[int, float]:
    """(box in voxels, voxel size in Angstrom) from the header of the MRC file ``path``, read
    once per version of the file (keyed by its modification time and size)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise PlanError("object", f"cannot read the MRC header of {path} ({exc})") from None
    return _read_map_header(path, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=32)
def _read_map_header(path: str, mtime_ns: int, size: int) -> tuple[int, float]:
    """The header of one version of a map file; ``mtime_ns`` and ``size`` only key the cache.
    Read by engine.structure.maps.map_frame, which refuses a file that is not a map (not
    regular, no MRC signature, not cubic, truncated) before its box size is believed."""
    from engine.structure.maps import MapFileError, map_frame

    try:
        frame = map_frame(path)
    except MapFileError as exc:
        raise PlanError("object", str(exc)) from None
    return frame.box_size, frame.apix_A

"""The two-body object (LSU fixed, SSU rotating about a pivot by cc1 then cc2), user maps
and MRC files, and rotation conventions (RELION ZYZ Euler angles, axis-angle)."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "object_model": ["TwoBodyObject", "build_ribosome_like", "composite_map", "rotate_about_point", "default_apix_A"],
    "maps": ["MapFileError", "read_map", "write_map", "object_from_maps", "object_from_map_and_mask", "map_frame"],
    "fsc": ["fsc", "resolution_A", "real_space_correlation", "compare_maps", "MapComparison"],
    "rotations": ["relion_matrix", "conformation_matrix", "uniform_euler_angles", "euler_from_matrix"],
})

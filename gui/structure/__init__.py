"""The Structure & projections tab: the 3D view of the object, motion along paths, the projection
preview and the Load maps dialog."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "structure_tab": ["StructureTab"],
    "conformation_panel": ["ConformationPanel"],
    "object_preparation": ["PreparedObject", "prepare_object"],
    "object_view": ["VispyObjectView"],
    "motion_player": ["MotionPlayer"],
    "projection_preview": ["ProjectionPreview"],
    "load_maps_dialog": ["LoadMapsDialog", "MapsRequest"],
})

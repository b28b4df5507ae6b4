"""The Landscape tab: the energy map with draggable wells, marginals, the well inspector and table."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "designer": ["LandscapeDesigner"],
    "landscape_map": ["LandscapeMapWidget"],
    "well_inspector": ["WellInspector", "WellTable"],
})

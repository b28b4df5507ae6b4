"""The GUI's state: the document (landscape, current object, file, dirty flag, undo stack) that
every tab takes in its constructor, and its undo commands."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "document": ["LandscapeDocument", "ENERGY_UNITS"],
    "object_state": ["CurrentObject", "MapsRequest", "KIND_MAPS", "KIND_MASK", "MAX_PREVIEW_BOX"],
}, modules=("undo_commands",))

"""The GUI's state: the document (landscape, file, dirty flag, undo stack) that every tab
takes in its constructor, and its undo commands."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "document": ["LandscapeDocument", "ENERGY_UNITS"],
}, modules=("undo_commands",))

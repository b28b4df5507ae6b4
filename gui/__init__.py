"""elbench's Qt application: one wing per tab (landscape, structure, simulation, comparison),
the shared widgets, and the document model that the tabs read and change."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "app": ["run_gui"],
    "main_window": ["MainWindow"],
}, modules=("model", "widgets", "landscape", "structure", "simulation", "comparison"))

"""elbench's computation and file formats, no Qt: one subpackage per stage of the data path,
landscape -> structure -> imaging -> simulation -> formats -> scoring, and the headless commands."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
}, modules=("landscape", "structure", "imaging", "simulation", "formats", "scoring", "commands"))

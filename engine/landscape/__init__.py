"""The conformational energy landscape over (cc1, cc2) in degrees, energies in kcal/mol: the
model and its energy grid, JSON files, the drag cache, basins, exact sampling, presets and
minimum-energy paths."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "model": ["Landscape", "Well", "EnergyGrid", "cells_along", "kT_kcal", "BOLTZMANN_KCAL_PER_MOL_K"],
    "io": ["LandscapeFileError", "load_landscape", "save_landscape", "landscape_from_dict", "landscape_to_dict"],
    "drag": ["DragGrid"],
    "basins": ["find_basins"],
    "sampling": ["sample_conformations", "within_radius"],
    "presets": ["DEFAULT_PRESET", "load_preset", "preset_names"],
    "paths": ["minimum_energy_path", "grid_minimum_energy_path", "arc_length"],
    "path_profile": ["PathProfile", "path_profile", "well_path_profile", "drawn_path_profile"],
})

"""Built-in landscapes, stored as landscape JSON files in ``resources/presets/``.

Example::

    preset_names()            # ['paper-3x4', 'ratchet-valley', ...]
    land = load_preset("paper-3x4")
"""
from __future__ import annotations

from pathlib import Path

from engine.landscape.model import Landscape
from engine.landscape.io import load_landscape

PRESET_DIR = Path(__file__).resolve().parents[2] / "resources" / "presets"
DEFAULT_PRESET = "paper-3x4"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load_preset(name: str = DEFAULT_PRESET) -> Landscape:
    path = PRESET_DIR / f"{name}.json"
    if not path.is_file():
        raise KeyError(f"no preset named {name!r}; available: {', '.join(preset_names())}")
    return load_landscape(path)

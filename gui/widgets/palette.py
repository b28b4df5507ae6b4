"""The one palette for wells, used by every view and figure of the application.

Well n (1-based) has colour ``well_colour(n)``; the first 12 are distinct, colour-blind-aware
hues (Okabe-Ito and Tol), and the list repeats after 20. Colours are "#rrggbb" strings.

Example::

    well_colour(1)          # '#e69f00'
    well_rgba(np.array([1, 2, 12]))   # (3, 4) uint8
"""
from __future__ import annotations

import numpy as np

WELL_COLOURS = (
    "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00",
    "#cc79a7", "#999933", "#882255", "#44aa99", "#aa4499", "#332288",
    "#88ccee", "#ddcc77", "#117733", "#cc6677", "#6699cc", "#aa7744", "#bbbbbb", "#000000",
)
TRANSITION_COLOUR = "#7f7f7f"


def well_colour(number: int) -> str:
    """'#rrggbb' of well ``number`` (1-based)."""
    return WELL_COLOURS[(int(number) - 1) % len(WELL_COLOURS)]


def well_rgba(numbers: np.ndarray, alpha: int = 255) -> np.ndarray:
    """(N, 4) uint8 RGBA for an array of 1-based well numbers (0 gives the transition grey)."""
    table = np.array([_rgb(TRANSITION_COLOUR)] + [_rgb(c) for c in WELL_COLOURS], dtype=np.uint8)
    numbers = np.asarray(numbers, dtype=np.int64)
    idx = np.where(numbers > 0, (numbers - 1) % len(WELL_COLOURS) + 1, 0)
    rgba = np.empty(numbers.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = table[idx]
    rgba[..., 3] = alpha
    return rgba


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))

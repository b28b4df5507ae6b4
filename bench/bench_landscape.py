"""Landscape speed: grid recompute while dragging, basins, and sampling 3,000,000 conformations.

Prints wall times (best of several repeats) and, as a same-run baseline, the cost of the
unavoidable work: one numpy exp over the 512^2 grid, and drawing 3,000,000 uniform numbers.

    python bench/bench_landscape.py
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from timing import best_of  # noqa: E402
from engine.landscape.presets import load_preset  # noqa: E402
from engine.landscape.sampling import sample_conformations  # noqa: E402


def main():
    land = load_preset("paper-3x4")
    n = land.grid_size
    x = np.random.default_rng(0).random((n, n))
    exp_ms = best_of(lambda: np.exp(x)) * 1e3
    grid_ms = best_of(lambda: land.grid()) * 1e3
    rotated = replace(land, wells=tuple(replace(w, angle_deg=15.0) for w in land.wells))
    rotated_ms = best_of(lambda: rotated.grid()) * 1e3
    basins_ms = best_of(lambda: land.grid().basins) * 1e3
    print(f"paper-3x4, {n}x{n} grid, 12 wells")
    print(f"  baseline: one exp over the grid       {exp_ms:7.2f} ms")
    print(f"  energy grid (axis-aligned wells)      {grid_ms:7.2f} ms  ({grid_ms / exp_ms:.1f}x baseline)")
    print(f"  energy grid (rotated wells)           {rotated_ms:7.2f} ms  ({rotated_ms / exp_ms:.1f}x baseline)")
    print(f"  grid + basins (labels, merges, saddles){basins_ms:7.2f} ms")
    grid = land.grid()
    grid.basins
    n_samples = 3_000_000
    rng_s = best_of(lambda: np.random.default_rng(1).random(n_samples), 3)
    sample_s = best_of(lambda: sample_conformations(grid, n_samples, seed=1), 3)
    print(f"sampling {n_samples:,} conformations (labels and core flags included)")
    print(f"  baseline: {n_samples:,} uniform numbers   {rng_s:7.3f} s")
    print(f"  sample_conformations                  {sample_s:7.3f} s  ({sample_s / rng_s:.1f}x baseline)")


if __name__ == "__main__":
    main()

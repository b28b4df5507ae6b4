"""Sample conformations from a landscape and print the per-well occupancy.

Draws N conformations exactly from the Boltzmann occupancy of a landscape (a JSON file or a
built-in preset), labels each with its ground-truth well, and optionally writes them to an
.npz file (cc1_deg, cc2_deg, well, core, energy_kcal_per_mol).

Example::

    python main.py sample --preset paper-3x4 --n 100000 --seed 1 --out samples.npz
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from engine.landscape.io import LandscapeFileError, load_landscape
from engine.landscape.presets import DEFAULT_PRESET, load_preset, preset_names
from engine.landscape.sampling import sample_conformations


def add_args(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--landscape", metavar="FILE", help="landscape JSON file")
    source.add_argument("--preset", choices=preset_names(), help=f"built-in landscape (default {DEFAULT_PRESET})")
    parser.add_argument("--n", type=int, default=100_000, help="number of conformations (default 100000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", metavar="FILE.npz", help="write the samples here")


def main(args: argparse.Namespace) -> int:
    try:
        land = load_landscape(args.landscape) if args.landscape else load_preset(args.preset or DEFAULT_PRESET)
    except LandscapeFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.n < 1:
        print(f"error: --n must be at least 1 (got {args.n})", file=sys.stderr)
        return 2
    grid = land.sampling_grid()
    sample = sample_conformations(grid, args.n, args.seed)
    counts = np.bincount(sample.well, minlength=len(land.wells) + 1)[1:]
    basins = grid.basins
    print(f"{land.name}: {args.n} conformations, T = {land.temperature_K:g} K, seed {args.seed}")
    print(f"{'well':>6} {'name':>8} {'expected %':>11} {'sampled %':>10} {'G (kT)':>8}")
    for i, well in enumerate(land.wells):
        merged = basins.merged_into[i]
        g_kT = basins.free_energy_kcal_per_mol[i] / land.kT_kcal_per_mol
        note = f"  merged into well {merged}" if merged else ""
        print(f"{i + 1:>6} {well.name:>8} {100 * basins.occupancy[i]:>11.2f} "
              f"{100 * counts[i] / args.n:>10.2f} {g_kT:>8.2f}{note}")
    if args.out:
        energy = land.energy(sample.cc1_deg, sample.cc2_deg)
        try:
            np.savez(args.out, cc1_deg=sample.cc1_deg, cc2_deg=sample.cc2_deg, well=sample.well,
                     core=sample.core, energy_kcal_per_mol=energy)
        except OSError as exc:
            print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"wrote {args.out}")
    return 0

"""Verify a simulated dataset: every file is what the run wrote, and the files agree.

Re-hashes every particle stack, map and metadata file against manifest.json, checks that every
particles.star row names an existing stack frame, and that the particle counts agree across
manifest.json, the stacks, particles.star, ground_truth.npz, cryodrgn/*.pkl and
cryosparc/particles.cs (engine.simulation.verify). Exit status 0: intact; 1: one line per
problem on stderr, each naming the file (``simulate --out DATASET --resume`` remakes damaged
stacks and maps).

Examples::

    python main.py verify runs/ds1
    elbench verify /shared/big && echo intact
"""
from __future__ import annotations

import argparse
import sys


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DATASET", help="dataset folder (holds manifest.json)")


def main(args: argparse.Namespace) -> int:
    from engine.simulation.verify import verify_dataset

    problems = verify_dataset(args.dataset)
    if problems:
        for problem in problems:
            print(f"{args.dataset}: {problem}" if not problem.startswith(str(args.dataset)) else problem,
                  file=sys.stderr)
        return 1
    print(f"{args.dataset}: intact (every sha256 matches manifest.json; the STAR rows, stacks and metadata "
          "files agree)")
    return 0

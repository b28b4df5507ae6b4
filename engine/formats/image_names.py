"""Particle image names: RELION's ``rlnImageName``, "000001@particles/particles_00000.mrcs".

A name is the particle's 1-based position in an MRC stack, zero-padded to six digits, "@",
then the stack's path (relative to the dataset folder in our datasets). The dataset's stacks
are ``particles/particles_NNNNN.mrcs``, one per chunk (0-based, five digits). These are the
only functions that write or read that format; the STAR writer, the ground truth, the dataset
reader and the loaders' matching all go through them.

Example::

    format_image_names([1, 2], stack_file_name(0))
    # array(['000001@particles/particles_00000.mrcs', '000002@particles/particles_00000.mrcs'])
    position, stack, ok = parse_image_names(["000012@Extract/job3/a.mrcs", "junk"])
    # position [12, 0], stack ['Extract/job3/a.mrcs', ''], ok [True, False]
"""
from __future__ import annotations

import numpy as np

STACK_DIR = "particles"
POSITION_DIGITS = 6


def stack_file_name(chunk: int) -> str:
    """Stack path of chunk ``chunk`` (0-based), relative to the dataset folder."""
    return f"{STACK_DIR}/particles_{chunk:05d}.mrcs"


def format_image_names(positions, stacks) -> np.ndarray:
    """(M,) str names "NNNNNN@stack" of 1-based ``positions`` (M,) int in ``stacks`` (one path
    for all, or (M,) paths). Positions of more than six digits are written in full."""
    positions = np.asarray(positions, dtype=np.int64)
    if positions.size == 0:
        return np.zeros(positions.shape, dtype=str)  # numpy's zfill cannot size an empty result
    digits = np.char.zfill(positions.astype(str), POSITION_DIGITS)
    return np.char.add(np.char.add(digits, "@"), np.asarray(stacks, dtype=str))


def parse_image_names(names) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(position (M,) int64, stack (M,) str, ok (M,) bool) of RELION image names: ``ok`` is
    False (position 0) where a name is not "N@path" with a number N and a path."""
    import pandas as pd

    names = np.asarray(names).astype(str)
    if names.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, dtype=str), np.zeros(0, bool)
    parts = pd.Series(names, dtype=object).str.partition("@")
    position = pd.to_numeric(parts[0], errors="coerce")
    ok = (parts[1] == "@").to_numpy() & position.notna().to_numpy() & (parts[2] != "").to_numpy()
    stack = np.where(ok, parts[2].to_numpy(dtype=str), "")
    return np.where(ok, position.fillna(0).to_numpy(), 0).astype(np.int64), stack, ok

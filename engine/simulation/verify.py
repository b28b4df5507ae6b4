"""Check a dataset against its manifest: is every file what the run wrote, and do they agree?

:func:`verify_dataset` re-hashes every stack, map and metadata file against manifest.json,
checks that every particles.star row names a frame that exists in a stack of the dataset, and
that the particle counts agree across the manifest, the stacks, particles.star,
ground_truth.npz, cryodrgn/poses.pkl + ctf.pkl and cryosparc/particles.cs. It returns one line
per problem, each naming the file; the command line (``elbench verify``) prints them and the
GUI can show them. Pickles are read with engine.formats.safe_pickle (nothing in them runs).

Example::

    problems = verify_dataset("runs/ds1")     # [] when intact, else one line per problem
    # ["particles/particles_00001.mrcs: does not match its sha256 in manifest.json (...)"]
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.simulation import manifest as mf
from engine.simulation.folder import file_problem


def verify_dataset(folder) -> list[str]:
    """The problems of the dataset in ``folder`` (empty when it is intact), one line each naming
    the file: a manifest that cannot be read or is not complete, a stack, map or metadata file
    that is missing or whose sha256 differs, a STAR row naming no existing frame, a count that
    disagrees with the manifest's."""
    folder = Path(folder)
    try:
        manifest = mf.read_manifest(folder)
    except mf.ManifestError as exc:
        return [str(exc)]
    problems = []
    pending = [row for row in manifest["chunks"] if row["status"] != "done"]
    if manifest["status"] != "complete" or pending:
        problems.append(f"{mf.MANIFEST_FILE}: status {manifest['status']!r}, {len(pending)} of "
                        f"{len(manifest['chunks'])} chunks not done: the dataset is not complete (resume it)")
    for row in mf.done_chunks(manifest):
        problem = file_problem(folder, row["file"], row["sha256"], row["bytes"])
        if problem:
            problems.append(f"{row['file']}: {problem}")
    for group in ("maps", "files"):
        for name, sha in sorted(manifest.get(group, {}).items()):
            problem = file_problem(folder, name, sha)
            if problem:
                problems.append(f"{name}: {problem}")
    if manifest["status"] == "complete":
        problems += _count_problems(folder, manifest)
    return problems


def _count_problems(folder: Path, manifest: dict) -> list[str]:
    """Counts of every per-particle file against the manifest's, and the STAR rows' frames."""
    n = sum(row["count"] for row in manifest["chunks"])
    frames = _stack_frames(folder, manifest)
    problems = [f"{file}: {count:,} frames in its header, the manifest lists {row_count:,}"
                for file, (count, row_count) in frames.items() if count is not None and count != row_count]
    readers = {"particles.star": lambda p: _star_rows(p, frames),
               "ground_truth.npz": _ground_truth_rows,
               "cryodrgn/poses.pkl": lambda p: (_pickle_rows(p, 0), []),
               "cryodrgn/ctf.pkl": lambda p: (_pickle_rows(p, None), []),
               "cryosparc/particles.cs": lambda p: (len(np.load(p, mmap_mode="r", allow_pickle=False)), [])}
    for name, read in readers.items():
        if name not in manifest.get("files", {}) or not (folder / name).is_file():
            continue  # not written by this plan, or missing (reported with its sha256)
        try:
            found, own = read(folder / name)
        except Exception as exc:  # any reader's error is this file's problem, not verify's
            problems.append(f"{name}: cannot be read ({type(exc).__name__}: {exc})")
            continue
        problems += [f"{name}: {p}" for p in own]
        if found != n:
            problems.append(f"{name}: {found:,} particles, the manifest lists {n:,}")
    return problems


def _stack_frames(folder: Path, manifest: dict) -> dict:
    """{stack file: (frames in its MRC header or None if unreadable, particles in the manifest)}."""
    import mrcfile

    frames = {}
    for row in manifest["chunks"]:
        count = None
        try:
            with mrcfile.open(folder / row["file"], header_only=True, permissive=True) as mrc:
                count = int(mrc.header.nz)
        except (OSError, ValueError):
            pass  # a missing or unreadable stack is already reported by its sha256
        frames[row["file"]] = (count, row["count"])
    return frames


def _star_rows(path: Path, frames: dict) -> tuple[int, list[str]]:
    """(rows, problems): every rlnImageName must name frame 1..N of a stack of the dataset
    (its path relative to the dataset folder)."""
    from engine.formats.image_names import parse_image_names
    from engine.formats.star import read_star_blocks

    block = read_star_blocks(path).get("particles")
    if block is None or not hasattr(block, "columns") or "rlnImageName" not in block.columns:
        return 0, ["no data_particles block with rlnImageName"]
    position, stack, ok = parse_image_names(block["rlnImageName"].to_numpy())
    import pandas as pd

    sizes = {file: count for file, (count, _) in frames.items() if count is not None}
    limit = pd.Series(stack).map(sizes).fillna(0).to_numpy()  # 0 frames: not a stack of this dataset
    bad = np.flatnonzero(~ok | (position < 1) | (position > limit))
    if not bad.size:
        return len(block), []
    i = int(bad[0])
    return len(block), [f"{bad.size:,} rows name no existing stack frame (first: row {i + 1}, "
                        f"{block['rlnImageName'].iloc[i]!r})"]


def _ground_truth_rows(path: Path) -> tuple[int, list[str]]:
    from engine.formats.ground_truth import load_ground_truth

    return len(load_ground_truth(path)), []


def _pickle_rows(path: Path, item: int | None) -> int:
    """Rows of a cryoDRGN pickle: the array itself (ctf.pkl) or item ``item`` of its tuple."""
    from engine.formats.safe_pickle import load_pickle

    data = load_pickle(path)
    return len(data if item is None else data[item])

"""Check a dataset against its manifest: every stack and metadata file re-hashed.

Example::

    problems = verify_dataset("runs/ds1")     # [] when intact, else one line per problem
"""
from __future__ import annotations

from pathlib import Path

from engine.atomic_files import sha256_file
from engine.simulation import manifest as mf


def verify_dataset(folder) -> list[str]:
    """Re-hash every stack and metadata file against the manifest; returns the problems
    (empty when the dataset is intact)."""
    folder = Path(folder)
    manifest = mf.read_manifest(folder)
    problems = []
    for row in manifest["chunks"]:
        if row["status"] != "done":
            problems.append(f"chunk {row['index']}: not done")
        elif not (folder / row["file"]).is_file():
            problems.append(f"{row['file']}: missing")
        elif sha256_file(folder / row["file"]) != row["sha256"]:
            problems.append(f"{row['file']}: sha256 differs from the manifest")
    for name, sha in manifest.get("files", {}).items():
        if not (folder / name).is_file() or sha256_file(folder / name) != sha:
            problems.append(f"{name}: missing or sha256 differs from the manifest")
    return problems

"""Atomic file writing: nothing a reader sees is ever half written.

Every file of a landscape, plan, dataset or report is written to a temporary name in the same
folder, flushed to disk, then renamed over its final name (``os.replace`` is atomic on POSIX).
A crash, a full disk or a SIGKILL leaves the old file (or no file), never a truncated one.
Temporary files are created with ``open()``, so new files get the user's normal permissions.

Example::

    with atomic_path("maps/lsu.mrc") as tmp:
        write_something(tmp)          # renamed to maps/lsu.mrc on success, deleted on error
    write_text_atomic("plan.json", text)
"""
from __future__ import annotations

import hashlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def temporary_path(path) -> Path:
    """A unique hidden temporary name beside ``path`` (same folder, so the rename is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")


def fsync_replace(tmp, path) -> None:
    """Flush ``tmp`` to disk, then rename it over ``path`` (keeping the mode of an existing
    ``path``, so a file a user made group-readable stays so)."""
    if os.path.exists(path):
        shutil.copymode(path, tmp)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        yield tmp
        fsync_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def sha256_file(path, block: int = 1 << 22) -> str:
    """Hex SHA-256 of a file, read in blocks (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()

"""Atomic file writing: nothing a reader sees is ever half written.

Every file of a landscape, plan, dataset or report is written to a temporary name in the same
folder, flushed to disk, then renamed over its final name (``os.replace`` is atomic on POSIX).
A crash, a full disk or a SIGKILL leaves the old file (or no file), never a truncated one.
Temporary files are created with ``open()``, so new files get the user's normal permissions.

Example::

    with atomic_path("maps/lsu.mrc") as tmp:
        write_something(tmp)          # renamed to maps/lsu.mrc on success, deleted on error
    write_text_atomic("plan.json", text)
    raise named_os_error(exc, path)   # '[Errno 28] No space left on device: path'
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


def named_os_error(exc: OSError, path) -> OSError:
    """``exc`` naming ``path`` when it names no file, or only a temporary file of ``path``
    (:func:`temporary_path`): a full disk raises ``[Errno 28] No space left on device`` from a
    write call, which names no file, and the temporary name means nothing to a user."""
    path = Path(path)
    name = Path(str(exc.filename)).name if exc.filename is not None else None
    if name is not None and not (name.startswith(f".{path.name}.") and name.endswith(".tmp")):
        return exc
    return OSError(exc.errno, exc.strerror or str(exc), str(path))  # OSError(errno, ...) picks the subclass


@contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed.
    An OSError that names no file (a full disk) is raised naming ``path``."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        yield tmp
        fsync_replace(tmp, path)
    except OSError as exc:
        raise named_os_error(exc, path) from None
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

"""Refuse input that is not an ordinary file of a sane size before reading a byte of it.

``--landscape /dev/zero`` would be read until memory runs out and a FIFO would block forever;
a 40 GB file given where a landscape JSON belongs is a mistake, not a landscape. Every reader
of user files asks first, with a size limit for its kind of file, and raises its own error
(naming the file) with the problem this returns.

Example::

    problem = input_file_problem(path, max_bytes=LANDSCAPE_MAX_BYTES, what="a landscape file")
    if problem:
        raise LandscapeFileError(f"{path}: {problem}")
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def format_bytes(n: float) -> str:
    """1500 -> '1.5 KB' (decimal units, as disks are sold and df -H prints)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"


def input_file_problem(path, max_bytes: int | None = None, what: str = "this kind of file") -> str | None:
    """None when ``path`` is a regular file (symlinks followed) of at most ``max_bytes``; else
    what is wrong, in words, without the path: 'no such file', 'is a named pipe (FIFO), not a
    regular file', 'is 2.0 GB, more than the 64.0 MB that a landscape file may be'."""
    try:
        info = os.stat(Path(path))
    except FileNotFoundError:
        return "no such file"
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    for is_kind, name in _KINDS:
        if is_kind(info.st_mode):
            return f"is {name}, not a regular file"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if max_bytes is not None and info.st_size > max_bytes:
        return f"is {format_bytes(info.st_size)}, more than the {format_bytes(max_bytes)} that {what} may be"
    return None

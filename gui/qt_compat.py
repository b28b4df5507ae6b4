"""Work-arounds for bugs of the Qt binding that would crash the application.

PySide6 6.12.0 on CPython < 3.12 drops one reference to ``None`` in every call of a ``void``
QPainter method (``setPen``, ``setBrush``, ``drawRect``, ``save``...), and to ``True`` /
``False`` on some virtual-method returns. After a few thousand paints a reference count
reaches zero and the interpreter aborts ("Fatal Python error: none_dealloc" / "bool_dealloc").
``guard_none_refcount()`` gives these singletons (and the cached small ints) a reference
count no program can exhaust, which is what CPython 3.12+ does for them anyway (immortal
objects). It does nothing on other versions. The real fix is a PySide6 without the bug
(6.11.x is fine).

Example::

    from gui.qt_compat import guard_none_refcount
    guard_none_refcount()       # once, before the first window paints
"""
from __future__ import annotations

import ctypes
import sys

import PySide6

AFFECTED_VERSIONS = ("6.12.0",)
_EXTRA_REFERENCES = 1 << 40


def guard_none_refcount() -> bool:
    """Make None, True, False and the small ints effectively immortal if the installed
    PySide6 leaks references to them; True if it did so (idempotent)."""
    if sys.version_info >= (3, 12) or PySide6.__version__ not in AFFECTED_VERSIONS:
        return False
    for singleton in (None, True, False, *range(-5, 257)):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt: first field
        if refcount.value < _EXTRA_REFERENCES:
            refcount.value += _EXTRA_REFERENCES
    return True

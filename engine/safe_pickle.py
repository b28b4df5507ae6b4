"""Read pickles that may only hold numpy arrays and plain containers.

A pickle is a program: unpickling can call any importable function (``os.system`` included).
cryoDRGN (``z.N.pkl``, ``ind.pkl``, ``umap.pkl``) and RECOVAR (``embeddings.pkl``) store their
results as pickles, so every pickle elbench reads goes through :class:`RestrictedUnpickler`,
which resolves only the globals needed to rebuild numpy arrays, numpy scalars and dtypes, and
builtin containers (dict, list, tuple, set, frozenset, bytearray, complex, OrderedDict).
Anything else (a function, a class, a module) is refused *before* it is called, with
:class:`UnsafePickleError` naming the file and the global it asked for.

Example::

    z_mu, z_logvar = load_pickles("train/z.25.pkl", expected=2)
    ind = load_pickle("ind.pkl")
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

# (module, name) pairs a pickle of numpy arrays and plain containers needs. numpy 2 pickles
# name ``numpy._core``; numpy 1 pickles name ``numpy.core``. Protocol 0-2 pickles name
# Python 2 modules (``__builtin__``) and encode bytes with ``_codecs.encode``.
_ALLOWED_GLOBALS = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
    *((module, name) for module in ("builtins", "__builtin__")
      for name in ("set", "frozenset", "bytearray", "complex")),
})


class PickleLoadError(ValueError):
    """A pickle that cannot be read; the message names the file and the problem."""

    def __init__(self, source, problem: str):
        self.source, self.problem = str(source), problem
        super().__init__(f"{self.source}: {problem}")


class UnsafePickleError(PickleLoadError):
    """A pickle that asks for a global outside the numpy/containers allow-list."""


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose ``find_class`` resolves only :data:`_ALLOWED_GLOBALS`."""

    def __init__(self, file, source="<pickle>"):
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise UnsafePickleError(
            self._source,
            f"refused to load: the pickle asks for {module}.{name}, which could run code "
            "(elbench reads only pickles of numpy arrays and plain containers)")

    def persistent_load(self, pid):
        raise UnsafePickleError(self._source, "refused to load: the pickle uses persistent ids")


def load_pickles(path, expected: int | None = None, max_objects: int = 64) -> list:
    """All consecutive pickles in ``path`` (cryoDRGN writes z_mu then z_logvar into one file).

    ``expected``: if given, the number of pickles the file must hold. Raises PickleLoadError
    (or UnsafePickleError) naming the file for an unreadable, truncated or unsafe pickle.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        fh = open(path, "rb")
    except OSError as exc:
        raise PickleLoadError(path, f"cannot read the file ({exc.strerror or exc})") from None
    objects = []
    with fh:
        if size == 0:
            raise PickleLoadError(path, "the file is empty")
        while fh.tell() < size and len(objects) < max_objects:
            objects.append(_load_one(fh, path, len(objects)))
        if fh.tell() < size:
            raise PickleLoadError(path, f"holds more than {max_objects} pickles; not a result file")
    if expected is not None and len(objects) != expected:
        raise PickleLoadError(path, f"holds {len(objects)} pickle(s), expected {expected}")
    return objects


def load_pickle(path):
    """The first pickled object of ``path`` (see :func:`load_pickles` for errors)."""
    return load_pickles(path)[0]


def loads(data: bytes, source="<bytes>"):
    """Unpickle one object from ``data`` with the restricted unpickler."""
    return _load_one(io.BytesIO(data), source, 0)


def _load_one(fh, source, number: int):
    start = fh.tell()
    try:
        return RestrictedUnpickler(fh, source).load()
    except UnsafePickleError:
        raise
    except EOFError:
        raise PickleLoadError(source, f"pickle {number + 1} (at byte {start}) is truncated") from None
    except MemoryError:
        raise PickleLoadError(source, f"pickle {number + 1} asks for more memory than is available") from None
    except Exception as exc:  # a corrupt pickle can fail in many ways (KeyError, ValueError, ...)
        reason = str(exc) or type(exc).__name__
        raise PickleLoadError(source, f"pickle {number + 1} (at byte {start}) is corrupt or "
                                      f"truncated ({reason})") from None


def describe(obj) -> str:
    """A short description of an unpickled object for error messages."""
    shape = getattr(obj, "shape", None)
    if shape is not None:
        return f"array of shape {tuple(shape)} and dtype {getattr(obj, 'dtype', '?')}"
    return type(obj).__name__


__all__ = ["PickleLoadError", "UnsafePickleError", "RestrictedUnpickler", "load_pickles",
           "load_pickle", "loads", "describe"]

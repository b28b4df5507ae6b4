"""Read pickles that may only hold numpy arrays of plain numbers/strings and plain containers.

A pickle is a program: unpickling can call any importable function (``os.system`` included).
cryoDRGN (``z.N.pkl``, ``ind.pkl``, ``umap.pkl``) and RECOVAR (``embeddings.pkl``) store their
results as pickles, so every pickle elbench reads goes through :class:`RestrictedUnpickler`.

Its ``find_class`` resolves only a short allow-list, and every numpy entry point it hands out is a
checking wrapper, never the numpy callable itself:

* ``numpy.dtype`` builds only builtin bool/integer/float/complex/bytes/str dtypes (kinds
  ``b i u f c S U``): no object ``O``, void/structured ``V``, sub-array, datetime or metadata.
  It always returns a fresh copy (so a pickle can never alter numpy's shared descriptors), and
  the pickle's BUILD state for a dtype must equal the state numpy itself writes for that dtype
  in the stated byte order. (A forged state -- fields, "has objects" flag 0 on an object
  dtype -- is how a crafted pickle made numpy read file bytes as object pointers.)
* ``_reconstruct`` accepts only ``ndarray``; an array's BUILD state must name a checked dtype
  and raw bytes (an object array's state is a list: refused). ``numpy.ndarray`` itself cannot be
  called. ``scalar`` and ``_frombuffer`` accept only checked dtypes and bytes of the right size.
* BUILD on anything but a dtype or an array is refused; ``_codecs.encode`` accepts only latin-1.

After loading, the whole object is walked again and any array or numpy scalar whose dtype has
fields, a sub-array or kind ``O``/``V`` is refused (defence in depth). Everything refused raises
:class:`UnsafePickleError` naming the file, before the offending call is made.

Example::

    z_mu, z_logvar = load_pickles("train/z.25.pkl", expected=2)
    ind = load_pickle("ind.pkl")
"""
from __future__ import annotations

import _codecs
import io
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np

from engine.formats.input_checks import ARRAY_MAX_BYTES
from engine.input_files import input_file_problem

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct as _np_reconstruct, scalar as _np_scalar
    from numpy._core.numeric import _frombuffer as _np_frombuffer
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct, scalar as _np_scalar
    from numpy.core.numeric import _frombuffer as _np_frombuffer

#: dtype kinds a pickle may hold: bool, signed/unsigned integer, float, complex, bytes, str.
SAFE_DTYPE_KINDS = frozenset("biufcSU")
_BYTE_ORDERS = frozenset("<>|=")
_LATIN1 = frozenset({"latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1", "l1"})


class PickleLoadError(ValueError):
    """A pickle that cannot be read; the message names the file and the problem."""

    def __init__(self, source, problem: str):
        self.source, self.problem = str(source), problem
        super().__init__(f"{self.source}: {problem}")


class UnsafePickleError(PickleLoadError):
    """A pickle that asks for something outside the numpy/containers allow-list."""


class _Refused(Exception):
    """Raised by the checking wrappers; turned into UnsafePickleError naming the file."""


def unsafe_dtype_reason(dtype) -> str | None:
    """Why ``dtype`` may not come out of a pickle, or None when it is a plain builtin dtype."""
    if not isinstance(dtype, np.dtype):
        return f"a dtype argument of type {type(dtype).__name__}"
    if dtype.kind not in SAFE_DTYPE_KINDS:
        return f"a dtype of kind {dtype.kind!r} ({dtype.str})"
    if dtype.fields is not None or dtype.names is not None:
        return "a structured dtype (with fields)"
    if dtype.subdtype is not None or dtype.shape != ():
        return "a sub-array dtype"
    if dtype.metadata is not None:
        return "a dtype with metadata"
    reference = np.dtype(dtype.str)
    if dtype.hasobject or dtype.flags != reference.flags:
        return f"a dtype with forged flags ({dtype.flags}, numpy gives {dtype.str} {reference.flags})"
    if dtype.itemsize != reference.itemsize or dtype.alignment != reference.alignment \
            or type(dtype) is not type(reference):
        return f"a forged {dtype.str} dtype (item size {dtype.itemsize}, alignment {dtype.alignment})"
    return None


def _check_dtype(dtype) -> np.dtype:
    reason = unsafe_dtype_reason(dtype)
    if reason is not None:
        raise _Refused(f"{reason}; only bool, integer, float, complex, bytes and str dtypes are allowed")
    return dtype


class _NdarrayToken:
    """What ``numpy.ndarray`` resolves to: usable only as ``_reconstruct``'s first argument."""

    def __new__(cls, *args, **kwargs):
        raise _Refused("the pickle calls numpy.ndarray directly")


def _safe_dtype(spec, align=False, copy=True, *rest):
    """``numpy.dtype(spec)`` for a builtin dtype string only; always a fresh copy."""
    if rest or not isinstance(spec, str) or not isinstance(align, bool) or not isinstance(copy, bool):
        raise _Refused(f"numpy.dtype called with {(spec, align, copy, *rest)!r}")
    try:
        dtype = np.dtype(spec)
    except (TypeError, ValueError) as exc:
        raise _Refused(f"numpy.dtype({spec!r}) is not a dtype ({exc})") from None
    _check_dtype(dtype)
    # copy=True always: the BUILD state that follows must never touch numpy's shared descriptors
    return np.dtype(spec, False, True)


def _safe_reconstruct(cls, shape, typecode):
    if cls is not _NdarrayToken:
        raise _Refused(f"_reconstruct of {getattr(cls, '__name__', type(cls).__name__)}, not numpy.ndarray")
    if shape != (0,) or typecode not in (b"b", "b"):
        raise _Refused(f"_reconstruct with shape {shape!r} and type code {typecode!r}")
    return _np_reconstruct(np.ndarray, shape, typecode)


def _safe_scalar(dtype, data=None):
    _check_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise _Refused(f"numpy scalar of {dtype.str} from {type(data).__name__} data "
                       f"(expected {dtype.itemsize} bytes)")
    return _np_scalar(dtype, data)


def _safe_frombuffer(buf, dtype, shape, order):
    _check_dtype(dtype)
    if not isinstance(buf, (bytes, bytearray, pickle.PickleBuffer)):
        raise _Refused(f"_frombuffer from a {type(buf).__name__}")
    if order not in ("C", "F") or not isinstance(shape, tuple) or not all(type(n) is int for n in shape):
        raise _Refused(f"_frombuffer with shape {shape!r} and order {order!r}")
    return _np_frombuffer(buf, dtype, shape, order)


def _safe_encode(text, encoding="utf-8", errors="strict"):
    if not isinstance(text, str) or not isinstance(encoding, str) or encoding.lower() not in _LATIN1:
        raise _Refused(f"_codecs.encode with encoding {encoding!r}")
    return _codecs.encode(text, "latin-1", "strict")


def _safe_bytearray(*args):
    if len(args) > 2 or (args and not isinstance(args[0], (bytes, bytearray, str))):
        raise _Refused("bytearray from something other than bytes or text")
    if len(args) == 2:
        args = (args[0], _check_encoding(args[1]))
    return bytearray(*args)


def _check_encoding(encoding):
    if not isinstance(encoding, str) or encoding.lower() not in _LATIN1:
        raise _Refused(f"bytearray with encoding {encoding!r}")
    return "latin-1"


def _safe_complex(*args):
    if len(args) > 2 or not all(isinstance(a, (int, float, str)) for a in args):
        raise _Refused("complex from something other than numbers or text")
    return complex(*args)


def _safe_set(items=()):
    return set(_plain_iterable(items))


def _safe_frozenset(items=()):
    return frozenset(_plain_iterable(items))


def _safe_ordered_dict(*args):
    if args:
        raise _Refused("OrderedDict called with arguments")
    return OrderedDict()


def _plain_iterable(items):
    if type(items) not in (list, tuple, set, frozenset):
        raise _Refused(f"a set built from a {type(items).__name__}")
    return items


# (module, name) -> the checking wrapper a pickle gets instead. numpy 2 pickles name
# ``numpy._core``; numpy 1 pickles name ``numpy.core``. Protocol 0-2 pickles name Python 2
# modules (``__builtin__``) and encode bytes with ``_codecs.encode``.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): _NdarrayToken,
    ("numpy", "dtype"): _safe_dtype,
    ("_codecs", "encode"): _safe_encode,
    ("collections", "OrderedDict"): _safe_ordered_dict,
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _safe_reconstruct for core in ("_core", "core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _safe_scalar for core in ("_core", "core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _safe_frombuffer for core in ("_core", "core")},
    **{(module, name): wrapper for module in ("builtins", "__builtin__")
       for name, wrapper in (("set", _safe_set), ("frozenset", _safe_frozenset),
                             ("bytearray", _safe_bytearray), ("complex", _safe_complex))},
}


def _build_dtype(inst: np.dtype, state) -> None:
    """Apply a dtype's BUILD state only if it is exactly what numpy writes for that dtype."""
    if type(state) is not tuple or len(state) < 2 or state[1] not in _BYTE_ORDERS:
        raise _Refused(f"a dtype state {state!r:.120}")
    expected = inst.newbyteorder(state[1]).__reduce__()[2]
    if state != expected:
        raise _Refused(f"a forged dtype state {state!r:.120} for {inst.str} "
                       f"(numpy writes {expected!r})")
    inst.__setstate__(state)
    _check_dtype(inst)


def _build_array(inst: np.ndarray, state) -> None:
    """Apply an array's BUILD state: (version, shape, dtype, is_fortran, raw bytes)."""
    if type(state) is not tuple or len(state) not in (4, 5) or (len(state) == 5 and state[0] != 1):
        raise _Refused(f"an array state of type {type(state).__name__}")
    shape, dtype, fortran, data = state[-4:]
    _check_dtype(dtype)
    if not isinstance(data, (bytes, bytearray, pickle.PickleBuffer)):
        raise _Refused(f"array data as a {type(data).__name__} (object arrays are not read)")
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape) \
            or type(fortran) is not bool:
        raise _Refused(f"an array state with shape {shape!r}")
    inst.__setstate__(state)


class RestrictedUnpickler(pickle._Unpickler):
    """An Unpickler that resolves only :data:`_ALLOWED_GLOBALS` and checks every BUILD.

    Pure-Python (``pickle._Unpickler``) so that the BUILD opcode can be intercepted; array data
    arrive as one bytes object, so large arrays still load at disk speed.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, source="<pickle>"):
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str):
        wrapper = _ALLOWED_GLOBALS.get((module, name))
        if wrapper is not None:
            return wrapper
        raise UnsafePickleError(
            self._source,
            f"refused to load: the pickle asks for {module}.{name}, which could run code "
            "(elbench reads only pickles of numpy arrays and plain containers)")

    def persistent_load(self, pid):
        raise UnsafePickleError(self._source, "refused to load: the pickle uses persistent ids")

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is np.ndarray:
            _build_array(inst, state)
        elif isinstance(inst, np.dtype):
            _build_dtype(inst, state)
        else:
            raise _Refused(f"the pickle sets the state of a {type(inst).__name__}")

    dispatch[pickle.BUILD[0]] = load_build

    def load(self):
        try:
            obj = super().load()
        except _Refused as exc:
            raise UnsafePickleError(self._source, f"refused to load ({exc}); elbench reads only pickles "
                                                  "of plain numpy arrays and containers") from None
        reason = _unsafe_content(obj)
        if reason is not None:
            raise UnsafePickleError(self._source, f"refused to load: the pickle holds {reason}")
        return obj


def _unsafe_content(obj) -> str | None:
    """Walk containers; the reason the first array/numpy scalar with an unsafe dtype is refused."""
    seen, todo = set(), [obj]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (np.ndarray, np.generic)):
            if type(item) is not np.ndarray and not isinstance(item, np.generic):
                return f"an array of class {type(item).__name__}"
            reason = unsafe_dtype_reason(item.dtype)
            if reason is not None:
                return f"an array with {reason}"
        elif isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            todo.extend(item)
    return None


def load_pickles(path, expected: int | None = None, max_objects: int = 64) -> list:
    """All consecutive pickles in ``path`` (cryoDRGN writes z_mu then z_logvar into one file).

    ``expected``: if given, the number of pickles the file must hold. Raises PickleLoadError
    (or UnsafePickleError) naming the file for an unreadable, truncated or unsafe pickle, and
    for what is not a regular file of at most ARRAY_MAX_BYTES (engine.formats.input_checks).
    """
    path = Path(path)
    problem = input_file_problem(path, ARRAY_MAX_BYTES, "a pickle")
    if problem:
        raise PickleLoadError(path, problem)
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

"""The restricted unpickler: numpy arrays and containers load, anything that could run code does not."""
import os
import pickle
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from engine.formats.safe_pickle import PickleLoadError, UnsafePickleError, load_pickle, load_pickles, loads

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures"


class _CreatesFile:
    """Unpickling this with the standard pickle module would create ``target``."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


class _CallsEval:
    def __reduce__(self):
        return eval, ("__import__('pathlib').Path('/tmp/elbench_never_written').touch()",)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_arrays_scalars_dtypes_and_containers_round_trip(protocol):
    value = {"z": np.arange(12, dtype=np.float32).reshape(3, 4), "ind": np.array([4, 0, 2]),
             "scalar": np.float64(2.5), "big_endian": np.arange(4, dtype=">f8"),
             "text": np.array(["ab", "cde"]), "raw": np.array([b"x", b"yz"]), "flags": np.array([True, False]),
             "c64": np.array([1 + 2j], np.complex64), "u8": np.uint8(7), "str_scalar": np.str_("hi"),
             "nested": [1, (2.0, "three"), {4, 5}, frozenset({6})], "ordered": OrderedDict(a=1),
             "bytes": b"\x00\x01", "complex": 1 + 2j, "none": None}
    back = loads(pickle.dumps(value, protocol=protocol))
    assert back.keys() == value.keys()
    np.testing.assert_array_equal(back["z"], value["z"])
    assert back["z"].dtype == np.float32 and back["ind"].dtype == value["ind"].dtype
    for key in ("big_endian", "text", "raw", "flags", "c64"):
        np.testing.assert_array_equal(back[key], value[key])
        assert back[key].dtype.newbyteorder("=") == value[key].dtype.newbyteorder("=")
    assert back["big_endian"][3] == 3.0  # numpy, like the standard unpickler, may swap to native
    assert back["u8"] == 7 and back["u8"].dtype == np.uint8 and back["str_scalar"] == "hi"
    # the dtype a pickle rebuilds is a copy: numpy's shared float64 descriptor is untouched
    assert np.dtype("f8").byteorder == "=" and np.dtype("f8").isnative
    assert back["scalar"] == 2.5 and back["nested"] == value["nested"] and back["complex"] == 1 + 2j
    assert back["bytes"] == b"\x00\x01" and back["ordered"] == OrderedDict(a=1)


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    target = tmp_path / "pwned"
    evil = tmp_path / "z.1.pkl"
    evil.write_bytes(pickle.dumps(_CreatesFile(target)))
    with pytest.raises(UnsafePickleError) as err:
        load_pickle(evil)
    assert not target.exists()
    message = str(err.value)
    assert str(evil) in message and "system" in message and "could run code" in message


def test_malicious_second_pickle_after_a_valid_array_is_refused(tmp_path):
    target = tmp_path / "pwned2"
    path = tmp_path / "z.pkl"
    with open(path, "wb") as fh:
        pickle.dump(np.zeros((3, 2), np.float32), fh)
        pickle.dump(_CreatesFile(target), fh)
    with pytest.raises(UnsafePickleError, match="z.pkl"):
        load_pickles(path)
    assert not target.exists()


@pytest.mark.parametrize("payload", [_CallsEval(), np.ma.masked_array([1, 2], mask=[0, 1]),
                                     np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
                                     np.zeros(2, dtype=[("x", "f4"), ("y", "i8")]),
                                     np.zeros(2, dtype="V8"),
                                     np.zeros(2, dtype="M8[s]"), np.array([None, 1], dtype=object),
                                     Path("/etc/passwd")])
def test_other_globals_are_refused(payload):
    with pytest.raises(UnsafePickleError, match="refused"):
        loads(pickle.dumps(payload), source="x.pkl")
    assert not Path("/tmp/elbench_never_written").exists()


def test_object_array_holding_a_malicious_object_is_refused(tmp_path):
    target = tmp_path / "pwned3"
    arr = np.empty(1, dtype=object)
    arr[0] = _CreatesFile(target)
    with pytest.raises(UnsafePickleError):
        loads(pickle.dumps(arr))
    assert not target.exists()


def test_consecutive_pickles_of_the_real_cryodrgn_file():
    z_mu, z_logvar = load_pickles(FIXTURES / "cryodrgn" / "z.1.pkl", expected=2)
    assert z_mu.shape == z_logvar.shape == (200, 4) and z_mu.dtype == np.float32
    assert np.isfinite(z_mu).all()
    for name, shape, dtype in (("ind.pkl", (200,), np.int64), ("umap.pkl", (200, 2), np.float32),
                               ("kmeans20_labels.pkl", (200,), np.int64)):
        value = load_pickle(FIXTURES / "cryodrgn" / name)
        assert value.shape == shape and value.dtype == dtype
    np.testing.assert_array_equal(load_pickle(FIXTURES / "cryodrgn" / "ind.pkl"), np.arange(200))


def test_expected_count_is_enforced(tmp_path):
    path = tmp_path / "one.pkl"
    path.write_bytes(pickle.dumps(np.zeros(3)))
    with pytest.raises(PickleLoadError, match=r"one.pkl: holds 1 pickle\(s\), expected 2"):
        load_pickles(path, expected=2)


def test_truncated_corrupt_empty_and_missing_files_name_the_file(tmp_path):
    data = pickle.dumps(np.arange(1000, dtype=np.float64))
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(PickleLoadError, match="truncated.pkl: pickle 1 .*truncated"):
        load_pickle(truncated)
    corrupt = tmp_path / "corrupt.pkl"
    corrupt.write_bytes(np.random.default_rng(0).bytes(400))
    with pytest.raises(PickleLoadError, match="corrupt.pkl"):
        load_pickle(corrupt)
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    with pytest.raises(PickleLoadError, match="empty.pkl: the file is empty"):
        load_pickle(empty)
    with pytest.raises(PickleLoadError, match="missing.pkl: no such file"):
        load_pickle(tmp_path / "missing.pkl")


def test_second_pickle_truncated_after_a_complete_first(tmp_path):
    path = tmp_path / "z.3.pkl"
    second = pickle.dumps(np.ones((5, 2), np.float32))
    path.write_bytes(pickle.dumps(np.zeros((5, 2), np.float32)) + second[:-10])
    with pytest.raises(PickleLoadError, match="z.3.pkl: pickle 2"):
        load_pickles(path)


# --- crafted pickles: a dtype rebuilt with a forged BUILD state -------------------------------
# np.dtype's __setstate__ trusts its state tuple (version, byte order, subarray, names, fields,
# elsize, alignment, flags). A pickle that rebuilds an object dtype with flags 0 ("holds no
# objects"), or a numeric dtype with object fields, makes numpy copy raw file bytes into an
# array it later reads as PyObject pointers: a segfault, or with a known address a call to any
# function. These classes emit exactly the opcodes such a pickle holds (GLOBAL numpy dtype,
# REDUCE, BUILD <state>); each payload is loaded in a subprocess so a crash fails the test
# instead of killing pytest.
_POINTER_BYTES = (0x4141414141414141).to_bytes(8, "little")


class _Forged:
    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


def _dtype(spec, state):
    return _Forged(np.dtype, (spec, False, True), state)


def _array(dtype, shape, data):
    from numpy._core.multiarray import _reconstruct
    return _Forged(_reconstruct, (np.ndarray, (0,), b"b"), (1, shape, dtype, False, data))


def _crafted_payloads() -> dict[str, bytes]:
    from numpy._core.multiarray import _reconstruct, scalar
    object_no_flags = (3, "|", None, None, None, -1, -1, 0)          # 'O8' claiming "no objects"
    o8 = _dtype("O8", object_no_flags)
    object_field = (3, "|", None, ("p",), {"p": (o8, 0)}, 8, 1, 0)   # one object field, flags 0
    forged = {
        "o8_flags0": _array(o8, (1,), _POINTER_BYTES),
        "o8_scalar": _Forged(scalar, (o8, _POINTER_BYTES)),
        "void_object_field": _array(_dtype("V8", object_field), (1,), _POINTER_BYTES),
        "f8_object_field": _array(_dtype("f8", object_field), (1,), _POINTER_BYTES),
        "f8_with_fields": _array(_dtype("f8", (3, "|", None, ("p",), {"p": (np.dtype("i8"), 0)}, 8, 1, 0)),
                                 (1,), _POINTER_BYTES),
        "f8_object_flags": _array(_dtype("f8", (3, "<", None, None, None, -1, -1, 63)), (1,), _POINTER_BYTES),
        "f8_forged_elsize": _array(_dtype("S1", (3, "|", None, None, None, 4096, 1, 0)), (1,), b"x"),
        "dtype_metadata": _array(_dtype("f4", (4, "<", None, None, None, -1, -1, 0, {"m": 1})), (1,), b"\0" * 4),
        "object_list_state": _array(_dtype("f8", (3, "<", None, None, None, -1, -1, 0)), (1,), [1.0]),
        "reconstruct_dtype_class": _Forged(_reconstruct, (np.dtype, (0,), b"b")),
        "reconstruct_huge": _Forged(_reconstruct, (np.ndarray, (1 << 40,), b"b")),
        "ndarray_called": _Forged(np.ndarray, ((2,), "O")),
        "bytearray_bomb": _Forged(bytearray, (1 << 40,)),
        "codecs_other": _Forged(__import__("_codecs").encode, ("x", "rot13")),
    }
    return {name: pickle.dumps(obj, protocol=2) for name, obj in forged.items()}


_LOAD_ALL = """
import sys
from pathlib import Path
from engine.formats.safe_pickle import PickleLoadError, load_pickle
for path in sorted(Path(sys.argv[1]).glob("*.pkl")):
    try:
        load_pickle(path)
    except PickleLoadError as exc:
        print("REFUSED", type(exc).__name__, exc, flush=True)
    else:
        print("LOADED", path, flush=True)
"""


def test_crafted_dtype_pickles_are_refused_in_a_subprocess_without_crashing(tmp_path):
    payloads = _crafted_payloads()
    for name, data in payloads.items():
        (tmp_path / f"{name}.pkl").write_bytes(data)
    done = subprocess.run([sys.executable, "-c", _LOAD_ALL, str(tmp_path)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, f"loader crashed (exit {done.returncode}): {done.stdout}{done.stderr}"
    lines = done.stdout.splitlines()
    assert len(lines) == len(payloads), done.stdout
    for line, name in zip(lines, sorted(payloads)):
        assert line.startswith("REFUSED UnsafePickleError ") and f"{tmp_path / name}.pkl: refused" in line, line


def test_the_forged_object_dtype_really_crashes_an_unrestricted_unpickler(tmp_path):
    """The payload is a real exploit: the standard unpickler builds an 'O8' array with flags 0
    whose only element is the pointer 0x4141414141414141; touching it kills the process."""
    path = tmp_path / "o8.pkl"
    path.write_bytes(_crafted_payloads()["o8_flags0"])
    code = f"import pickle; a = pickle.loads(open({str(path)!r}, 'rb').read()); print(a.dtype.flags); print(a[0])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines()[:1] == ["0"] and done.returncode < 0, (done.returncode, done.stdout)


def test_post_load_walk_refuses_unsafe_arrays_nested_in_containers():
    from engine.formats.safe_pickle import unsafe_dtype_reason
    assert unsafe_dtype_reason(np.dtype("f4")) is None and unsafe_dtype_reason(np.dtype("<U3")) is None
    assert "kind 'O'" in unsafe_dtype_reason(np.dtype(object))
    assert "kind 'V'" in unsafe_dtype_reason(np.dtype([("a", "f4")]))
    assert "kind 'V'" in unsafe_dtype_reason(np.dtype(("f4", (2,))))  # a sub-array is a void dtype
    assert "metadata" in unsafe_dtype_reason(np.dtype("f4", metadata={"a": 1}))


def test_post_load_walk_is_a_second_line_of_defence(monkeypatch, tmp_path):
    """With the per-call checks switched off, the walk over the result still refuses a
    structured array nested in containers, naming the file."""
    import engine.formats.safe_pickle as sp
    monkeypatch.setattr(sp, "_check_dtype", lambda dtype: dtype)
    monkeypatch.setattr(sp, "_build_dtype", lambda inst, state: inst.__setstate__(state))
    path = tmp_path / "nested.pkl"
    path.write_bytes(pickle.dumps({"ok": np.zeros(3), "deep": [(1, np.zeros(2, dtype=[("x", "f4")]))]}))
    with pytest.raises(UnsafePickleError, match=r"nested.pkl: refused to load: the pickle holds an array "
                                                r"with a dtype of kind 'V'"):
        load_pickle(path)
    looped = []
    looped.append(looped)
    assert loads(pickle.dumps(looped)) is not None  # self-referencing containers end the walk

"""The restricted unpickler: numpy arrays and containers load, anything that could run code does not."""
import os
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from engine.safe_pickle import PickleLoadError, UnsafePickleError, load_pickle, load_pickles, loads

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


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
             "scalar": np.float64(2.5), "structured": np.zeros(2, dtype=[("x", "f4"), ("y", "i8")]),
             "nested": [1, (2.0, "three"), {4, 5}, frozenset({6})], "ordered": OrderedDict(a=1),
             "bytes": b"\x00\x01", "complex": 1 + 2j, "none": None}
    back = loads(pickle.dumps(value, protocol=protocol))
    assert back.keys() == value.keys()
    np.testing.assert_array_equal(back["z"], value["z"])
    assert back["z"].dtype == np.float32 and back["ind"].dtype == value["ind"].dtype
    assert back["structured"].dtype == value["structured"].dtype
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
    with pytest.raises(PickleLoadError, match="missing.pkl: cannot read"):
        load_pickle(tmp_path / "missing.pkl")


def test_second_pickle_truncated_after_a_complete_first(tmp_path):
    path = tmp_path / "z.3.pkl"
    second = pickle.dumps(np.ones((5, 2), np.float32))
    path.write_bytes(pickle.dumps(np.zeros((5, 2), np.float32)) + second[:-10])
    with pytest.raises(PickleLoadError, match="z.3.pkl: pickle 2"):
        load_pickles(path)

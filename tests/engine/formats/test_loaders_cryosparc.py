"""cryoSPARC .cs loader: both encodings, matching by blob path + index and by uid."""
from pathlib import Path

import numpy as np
import pytest
from cryosparc.dataset import CSDAT_FORMAT, NUMPY_FORMAT
from cryosparc.dataset import Dataset as CsDataset

from engine.formats.dataset import Dataset, synthetic_ground_truth
from engine.formats.ground_truth import save_ground_truth
from engine.formats.loaders import LoaderError, detect_kind, load_output
from engine.landscape.presets import load_preset

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cryosparc"
N = 2000
CHUNK = 1000


@pytest.fixture(scope="module")
def gt():
    return synthetic_ground_truth(load_preset("paper-3x4"), N, seed=5, chunk_size=CHUNK)


@pytest.fixture(scope="module")
def dataset(gt):
    return Dataset(gt)


def write_cs(path: Path, columns: dict, fmt=NUMPY_FORMAT) -> Path:
    CsDataset([(k, v) for k, v in columns.items()]).save(path, format=fmt)
    return path


def components(rng, m, k=3):
    return {f"components_mode_{i}/value": rng.normal(size=m).astype(np.float32) for i in range(k)}


@pytest.mark.parametrize("name", ["J42_particles_numpy.cs", "J42_particles_csdat.cs"])
def test_real_files_match_by_blob_path_and_0_based_index(name, dataset):
    raw = CsDataset.load(FIXTURES / name)
    out = load_output(FIXTURES / name, dataset)
    assert out.kind == "cryosparc" and out.coords.shape == (200, 3)
    assert out.dim_names == ("component 0", "component 1", "component 2")
    for k in range(3):
        np.testing.assert_array_equal(out.coords[:, k], raw[f"components_mode_{k}/value"])
    # J1/imported/particles_00000.mrcs, blob/idx i -> our "{i+1:06d}@particles/particles_00000.mrcs"
    np.testing.assert_array_equal(out.particle_index, raw["blob/idx"])
    assert out.n_dropped == N - 200 and any("stack file name" in n for n in out.notes)


def test_both_encodings_give_identical_outputs(dataset):
    a = load_output(FIXTURES / "J42_particles_numpy.cs", dataset)
    b = load_output(FIXTURES / "J42_particles_csdat.cs", dataset)
    np.testing.assert_array_equal(a.coords, b.coords)
    np.testing.assert_array_equal(a.particle_index, b.particle_index)
    assert detect_kind(FIXTURES / "J42_particles_csdat.cs") == "cryosparc"


@pytest.mark.parametrize("fmt", [NUMPY_FORMAT, CSDAT_FORMAT])
def test_import_prefix_and_second_stack_are_resolved(tmp_path, dataset, fmt):
    rng = np.random.default_rng(1)
    idx = rng.permutation(CHUNK)[:50].astype(np.uint32)
    cols = {"uid": rng.integers(1, 2**63, 50, dtype=np.uint64),
            "blob/path": np.array(["J7/imported/006241839424467288006_particles_00001.mrcs"] * 50, dtype=object),
            "blob/idx": idx, **components(rng, 50, 2)}
    out = load_output(write_cs(tmp_path / "J9_particles.cs", cols, fmt), dataset)
    np.testing.assert_array_equal(out.particle_index, CHUNK + idx.astype(np.int64))
    assert any("import prefixes" in n for n in out.notes)


def test_uid_matching_when_the_dataset_has_a_cs_file(tmp_path, gt):
    root = tmp_path / "ds"
    (root / "cryosparc").mkdir(parents=True)
    save_ground_truth(gt, root / "ground_truth.npz")
    uids = np.random.default_rng(2).choice(2**62, N, replace=False).astype(np.uint64)
    table = np.zeros(N, dtype=[("uid", "<u8")])
    table["uid"] = uids
    with open(root / "cryosparc" / "particles.cs", "wb") as fh:
        np.save(fh, table)
    ds = Dataset(gt, root=root)
    rng = np.random.default_rng(3)
    order = rng.permutation(N)[:700]
    cols = {"uid": uids[order], **components(rng, 700)}  # no blob fields: only uids can match
    out = load_output(write_cs(tmp_path / "J3_particles.cs", cols), ds)
    np.testing.assert_array_equal(out.particle_index, order)
    assert any("uid" in n for n in out.notes) and out.n_dropped == N - 700


def test_refused_inputs_name_the_file_and_problem(tmp_path, dataset):
    rng = np.random.default_rng(4)
    blob = {"blob/path": np.array(["x/particles_00000.mrcs"] * 10, dtype=object),
            "blob/idx": np.arange(10, dtype=np.uint32)}
    with pytest.raises(LoaderError, match=r"no_modes.cs: missing field components_mode_0/value"):
        load_output(write_cs(tmp_path / "no_modes.cs", {"uid": np.arange(10, dtype=np.uint64), **blob}), dataset)
    gap = {**blob, "components_mode_0/value": np.zeros(10, np.float32), "components_mode_2/value": np.zeros(10, np.float32)}
    with pytest.raises(LoaderError, match=r"gap.cs: missing field components_mode_1/value"):
        load_output(write_cs(tmp_path / "gap.cs", gap), dataset)
    no_idx = {"blob/path": blob["blob/path"], **components(rng, 10)}
    with pytest.raises(LoaderError, match=r"no_idx.cs: missing field blob/idx"):
        load_output(write_cs(tmp_path / "no_idx.cs", no_idx), dataset)
    other = {"blob/path": np.array(["J1/other_stack.mrcs"] * 10, dtype=object), "blob/idx": blob["blob/idx"],
             **components(rng, 10)}
    with pytest.raises(LoaderError, match=r"other.cs: 10 row\(s\) name no particle of the dataset"):
        load_output(write_cs(tmp_path / "other.cs", other), dataset)
    twice = {**blob, "blob/idx": np.zeros(10, np.uint32), **components(rng, 10)}
    with pytest.raises(LoaderError, match=r"twice.cs: particle '000001@particles/particles_00000.mrcs' appears in 10 rows"):
        load_output(write_cs(tmp_path / "twice.cs", twice), dataset)
    nan = {**blob, **components(rng, 10)}
    nan["components_mode_1/value"][4] = np.nan
    with pytest.raises(LoaderError, match=r"nan.cs: row 5 holds NaN"):
        load_output(write_cs(tmp_path / "nan.cs", nan), dataset)


@pytest.mark.parametrize("name", ["J42_particles_numpy.cs", "J42_particles_csdat.cs"])
def test_truncated_and_foreign_files(tmp_path, dataset, name):
    data = (FIXTURES / name).read_bytes()
    (tmp_path / "cut.cs").write_bytes(data[: len(data) // 2])
    with pytest.raises(LoaderError, match=r"cut.cs: corrupt or truncated"):
        load_output(tmp_path / "cut.cs", dataset)
    (tmp_path / "text.cs").write_text("uid,blob/path\n1,a.mrcs\n")
    with pytest.raises(LoaderError, match=r"text.cs: not a cryoSPARC .cs file"):
        load_output(tmp_path / "text.cs", dataset)

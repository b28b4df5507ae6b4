"""cryoDRGN z.N.pkl / umap.pkl loader, on the real fixtures and on files shaped like them."""
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.formats.dataset import Dataset, load_dataset, synthetic_ground_truth
from engine.formats.loaders import LoaderError, detect_kind, load_output
from engine.landscape.presets import load_preset

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CRYODRGN = FIXTURES / "cryodrgn"


@pytest.fixture(scope="module")
def dataset():
    """2000 particles, like the stack the fixture run was trained on (first 200 via --ind)."""
    return Dataset(synthetic_ground_truth(load_preset("paper-3x4"), 2000, seed=1, chunk_size=1000))


def write_z(path: Path, z_mu: np.ndarray, z_logvar: np.ndarray | None = None) -> Path:
    with open(path, "wb") as fh:
        pickle.dump(z_mu, fh)
        pickle.dump(np.zeros_like(z_mu) if z_logvar is None else z_logvar, fh)
    return path


def test_real_filtered_run_with_its_index_file(dataset):
    with open(CRYODRGN / "z.1.pkl", "rb") as fh:
        z_mu = pickle.load(fh)
    out = load_output(CRYODRGN / "z.1.pkl", dataset, ind=CRYODRGN / "ind.pkl")
    assert out.kind == "cryodrgn" and out.dim_names == ("z0", "z1", "z2", "z3")
    np.testing.assert_array_equal(out.coords, z_mu)
    np.testing.assert_array_equal(out.particle_index, np.arange(200))
    assert out.n_dropped == 1800 and any("200 particles the output kept" in n for n in out.notes)
    assert str(CRYODRGN / "ind.pkl") in out.sources


def test_real_run_without_its_index_file_explains_what_to_give(dataset):
    with pytest.raises(LoaderError) as err:
        load_output(CRYODRGN / "z.1.pkl", dataset)
    message = str(err.value)
    assert str(CRYODRGN / "z.1.pkl") in message and "200 rows" in message and "2000 particles" in message
    assert "ind200.pkl" in message  # the run's config.yaml names it, but it is not there


def test_real_umap(dataset):
    out = load_output(CRYODRGN / "umap.pkl", dataset, ind=CRYODRGN / "ind.pkl")
    assert out.coords.shape == (200, 2) and out.dim_names == ("umap1", "umap2")


def test_real_full_twobody_run_matches_positionally():
    ds = load_dataset(FIXTURES / "cryodrgn" / "twobody" / "ground_truth.npz")
    out = load_output(FIXTURES / "cryodrgn" / "twobody" / "z.25.pkl", ds)
    assert out.coords.shape == (3000, 8) and out.n_dropped == 0
    np.testing.assert_array_equal(out.particle_index, np.arange(3000))
    assert not any("--ind" in n for n in out.notes)  # the parent folder's config is another run's


def test_index_file_found_through_config_yaml(tmp_path, dataset):
    run = tmp_path / "train"
    (run / "analyze.1").mkdir(parents=True)
    rng = np.random.default_rng(0)
    ind = rng.permutation(2000)[:300]
    with open(tmp_path / "keep300.pkl", "wb") as fh:
        pickle.dump(ind, fh)
    (run / "config.yaml").write_text("dataset_args:\n  ind: ../keep300.pkl\n  particles: p.star\n")
    z = rng.normal(size=(300, 8)).astype(np.float32)
    out = load_output(write_z(run / "z.7.pkl", z), dataset)
    np.testing.assert_array_equal(out.particle_index, ind)
    np.testing.assert_array_equal(out.coords, z)
    assert any("config" in n for n in out.notes) and out.n_dropped == 1700
    with open(run / "analyze.1" / "umap.pkl", "wb") as fh:
        pickle.dump(z[:, :2], fh)
    umap = load_output(run / "analyze.1" / "umap.pkl", dataset)
    np.testing.assert_array_equal(umap.particle_index, ind)
    assert umap.label == "cryoDRGN UMAP (analyze.1)"


def test_permuted_index_puts_each_row_on_its_particle(tmp_path, dataset):
    ind = np.random.default_rng(2).permutation(2000)
    z = np.stack([ind * 1.0, -ind * 1.0], axis=1)  # row i encodes the particle it belongs to
    out = load_output(write_z(tmp_path / "z.pkl", z), dataset, ind=ind)
    np.testing.assert_array_equal(out.coords[:, 0], out.particle_index)
    assert out.n_dropped == 0


def test_detected_names(tmp_path):
    for name in ("z.pkl", "z.25.pkl", "umap.pkl"):
        assert detect_kind(tmp_path / name) == "cryodrgn"


def test_refused_inputs_name_the_file_and_problem(tmp_path, dataset):
    z = np.random.default_rng(3).normal(size=(2000, 4)).astype(np.float32)
    short = write_z(tmp_path / "z.short.pkl", z[:1999])
    with pytest.raises(LoaderError, match=r"z.short.pkl: has 1999 rows, but the dataset has 2000"):
        load_output(short, dataset, kind="cryodrgn")
    nan = z.copy()
    nan[17, 2] = np.nan
    with pytest.raises(LoaderError, match=r"z.nan.pkl: row 18 holds NaN"):
        load_output(write_z(tmp_path / "z.nan.pkl", nan), dataset, kind="cryodrgn")
    with pytest.raises(LoaderError, match="z_logvar"):
        load_output(write_z(tmp_path / "z.2.pkl", z, z[:, :2]), dataset)
    with open(tmp_path / "z.3.pkl", "wb") as fh:
        pickle.dump({"z": z}, fh)
    with pytest.raises(LoaderError, match="z.3.pkl: the first pickle is a dict"):
        load_output(tmp_path / "z.3.pkl", dataset)
    data = (tmp_path / "z.short.pkl").read_bytes()
    (tmp_path / "z.4.pkl").write_bytes(data[: len(data) // 3])
    with pytest.raises(LoaderError, match=r"z.4.pkl: pickle 1 .*truncated"):
        load_output(tmp_path / "z.4.pkl", dataset)


def test_refused_index_files(tmp_path, dataset):
    z = np.zeros((3, 2), np.float32)
    path = write_z(tmp_path / "z.pkl", z)
    with pytest.raises(LoaderError, match="particle index 2000 is outside the dataset"):
        load_output(path, dataset, ind=np.array([0, 1, 2000]))
    with pytest.raises(LoaderError, match="particle index 5 appears in 2 rows"):
        load_output(path, dataset, ind=np.array([5, 5, 1]))
    with pytest.raises(LoaderError, match="3 rows of coordinates but 2 particle indices"):
        load_output(path, dataset, ind=np.array([0, 1]))
    with open(tmp_path / "floats.pkl", "wb") as fh:
        pickle.dump(np.array([0.5, 1.5, 2.5]), fh)
    with pytest.raises(LoaderError, match="floats.pkl: an index file must hold a 1-D integer array"):
        load_output(path, dataset, ind=tmp_path / "floats.pkl")


def test_malicious_index_file_is_refused_and_nothing_runs(tmp_path, dataset):
    target = tmp_path / "created"

    class Evil:
        def __reduce__(self):
            import os
            return os.system, (f"touch {target}",)

    with open(tmp_path / "ind.pkl", "wb") as fh:
        pickle.dump(Evil(), fh)
    shutil.copy(CRYODRGN / "z.1.pkl", tmp_path / "z.1.pkl")
    with pytest.raises(LoaderError, match="ind.pkl: refused to load"):
        load_output(tmp_path / "z.1.pkl", dataset, ind=tmp_path / "ind.pkl")
    assert not target.exists()

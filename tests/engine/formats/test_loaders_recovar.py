"""RECOVAR loader: model/embeddings.pkl (zs by zdim) and model/zdim_N/latent_coords.npy."""
import pickle
from pathlib import Path

import numpy as np
import pytest

from engine.formats.dataset import Dataset, synthetic_ground_truth
from engine.formats.loaders import LoaderError, detect_kind, load_output
from engine.landscape.presets import load_preset

N = 500


@pytest.fixture(scope="module")
def dataset():
    return Dataset(synthetic_ground_truth(load_preset("paper-3x4"), N, seed=8))


@pytest.fixture
def result(tmp_path):
    """A RECOVAR result folder in both layouts; z rows encode their particle index."""
    rng = np.random.default_rng(0)
    zs = {zdim: np.column_stack([np.arange(N, dtype=np.float32) * zdim, rng.normal(size=(N, zdim - 1))]).astype(np.float32)
          for zdim in (2, 4, 10)}
    model = tmp_path / "recovar_out" / "model"
    model.mkdir(parents=True)
    with open(model / "embeddings.pkl", "wb") as fh:
        pickle.dump({"zs": zs, "cov_zs": {k: np.zeros((N, k, k)) for k in zs}, "contrasts": {k: np.ones(N) for k in zs}}, fh)
    for zdim, z in zs.items():
        (model / f"zdim_{zdim}").mkdir()
        np.save(model / f"zdim_{zdim}" / "latent_coords.npy", z)
    return tmp_path / "recovar_out", zs


def test_embeddings_pickle_picks_the_asked_zdim(result, dataset):
    root, zs = result
    path = root / "model" / "embeddings.pkl"
    assert detect_kind(path) == "recovar"
    out = load_output(path, dataset, zdim=4)
    np.testing.assert_array_equal(out.coords, zs[4])
    assert out.dim_names == ("z0", "z1", "z2", "z3") and out.kind == "recovar"
    largest = load_output(path, dataset)
    assert largest.coords.shape == (N, 10) and any("zdim 10 of [2, 4, 10]" in n for n in largest.notes)


def test_latent_coords_files_and_folders(result, dataset):
    root, zs = result
    npy = root / "model" / "zdim_4" / "latent_coords.npy"
    assert detect_kind(npy) == "recovar" and detect_kind(root) == "recovar"
    np.testing.assert_array_equal(load_output(npy, dataset).coords, zs[4])
    np.testing.assert_array_equal(load_output(root, dataset, zdim=2).coords, zs[2])
    np.testing.assert_array_equal(load_output(root / "model" / "zdim_10", dataset).coords, zs[10])


def test_filtered_particles_are_nan_rows_and_count_as_dropped(tmp_path, dataset):
    z = np.random.default_rng(1).normal(size=(N, 4))
    z[[3, 77, 400]] = np.nan
    (tmp_path / "model" / "zdim_4").mkdir(parents=True)
    np.save(tmp_path / "model" / "zdim_4" / "latent_coords.npy", z)
    out = load_output(tmp_path, dataset)
    assert out.n_dropped == 3 and 77 not in out.particle_index and len(out.particle_index) == N - 3
    assert any("all NaN" in n for n in out.notes)


FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "recovar" / "ind_run"


def test_a_real_run_given_ind_is_read_by_position_with_or_without_the_index_file():
    """RECOVAR 1.0.5 with --ind (0..9 and 20..899) on 1000 images: 900 rows, NaN at 10..19,
    none after 899. Row i is particle i; the index file never re-orders them."""
    ds = Dataset(synthetic_ground_truth(load_preset("paper-3x4"), 1000, seed=8))
    expected = np.r_[0:10, 20:900]
    for ind in (None, FIXTURE / "ind.pkl"):
        out = load_output(FIXTURE, ds, kind="recovar", ind=ind)
        np.testing.assert_array_equal(out.particle_index, expected)
        assert out.n_dropped == 110 and out.coords.shape == (890, 2)
        assert any("the 100 particles after it have no row" in n for n in out.notes)


def test_an_index_file_that_does_not_fit_the_rows_is_refused(tmp_path, dataset):
    z = np.random.default_rng(2).normal(size=(10, 4))
    z[[2, 5]] = np.nan
    (tmp_path / "m" / "zdim_4").mkdir(parents=True)
    np.save(tmp_path / "m" / "zdim_4" / "latent_coords.npy", z)
    with pytest.raises(LoaderError, match="row 3 holds coordinates but particle 3 is not in the index file"):
        load_output(tmp_path / "m", dataset, kind="recovar", ind=np.array([0, 1, 4, 6, 7, 8, 9]))
    with pytest.raises(LoaderError, match="index file names particle 12"):
        load_output(tmp_path / "m", dataset, kind="recovar", ind=np.array([0, 1, 3, 4, 6, 7, 8, 9, 12]))
    out = load_output(tmp_path / "m", dataset, kind="recovar", ind=np.array([0, 1, 3, 4, 6, 7, 8, 9]))
    np.testing.assert_array_equal(out.particle_index, [0, 1, 3, 4, 6, 7, 8, 9])


def test_refused_inputs_name_the_file_and_problem(tmp_path, result, dataset):
    root, zs = result
    with pytest.raises(LoaderError, match=r"embeddings.pkl: zdim 7 does not exist \(available: 2, 4, 10\)"):
        load_output(root / "model" / "embeddings.pkl", dataset, zdim=7)
    with pytest.raises(LoaderError, match=r"zdim 3 does not exist"):
        load_output(root, dataset, zdim=3)
    with pytest.raises(LoaderError, match=r"latent_coords.npy: zdim 2 was asked for, but this file is in zdim_4"):
        load_output(root / "model" / "zdim_4" / "latent_coords.npy", dataset, zdim=2)
    with open(tmp_path / "embeddings.pkl", "wb") as fh:
        pickle.dump({"cov_zs": {}}, fh)
    with pytest.raises(LoaderError, match=r"embeddings.pkl: missing field 'zs'"):
        load_output(tmp_path / "embeddings.pkl", dataset)
    partial = zs[4].copy()
    partial[10, 1] = np.nan  # a single NaN is damage, not a filtered particle
    (tmp_path / "model" / "zdim_4").mkdir(parents=True)
    np.save(tmp_path / "model" / "zdim_4" / "latent_coords.npy", partial)
    with pytest.raises(LoaderError, match=r"latent_coords.npy: row 11 holds NaN"):
        load_output(tmp_path / "model", dataset)
    np.save(tmp_path / "model" / "zdim_4" / "latent_coords.npy", np.concatenate([zs[4], zs[4][:1]]))
    with pytest.raises(LoaderError, match=rf"latent_coords.npy: has {N + 1} rows, but the dataset has {N}"):
        load_output(tmp_path / "model", dataset)
    data = (root / "model" / "zdim_4" / "latent_coords.npy").read_bytes()
    (tmp_path / "model" / "zdim_4" / "latent_coords.npy").write_bytes(data[:300])
    with pytest.raises(LoaderError, match=r"latent_coords.npy: corrupt or truncated"):
        load_output(tmp_path / "model", dataset)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(LoaderError, match="neither a RECOVAR result"):
        load_output(tmp_path / "nothing", dataset)


def test_jax_or_other_objects_in_the_pickle_are_refused(tmp_path, dataset):
    class Evil:
        def __reduce__(self):
            return Path.touch, (tmp_path / "made",)

    with open(tmp_path / "embeddings.pkl", "wb") as fh:
        pickle.dump({"zs": {4: Evil()}}, fh)
    with pytest.raises(LoaderError, match="embeddings.pkl: refused to load"):
        load_output(tmp_path / "embeddings.pkl", dataset)
    assert not (tmp_path / "made").exists()

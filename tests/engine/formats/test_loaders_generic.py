"""Generic per-particle tables (.npy, .npz, .csv, .txt, .star, .pkl) and kind detection."""
import pickle

import numpy as np
import pandas as pd
import pytest
import starfile

from engine.formats.dataset import Dataset, synthetic_ground_truth
from engine.formats.loaders import KINDS, LoaderError, detect_kind, load_output
from engine.landscape.presets import load_preset

N = 400


@pytest.fixture(scope="module")
def dataset():
    return Dataset(synthetic_ground_truth(load_preset("paper-3x4"), N, seed=6, chunk_size=150))


@pytest.fixture(scope="module")
def coords():
    """Row i encodes particle i in its first coordinate, so a mismatch cannot hide."""
    rng = np.random.default_rng(0)
    return np.column_stack([np.arange(N, dtype=np.float64), rng.normal(size=N), rng.normal(size=N)])


def test_npy_positional(tmp_path, dataset, coords):
    np.save(tmp_path / "emb.npy", coords)
    out = load_output(tmp_path / "emb.npy", dataset)
    assert out.kind == "generic" and out.dim_names == ("dim 0", "dim 1", "dim 2")
    np.testing.assert_array_equal(out.coords, coords)
    np.testing.assert_array_equal(out.particle_index, np.arange(N))


def test_npy_one_dimensional_is_one_coordinate(tmp_path, dataset, coords):
    np.save(tmp_path / "rc.npy", coords[:, 0])
    assert load_output(tmp_path / "rc.npy", dataset).coords.shape == (N, 1)


def test_structured_npy_with_index_field(tmp_path, dataset, coords):
    keep = np.random.default_rng(1).permutation(N)[:100]
    table = np.zeros(100, dtype=[("particle_index", "<i8"), ("u", "<f4"), ("v", "<f8")])
    table["particle_index"], table["u"], table["v"] = keep, coords[keep, 0], coords[keep, 1]
    np.save(tmp_path / "t.npy", table)
    out = load_output(tmp_path / "t.npy", dataset)
    assert out.dim_names == ("u", "v") and out.n_dropped == N - 100
    np.testing.assert_array_equal(out.coords[:, 0], out.particle_index)


def test_npz_with_names(tmp_path, dataset, coords):
    order = np.random.default_rng(2).permutation(N)
    np.savez(tmp_path / "e.npz", embedding=coords[order], image_name=dataset.image_names[order])
    out = load_output(tmp_path / "e.npz", dataset)
    np.testing.assert_array_equal(out.coords[:, 0], out.particle_index)
    np.savez(tmp_path / "two.npz", a=coords, b=coords)
    with pytest.raises(LoaderError, match=r"two.npz: cannot tell which array holds the coordinates"):
        load_output(tmp_path / "two.npz", dataset)


def test_csv_with_header_and_index_column(tmp_path, dataset, coords):
    keep = np.arange(0, N, 3)
    pd.DataFrame({"index": keep, "x": coords[keep, 0], "y": coords[keep, 1]}).to_csv(tmp_path / "c.csv", index=False)
    out = load_output(tmp_path / "c.csv", dataset)
    assert out.dim_names == ("x", "y")
    np.testing.assert_array_equal(out.particle_index, keep)
    np.testing.assert_array_equal(out.coords[:, 0], keep)


def test_headerless_txt_with_and_without_image_names(tmp_path, dataset, coords):
    np.savetxt(tmp_path / "plain.txt", coords)
    np.testing.assert_allclose(load_output(tmp_path / "plain.txt", dataset).coords, coords)
    order = np.random.default_rng(3).permutation(N)
    (tmp_path / "named.txt").write_text("".join(f"{dataset.image_names[i]} {coords[i, 0]} {coords[i, 1]}\n"
                                                for i in order))
    out = load_output(tmp_path / "named.txt", dataset)
    np.testing.assert_array_equal(out.particle_index, order)
    np.testing.assert_array_equal(out.coords[:, 0], order)


def test_star_uses_non_metadata_columns(tmp_path, dataset, coords):
    keep = np.arange(50, 350)
    particles = pd.DataFrame({"rlnImageName": dataset.image_names[keep], "rlnAngleRot": np.zeros(300),
                              "rlnDefocusU": np.full(300, 1.5e4), "rlnClassNumber": np.ones(300, int),
                              "myLatent1": coords[keep, 0], "myLatent2": coords[keep, 1]})
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnImagePixelSize": [5.0]})
    starfile.write({"optics": optics, "particles": particles}, tmp_path / "latents.star")
    out = load_output(tmp_path / "latents.star", dataset)
    assert out.dim_names == ("myLatent1", "myLatent2")
    np.testing.assert_array_equal(out.particle_index, keep)
    np.testing.assert_array_equal(out.coords[:, 0], keep)


def test_pickled_array_goes_through_the_restricted_unpickler(tmp_path, dataset, coords):
    with open(tmp_path / "coords.pkl", "wb") as fh:
        pickle.dump(coords, fh)
    assert detect_kind(tmp_path / "coords.pkl") == "generic"
    np.testing.assert_array_equal(load_output(tmp_path / "coords.pkl", dataset).coords, coords)


def test_refused_inputs_name_the_file_and_problem(tmp_path, dataset, coords):
    np.save(tmp_path / "short.npy", coords[:-5])
    with pytest.raises(LoaderError, match=rf"short.npy: has {N - 5} rows, but the dataset has {N} particles; "
                                          "add an index column"):
        load_output(tmp_path / "short.npy", dataset)
    bad = coords.copy()
    bad[9] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    with pytest.raises(LoaderError, match=r"inf.npy: row 10 holds NaN or infinite values"):
        load_output(tmp_path / "inf.npy", dataset)
    np.save(tmp_path / "obj.npy", np.array(["a", "b"]))
    with pytest.raises(LoaderError, match=r"obj.npy: coordinates are not numbers"):
        load_output(tmp_path / "obj.npy", dataset)
    np.save(tmp_path / "cube.npy", np.zeros((N, 2, 2)))
    with pytest.raises(LoaderError, match=r"cube.npy: coordinates must be a table"):
        load_output(tmp_path / "cube.npy", dataset)
    (tmp_path / "cut.npy").write_bytes((tmp_path / "short.npy").read_bytes()[:200])
    with pytest.raises(LoaderError, match=r"cut.npy: corrupt or truncated"):
        load_output(tmp_path / "cut.npy", dataset)
    (tmp_path / "words.csv").write_text("x,y\n1,2\n3,oops\n")
    with pytest.raises(LoaderError, match=r"words.csv: row 2, column 'y': 'oops' is not a number"):
        load_output(tmp_path / "words.csv", dataset)
    (tmp_path / "missing.csv").write_text("index,x,y\n0,1,2\n1,3,\n")
    with pytest.raises(LoaderError, match=r"missing.csv: row 2 has 2 values, but the table has 3 columns "
                                          r"\(index, x, y\): a ragged or truncated table"):
        load_output(tmp_path / "missing.csv", dataset)
    (tmp_path / "names.csv").write_text("image_name,x\n000001@nowhere.mrcs,1\n")
    with pytest.raises(LoaderError, match=r"names.csv: 1 row\(s\) name no particle of the dataset"):
        load_output(tmp_path / "names.csv", dataset)
    (tmp_path / "odd.xyz").write_text("1 2\n")
    with pytest.raises(LoaderError, match=r"odd.xyz: cannot tell which tool wrote this file"):
        load_output(tmp_path / "odd.xyz", dataset)
    with pytest.raises(LoaderError, match=r"absent.npy: no such file"):
        load_output(tmp_path / "absent.npy", dataset)
    with pytest.raises(LoaderError, match=r"unknown kind 'cryodrg'"):
        load_output(tmp_path / "short.npy", dataset, kind="cryodrg")
    with pytest.raises(LoaderError, match=r"option zdim does not apply to generic outputs"):
        load_output(tmp_path / "short.npy", dataset, zdim=4)


def test_every_kind_is_reachable_by_detection(tmp_path):
    names = {"z.3.pkl": "cryodrgn", "J1_particles.cs": "cryosparc", "S2_OM": "manifoldem_occupancy",
             "embeddings.pkl": "recovar", "x.csv": "generic", "x.star": "generic",
             "run_projections_along_eigenvectors_all_particles.txt": "relion_multibody"}
    assert {detect_kind(tmp_path / n) for n in names} == set(KINDS) - {"manifoldem"}
    for name, kind in names.items():
        assert detect_kind(tmp_path / name) == kind

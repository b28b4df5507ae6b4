"""ManifoldEM's output folder read as tau per particle, in the layout ManifoldEM writes it.

The folder is built as ManifoldEM's psi_analysis and calc_distance write it (myio.fout1:
a pickled dict for ``.pkl``, one dataset per key for ``.h5``); the expected particle of each
tau is computed the way its writeRelionS2 slices the quaternions ``q``.
"""
import json
import pickle
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from engine.formats.dataset import Dataset, synthetic_ground_truth
from engine.formats.ground_truth import save_ground_truth
from engine.formats.loaders import LoaderError, detect_kind, load_occupancy_map, load_output
from engine.formats.loaders.manifoldem_folder import ONE_D_NOTE
from engine.landscape.presets import load_preset
from engine.scoring.report import evaluate_output

N = 400


@pytest.fixture(scope="module")
def dataset():
    return Dataset(synthetic_ground_truth(load_preset("paper-3x4"), N, seed=4))


def write_prd(out_dir, k, ind, n_kept, rng, con_order_range=50):
    """One projection direction: ``ind`` (global indices), ``n_kept`` of them left by manifold
    trimming (posPath), sorted along psi (PosPsi1), nS - 2 ConOrder taus (NLSA's snapshots)."""
    dist = out_dir / "distances"
    el = out_dir / f"ELConc{con_order_range}"
    dist.mkdir(parents=True, exist_ok=True)
    el.mkdir(exist_ok=True)
    n = len(ind)
    with h5py.File(dist / f"IMGs_prD_{k}.h5", "w") as fh:  # as myio.fout1 writes a .h5
        fh.create_dataset("D", data=rng.random((n, n)))
        fh.create_dataset("ind", data=np.asarray(ind))
        fh.create_dataset("q", data=rng.random((4, n)))
    pos_path = np.sort(rng.choice(n, n_kept, replace=False))
    pos_psi1 = np.argsort(rng.random(n_kept))
    con_order = n_kept // con_order_range
    tau = rng.random(n_kept - 2 * con_order)
    tau = (tau - tau.min()) / (tau.max() - tau.min())
    data = dict(IMG1=rng.random((16, 50)).astype(np.float16), IMGT=rng.random((16, len(tau))).astype(np.float16),
                posPath=pos_path, PosPsi1=pos_psi1, psirec=rng.random((len(tau), 5)), tau=tau,
                psiC1=rng.random((5, 5)), mu=rng.random(5), VX=rng.random((5, 5)), sdiag=rng.random(5),
                Topo_mean=rng.random((16, 3)).astype(np.float16), tauinds=[np.int64(i) for i in range(50)])
    with open(el / f"S2_prD_{k}.pkl", "wb") as fh:
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return expected_particles(ind, pos_path, pos_psi1, len(tau), con_order_range), tau


def expected_particles(ind, pos_path, pos_psi1, n_tau, con_order_range):
    """writeRelionS2.extract_traj_data_by_prd: q[:, posPath[psi1Path]], then
    q[:, conOrder - 1:nS - conOrder]; tau bin j takes column j. A 'quaternion' that is the
    particle's index shows which particle each tau belongs to."""
    q = np.asarray(ind)[None, :]
    q = q[:, pos_path[pos_psi1]]
    n_s = q.shape[1]
    con_order = n_s // con_order_range
    q = q[:, con_order - 1:n_s - con_order]
    return q[0, :n_tau]


def build_folder(tmp_path, rng, overlap=False):
    out_dir = tmp_path / "output" / "ribosome"
    order = rng.permutation(N)
    # nS 130 (ConOrder 2), 77 (ConOrder 1), 104 of 110 kept (ConOrder 2): none a multiple of 50
    groups = [order[:140], order[140:220], order[220:330]]
    if overlap:
        groups[1] = np.concatenate([groups[1], order[:5]])
    kept = [130, 77, 104]
    expected = [write_prd(out_dir, k, g, n, rng) for k, (g, n) in enumerate(zip(groups, kept))]
    (out_dir / "ELConc50" / "OM").mkdir()
    hist = sum(np.histogram(t, 50)[0] for _, t in expected)
    hist.astype("int").tofile(out_dir / "ELConc50" / "OM" / "S2_OM.npy")  # raw int64, named .npy
    return out_dir, expected


def test_folder_gives_each_particle_its_tau_as_writeRelionS2_pairs_them(tmp_path, dataset):
    out_dir, expected = build_folder(tmp_path, np.random.default_rng(0))
    assert detect_kind(out_dir) == "manifoldem"
    out = load_output(out_dir, dataset)
    assert out.kind == "manifoldem" and out.dim_names == ("tau",) and out.coords.shape[1] == 1
    truth = np.full(N, np.nan)
    for particles, tau in expected:
        truth[particles] = tau
    scored = np.flatnonzero(~np.isnan(truth))
    assert len(scored) == (130 - 4) + (77 - 2) + (104 - 4)
    np.testing.assert_array_equal(out.particle_index, scored)
    np.testing.assert_allclose(out.coords[:, 0], truth[scored])
    assert out.n_dropped == N - len(scored)
    assert ONE_D_NOTE in out.notes
    assert any(f"{N - len(scored)} particles ManifoldEM dropped" in n and "not scored" in n for n in out.notes)
    scores = evaluate_output(dataset, out, dims=(0,)).scores
    assert any(n.startswith("1D:") for n in scores.notes)


def test_elconc_folder_and_one_prd_file_read_the_whole_folder(tmp_path, dataset):
    out_dir, _ = build_folder(tmp_path, np.random.default_rng(1))
    whole = load_output(out_dir, dataset)
    for given in (out_dir / "ELConc50", out_dir / "ELConc50" / "S2_prD_1.pkl"):
        assert detect_kind(given) == "manifoldem"
        out = load_output(given, dataset)
        np.testing.assert_array_equal(out.particle_index, whole.particle_index)
        np.testing.assert_array_equal(out.coords, whole.coords)


def test_particle_in_two_directions_gets_its_mean_tau(tmp_path, dataset):
    out_dir, expected = build_folder(tmp_path, np.random.default_rng(2), overlap=True)
    out = load_output(out_dir, dataset)
    seen = {}
    for particles, tau in expected:
        for p, t in zip(particles, tau):
            seen.setdefault(int(p), []).append(t)
    twice = [p for p, ts in seen.items() if len(ts) == 2]
    assert twice  # the layout put some of the 5 shared particles in both taus
    rows = np.searchsorted(out.particle_index, twice)
    np.testing.assert_allclose(out.coords[rows, 0], [np.mean(seen[p]) for p in twice])
    assert any(f"{len(twice)} particles lie in several projection directions" in n for n in out.notes)


def test_raw_int64_s2_om_named_npy_is_read_raw_and_real_npy_by_its_magic(tmp_path):
    out_dir, expected = build_folder(tmp_path, np.random.default_rng(3))
    om_file = out_dir / "ELConc50" / "OM" / "S2_OM.npy"
    assert detect_kind(om_file) == "manifoldem_occupancy"
    om = load_occupancy_map(om_file)
    hist = sum(np.histogram(t, 50)[0] for _, t in expected)
    np.testing.assert_array_equal(om.counts, hist)
    real = tmp_path / "S2_OM_saved.npy"
    np.save(real, hist.astype(float))
    np.testing.assert_array_equal(load_occupancy_map(real).counts, hist)
    energy = tmp_path / "S2_OM_energy.npy"
    np.save(energy, np.linspace(0, 1.5, 50))
    with pytest.raises(LoaderError, match="S2_OM_energy.npy: values are not particle counts"):
        load_occupancy_map(energy)


def test_corrupt_or_missing_files_are_named(tmp_path, dataset):
    out_dir, _ = build_folder(tmp_path, np.random.default_rng(5))
    el = out_dir / "ELConc50"
    (el / "S2_prD_1.pkl").write_bytes((el / "S2_prD_1.pkl").read_bytes()[:200])
    with pytest.raises(LoaderError, match=r"S2_prD_1\.pkl: .*truncated"):
        load_output(out_dir, dataset)
    with open(el / "S2_prD_1.pkl", "wb") as fh:
        pickle.dump({"tau": np.linspace(0, 1, 10)}, fh)
    with pytest.raises(LoaderError, match=r"S2_prD_1\.pkl: has no posPath, PosPsi1"):
        load_output(out_dir, dataset)
    (el / "S2_prD_1.pkl").unlink()
    (out_dir / "distances" / "IMGs_prD_2.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(LoaderError, match=r"IMGs_prD_2\.h5: is not a readable HDF5 file"):
        load_output(out_dir, dataset)
    (out_dir / "distances" / "IMGs_prD_2.h5").unlink()
    with pytest.raises(LoaderError, match=r"IMGs_prD_2\.h5: no such file"):
        load_output(out_dir, dataset)


def test_code_in_a_pickle_is_refused_not_run(tmp_path, dataset):
    out_dir, _ = build_folder(tmp_path, np.random.default_rng(6))

    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    with open(out_dir / "ELConc50" / "S2_prD_0.pkl", "wb") as fh:
        pickle.dump({"tau": Payload()}, fh)
    with pytest.raises(LoaderError, match=r"S2_prD_0\.pkl: refused to load.*builtins\.print"):
        load_output(out_dir, dataset)


def test_index_outside_the_dataset_and_too_few_images(tmp_path, dataset):
    rng = np.random.default_rng(7)
    out_dir = tmp_path / "run"
    write_prd(out_dir, 0, np.arange(N - 60, N + 60), 100, rng)
    with pytest.raises(LoaderError, match=rf"IMGs_prD_0\.h5: particle index {N} is outside the dataset"):
        load_output(out_dir, dataset)
    small = tmp_path / "small"
    write_prd(small, 0, np.arange(60), 60, rng)  # ConOrder 1: fine
    assert load_output(small, dataset).n_rows == 58
    with open(small / "ELConc50" / "S2_prD_0.pkl", "wb") as fh:
        pickle.dump(dict(tau=np.linspace(0, 1, 30), posPath=np.arange(40), PosPsi1=np.arange(40)), fh)
    with pytest.raises(LoaderError, match=r"S2_prD_0\.pkl: has 40 images.*fewer than the ConOrder range 50"):
        load_output(small, dataset)


def test_ind_option_and_a_folder_without_distances_are_refused(tmp_path, dataset):
    out_dir, _ = build_folder(tmp_path, np.random.default_rng(8))
    with pytest.raises(LoaderError, match="option ind does not apply to a ManifoldEM output folder"):
        load_output(out_dir, dataset, ind=np.arange(10))
    lonely = tmp_path / "lonely" / "ELConc50"
    lonely.mkdir(parents=True)
    (out_dir / "ELConc50" / "S2_prD_0.pkl").rename(lonely / "S2_prD_0.pkl")
    with pytest.raises(LoaderError, match=r"ELConc50: has no sibling folder distances/"):
        load_output(lonely, dataset)


def test_evaluate_reads_the_folder_from_the_command_line(tmp_path, dataset):
    root = Path(__file__).resolve().parents[3]
    (tmp_path / "ds").mkdir()
    save_ground_truth(dataset.ground_truth, tmp_path / "ds" / "ground_truth.npz")
    out_dir, _ = build_folder(tmp_path, np.random.default_rng(9))
    done = subprocess.run([sys.executable, str(root / "main.py"), "evaluate", str(tmp_path / "ds"), str(out_dir),
                           "--dims", "0", "--no-figures", "--out", str(tmp_path / "report")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    method = json.loads((tmp_path / "report" / "scores.json").read_text())["methods"][0]
    assert method["kind"] == "manifoldem" and method["dim_names"] == ["tau"]
    assert method["n_rows"] == (130 - 4) + (77 - 2) + (104 - 4)
    assert ONE_D_NOTE in method["notes"]

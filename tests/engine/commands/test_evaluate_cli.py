"""`python main.py evaluate`: Table 1, the report folder, --json, and refused input."""
import csv
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.formats.dataset import load_dataset, synthetic_ground_truth
from engine.formats.ground_truth import save_ground_truth
from engine.landscape.io import save_landscape
from engine.formats.loaders import load_output
from engine.landscape.presets import load_preset
from engine.scoring.metric import score

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures"
N = 3000


def run(*args, cwd=None):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "evaluate", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or ROOT, timeout=300)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A dataset folder and three method outputs of different kinds and quality."""
    root = tmp_path_factory.mktemp("evaluate")
    land = load_preset("paper-3x4")
    gt = synthetic_ground_truth(land, N, seed=9, chunk_size=1000)
    (root / "ds").mkdir()
    save_ground_truth(gt, root / "ds" / "ground_truth.npz")
    save_landscape(land, root / "ds" / "landscape.json")
    rng = np.random.default_rng(0)
    truth = np.stack([gt.cc1_deg, gt.cc2_deg], axis=1)
    np.save(root / "good.npy", truth + rng.normal(0, 1.0, truth.shape))
    ind = np.sort(rng.choice(N, 2000, replace=False))
    with open(root / "z.9.pkl", "wb") as fh:  # cryoDRGN run on 2000 particles given --ind
        pickle.dump(np.column_stack([truth[ind] + rng.normal(0, 4.0, (2000, 2)), rng.normal(size=(2000, 2))]), fh)
        pickle.dump(np.zeros((2000, 4)), fh)
    with open(root / "ind.pkl", "wb") as fh:
        pickle.dump(ind, fh)
    order = rng.permutation(N)
    lines = [f"{gt.image_name[i]} " + " ".join(f"{v:14.6g}" for v in rng.normal(size=4)) + " \n" for i in order]
    (root / "mb_projections_along_eigenvectors_all_particles.txt").write_text("".join(lines))
    np.array([5, 50, 300, 50, 5, 40, 200, 40]).astype("int").tofile(root / "S2_OM")
    return root


def test_table_report_folder_and_figures(case):
    out_dir = case / "report"
    done = run(case / "ds", case / "good.npy", case / "z.9.pkl",
               case / "mb_projections_along_eigenvectors_all_particles.txt", case / "S2_OM",
               "--label", "noisy truth", "--label", "cryoDRGN", "--label", "RELION", "--label", "ManifoldEM OM",
               "--ind", "-", "--ind", case / "ind.pkl", "--ind", "-", "--ind", "-", "--out", out_dir)
    assert done.returncode == 0, done.stderr
    ds = load_dataset(case / "ds")
    expected = {
        "noisy truth": score(ds, load_output(case / "good.npy", ds)),
        "cryoDRGN": score(ds, load_output(case / "z.9.pkl", ds, ind=case / "ind.pkl")),
        "RELION": score(ds, load_output(case / "mb_projections_along_eigenvectors_all_particles.txt", ds)),
    }
    for label, s in expected.items():
        row = next(line for line in done.stdout.splitlines() if line.startswith(label) and " 0,1 " in line)
        assert f"{100 * s.accuracy:.2f}" in row and f"{100 * s.recall_std:.2f}" in row
    assert expected["noisy truth"].accuracy > 0.9 > expected["cryoDRGN"].accuracy > expected["RELION"].accuracy
    assert "1000 of 3000 have no row" in done.stdout and "no per-particle assignment" in done.stdout

    report = json.loads((out_dir / "scores.json").read_text())
    assert report["n_particles"] == N and [m["label"] for m in report["methods"]] == list(expected)
    for method in report["methods"]:
        s = expected[method["label"]]
        assert method["accuracy"] == pytest.approx(s.accuracy) and method["n_scored"] == s.n_scored
        assert np.array(method["confusion"]).sum() == s.n_scored
        assert method["all_dims"]["dims"] == list(range(len(method["dim_names"])))
    assert report["occupancy_maps"][0]["shape"] == [8]

    with open(out_dir / "recall_per_well.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["well", "n_particles", "noisy truth recall_pct", "cryoDRGN recall_pct", "RELION recall_pct"]
    assert [r[0] for r in rows[1:13]] == [str(w) for w in range(1, 13)]
    assert float(rows[1 + 5][2]) == pytest.approx(100 * expected["noisy truth"].recall[5], abs=0.01)
    with open(out_dir / "confusion_cryoDRGN.csv") as fh:
        confusion = list(csv.reader(fh))
    assert len(confusion) == 13 and sum(int(v) for r in confusion[1:] for v in r[1:]) == 2000
    with open(out_dir / "scores.csv") as fh:
        # chosen and all dimensions; for the 2-D output they are the same row
        assert [r["dims"] for r in csv.DictReader(fh)] == ["0 1", "0 1", "0 1 2 3", "0 1", "0 1 2 3"]
    for name in ("recall_noisy_truth.png", "lineage_cryoDRGN.png", "landscape_RELION.png",
                 "occupancy_ManifoldEM_OM.png"):
        assert (out_dir / name).stat().st_size > 5000, name
    assert len((out_dir / "wells_noisy_truth.csv").read_text().splitlines()) == 13
    occupancy = (out_dir / "occupancy_ManifoldEM_OM.csv").read_text().splitlines()
    assert occupancy[0] == "bin,count,G_kcal_per_mol" and occupancy[3].startswith("2,300,0")
    assert (out_dir / "lineage_cryoDRGN.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_output_for_scripts(case, tmp_path):
    done = run(case / "ds", case / "good.npy", "--dims", "1,0", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    (method,) = result["methods"]
    assert set(method) == {"label", "accuracy", "recall_std", "recall", "n_scored", "dims", "missing_wells", "latent",
                           "paths"}
    assert 0.0 <= method["paths"]["score"] <= 1.0 and method["paths"]["pairs"]
    assert method["missing_wells"] == []
    assert method["dims"] == [1, 0] and method["n_scored"] == N
    assert set(method["recall"]) == {str(w) for w in range(1, 13)}
    assert all(0.0 <= v <= 1.0 for v in method["recall"].values())
    assert method["accuracy"] == pytest.approx(np.mean(list(method["recall"].values())))
    assert list(tmp_path.iterdir()) == []  # --json without --out writes no report


def test_real_cryodrgn_fixture_through_the_command(tmp_path):
    done = run(FIXTURES / "cryodrgn" / "twobody" / "ground_truth.npz", FIXTURES / "cryodrgn" / "twobody" / "z.25.pkl",
               "--dims", "all", "--json", "--core-only")
    assert done.returncode == 0, done.stderr
    (method,) = json.loads(done.stdout)["methods"]
    assert method["dims"] == list(range(8)) and method["accuracy"] == pytest.approx(0.46470, abs=5e-5)


@pytest.mark.parametrize("args, message", [
    (["{ds}", "{root}/absent.npy"], "absent.npy: no such file"),
    (["{root}/nowhere", "{root}/good.npy"], "nowhere: no such dataset folder"),
    (["{ds}", "{root}/good.npy", "--dims", "0,5"], "good.npy: dimension 5 does not exist"),
    (["{ds}", "{root}/good.npy", "--dims", "x"], "--dims: expected 0-based numbers separated by commas, or 'all' (got 'x')"),
    (["{ds}", "{root}/z.9.pkl"], "z.9.pkl: has 2000 rows, but the dataset has 3000 particles"),
    (["{ds}", "{root}/good.npy", "{root}/z.9.pkl", "--label", "only one"], "--label: given 1 times for 2 outputs"),
    (["{ds}", "{root}/good.npy", "--wells", "1,13"], "good.npy: there is no well 13"),
    (["{ds}", "{root}/good.npy", "--kind", "cryosparc"], "good.npy: not a cryoSPARC table"),
])
def test_bad_input_names_the_file_and_exits_non_zero(case, args, message):
    done = run(*[a.format(ds=case / "ds", root=case) for a in args], "--json")
    assert done.returncode == 2 and message in done.stderr and done.stdout == ""


def test_a_well_the_method_lost_is_flagged_in_the_table_and_scores_json(case, tmp_path):
    gt = load_dataset(case / "ds").ground_truth
    ind = np.flatnonzero(np.asarray(gt.well) != 5)  # a cryoDRGN run given --ind without well 5
    truth = np.stack([gt.cc1_deg, gt.cc2_deg], axis=1)[ind]
    with open(tmp_path / "z.3.pkl", "wb") as fh:
        pickle.dump(truth.astype(np.float32), fh)
        pickle.dump(np.zeros_like(truth, dtype=np.float32), fh)
    with open(tmp_path / "ind.pkl", "wb") as fh:
        pickle.dump(ind, fh)
    done = run(case / "ds", tmp_path / "z.3.pkl", "--ind", tmp_path / "ind.pkl", "--label", "lossy",
               "--out", tmp_path / "report", "--no-figures")
    assert done.returncode == 0, done.stderr
    n_lost = int((np.asarray(gt.well) == 5).sum())
    row = [line for line in done.stdout.splitlines() if line.startswith("lossy ")][0]
    assert row.endswith("! over 11 of 12 wells, missing [5]")
    assert f"lossy: wells [5] have no scored particle and are left out of the mean (5: the output " \
           f"dropped all {n_lost} of its particles): accuracy and std of recall cover only 11 of 12" in done.stdout
    (method,) = json.loads((tmp_path / "report" / "scores.json").read_text())["methods"]
    assert method["missing_wells"] == [5] and method["all_dims"]["missing_wells"] == [5]
    assert "5" not in method["recall"] and any("[5]" in n for n in method["notes"])


class _Reduce:
    def __init__(self, *reduced):
        self.reduced = reduced

    def __reduce__(self):
        return self.reduced


def test_forged_object_dtype_pickle_is_refused_not_run(case):
    """The reviewer's exploit: an 'O8' dtype rebuilt with flags 0 makes numpy read the file's
    bytes as object pointers (exit 139 before the fix). Now: a clean refusal, exit 2."""
    from numpy._core.multiarray import _reconstruct
    o8 = _Reduce(np.dtype, ("O8", False, True), (3, "|", None, None, None, -1, -1, 0))
    evil = case / "evil.pkl"
    evil.write_bytes(pickle.dumps(_Reduce(_reconstruct, (np.ndarray, (0,), b"b"),
                                          (1, (N, 2), o8, False, b"\x41" * (16 * N))), protocol=2))
    done = run(case / "ds", evil, "--kind", "generic", "--json")
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert f"{evil}: refused to load (a dtype of kind 'O'" in done.stderr and done.stdout == ""


def test_the_command_module_imports_no_qt():
    code = ("import sys, main; main.build_parser(); import engine.commands.evaluate; "
            "print([m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_negative_dims_count_from_the_last(case):
    done = run(case / "ds", case / "z.9.pkl", "--ind", case / "ind.pkl", "--dims", "-1,0", "--json")
    assert done.returncode == 0, done.stderr
    (method,) = json.loads(done.stdout)["methods"]
    assert method["dims"] == [3, 0]
    done = run(case / "ds", case / "good.npy", "--dims", "-3,0", "--json")
    assert done.returncode == 2 and "good.npy: dimension -3 does not exist" in done.stderr


def test_an_earlier_report_is_kept_unless_overwrite(case, tmp_path):
    out = tmp_path / "report"
    assert run(case / "ds", case / "good.npy", "--out", out, "--no-figures").returncode == 0
    before = (out / "scores.json").read_bytes()
    again = run(case / "ds", case / "good.npy", "--label", "other", "--out", out, "--no-figures")
    assert again.returncode == 2 and again.stdout == ""
    assert again.stderr.strip() == (f"error: {out}: already holds files (an earlier report?); give "
                                    "--overwrite to replace them, or another --out")
    assert (out / "scores.json").read_bytes() == before
    forced = run(case / "ds", case / "good.npy", "--label", "other", "--out", out, "--no-figures", "--overwrite")
    assert forced.returncode == 0 and '"other"' in (out / "scores.json").read_text()


@pytest.mark.parametrize("reader", ["head -1", "true"])
def test_a_closed_pipe_ends_quietly(case, tmp_path, reader):
    """`true` has closed the pipe before evaluate writes a line: the BrokenPipeError case."""
    command = (f"{sys.executable} {ROOT / 'main.py'} evaluate {case / 'ds'} {case / 'good.npy'} "
               f"--no-figures --out {tmp_path / 'r'} | {reader}")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300)
    assert done.stderr == "" and done.stdout.count("\n") == (1 if reader.startswith("head") else 0)


def test_latent_metrics_in_the_table_json_and_report(case, tmp_path):
    """The output close to the truth predicts it (low imbalance both ways, high similarity);
    the multibody table of pure noise does not (imbalance near 1, similarity near chance)."""
    mb = case / "mb_projections_along_eigenvectors_all_particles.txt"
    done = run(case / "ds", case / "good.npy", mb, "--label", "good", "--label", "noise", "--json",
               "--out", tmp_path / "r", "--no-figures")
    assert done.returncode == 0, done.stderr
    good, noise = (m["latent"] for m in json.loads(done.stdout)["methods"])
    assert good["n_used"] == N and good["output_dims"] == 2 and noise["output_dims"] == 4
    assert good["neighbourhood_similarity"]["summary"] > 0.5 > 0.1 > noise["neighbourhood_similarity"]["summary"]
    assert good["information_imbalance"]["output_to_truth"] < 0.1
    assert noise["information_imbalance"]["output_to_truth"] > 0.8
    assert "CryoBench latent metrics" in done.stderr and "neighbourhood similarity" in done.stderr
    rows = list(csv.DictReader((tmp_path / "r" / "latent_metrics.csv").open()))
    assert [r["method"] for r in rows] == ["good", "noise"]
    stored = json.loads((tmp_path / "r" / "scores.json").read_text())["methods"][0]["latent"]
    assert stored["information_imbalance"] == good["information_imbalance"]
    quiet = run(case / "ds", case / "good.npy", "--json", "--no-latent")
    assert json.loads(quiet.stdout)["methods"][0]["latent"] is None


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A real elbench dataset (images, maps, manifest) and an output close to its truth."""
    from engine.simulation.plan import SimulationPlan
    from engine.simulation.run import run_simulation

    root = tmp_path_factory.mktemp("evaluate_ceiling")
    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=200, box_size=32, snr=10,
                          write_cryosparc=False)
    assert run_simulation(plan, root / "ds", workers=1).status == "complete"
    gt = load_dataset(root / "ds").ground_truth
    truth = np.stack([gt.cc1_deg, gt.cc2_deg], axis=1)
    np.save(root / "near.npy", truth + np.random.default_rng(0).normal(0, 2.0, truth.shape))
    return root


def test_ceiling_rows_fractions_and_report_files(simulated, tmp_path):
    done = run(simulated / "ds", simulated / "near.npy", "--label", "near truth", "--ceiling", "--subsample", "64",
               "--snr-sweep", "0.1,10", "--sweep-particles", "32", "--no-figures", "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("Floor and ceiling: 64 random particles"))
    rows = {line[:31].strip(): line.split() for line in lines[head + 2:head + 7]}
    assert list(rows) == ["ground truth", "random", "ideal observer (posterior mean)",
                          "ideal observer (Bayes label)", "near truth"]
    ceiling, method = float(rows["ideal observer (Bayes label)"][-5]), float(rows["near truth"][-5])
    assert float(rows["random"][1]) < 40 < ceiling and rows["ideal observer (Bayes label)"][-1] == "1.000"
    assert float(rows["near truth"][-1]) == pytest.approx(method / ceiling, abs=2e-3)
    assert "SNR sweep" in done.stdout and "<- this dataset" in done.stdout
    report = json.loads((tmp_path / "r" / "ceiling.json").read_text())
    assert report["subsample"] == 64 and [p["snr"] for p in report["snr_sweep"]] == [0.1, 10.0]
    table = list(csv.DictReader((tmp_path / "r" / "ceiling.csv").open()))
    assert [r["label"] for r in table] == list(rows)
    assert len(list(csv.DictReader((tmp_path / "r" / "snr_sweep.csv").open()))) == 2


def test_ceiling_in_json_and_alone(simulated):
    done = run(simulated / "ds", "--ceiling", "--subsample", "48", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["methods"] == [] and doc["ceiling"]["subsample"] == 48 and doc["ceiling"]["snr_sweep"] == []
    assert [r["label"] for r in doc["ceiling"]["controls"]] == ["ground truth", "random"]
    for row in doc["ceiling"]["controls"] + doc["ceiling"]["ceiling"]:
        assert row["ci"][0] <= row["accuracy"] <= row["ci"][1] and row["n_scored"] == 48
    assert "ideal observer (Bayes label)" in done.stderr


def test_ceiling_of_a_dataset_not_made_by_elbench_is_refused(case):
    done = run(case / "ds", case / "good.npy", "--ceiling", "--json")
    assert done.returncode == 2 and "manifest.json: no such file" in done.stderr and done.stdout == ""
    assert "a ceiling needs a dataset made by elbench, with its maps" in done.stderr
    missing = run(case / "ds", "--json")
    assert missing.returncode == 2 and "give at least one OUTPUT" in missing.stderr


def test_a_one_dimensional_output_is_scored_on_dim_0_by_default_but_a_chosen_dim_it_lacks_is_an_error(case, tmp_path):
    """ManifoldEM's tau has one dimension: the default --dims 0,1 scores it on dim 0 with a note;
    --dims 0,1 given by the user is refused, naming the file."""
    ds = load_dataset(case / "ds")
    tau = ds.ground_truth.cc1_deg[:, None] + np.random.default_rng(3).normal(0, 2.0, (N, 1))
    np.save(tmp_path / "tau.npy", tau)
    done = run(case / "ds", tmp_path / "tau.npy", "--label", "ManifoldEM tau", "--json", "--no-latent")
    assert done.returncode == 0, done.stderr
    (method,) = json.loads(done.stdout)["methods"]
    expected = score(ds, load_output(tmp_path / "tau.npy", ds), dims=(0,))
    assert method["dims"] == [0] and method["accuracy"] == pytest.approx(expected.accuracy)
    assert 0.2 < expected.accuracy < 0.9            # cc1 alone tells the columns of the 3x4 grid apart, not the rows
    assert "ManifoldEM tau: 1D output: scored on dim 0" in done.stderr
    done = run(case / "ds", tmp_path / "tau.npy", "--dims", "0,1", "--json")
    assert done.returncode == 2 and "tau.npy: dimension 1 does not exist" in done.stderr

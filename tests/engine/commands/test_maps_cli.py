"""``elbench maps``: per-well maps of a method's assignment and of the true labels, by real
``relion_reconstruct``, on a small paper-3x4 dataset (300 particles, box 32, SNR 10).

The "method" is an output with the same coordinates for every particle: the metric puts all
of them in well 1, so eleven wells have no particle, which the table must report, not crash on.
"""
import contextlib
import csv
import io
import json
import math

import numpy as np
import pytest

from engine.landscape.presets import load_preset
from engine.methods.well_map_scores import lowpass
from engine.structure.fsc import real_space_correlation
from engine.structure.maps import read_map
from engine.structure.object_model import make_soft_mask
from engine.simulation.plan import SimulationPlan
from engine.simulation.run import run_simulation
from main import main

N = 300


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("maps_cli") / "ds"
    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=N, box_size=32, snr=10, seed=1)
    assert run_simulation(plan, folder, workers=1).status == "complete"
    return folder


@pytest.fixture(scope="module")
def constant_output(dataset):
    path = dataset.parent / "constant.npy"
    np.save(path, np.ones((N, 2)))
    return path


def run_quietly(argv) -> tuple[int, str, str]:
    """main(argv) with its stdout and stderr caught (a module fixture has no capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def report(dataset, constant_output):
    """One run for the method and the ground truth: (folder, its JSON, its argv without --json)."""
    out = dataset.parent / "report"
    argv = ["maps", str(dataset), str(constant_output), "--label", "constant", "--ground-truth", "--out", str(out)]
    code, stdout, stderr = run_quietly([*argv, "--json"])
    assert code == 0, stderr
    return out, json.loads(stdout), argv


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_each_well_of_the_method_and_of_the_ground_truth(dataset, report):
    _, printed, _ = report
    method, truth = printed["maps"]
    assert method["label"] == "constant" and truth["label"] == "ground truth"
    assert method["reconstructor"].startswith("relion_reconstruct 3.")
    assert "accuracy 8.3 %" in method["note"]                       # one well in twelve found
    assert [w["n_particles"] for w in method["wells"]] == [N] + [0] * 11
    assert method["wells_with_map"] == 1
    assert all(w["map"] is None and w["correlation"] is None and w["resolution_fsc05_A"] is None
               for w in method["wells"][1:])
    counts = np.bincount(np.load(dataset / "ground_truth.npz")["well"], minlength=13)[1:]
    assert [w["n_particles"] for w in truth["wells"]] == counts.tolist()
    assert truth["wells_with_map"] == 12
    for w in truth["wells"]:
        assert w["correlation"] > 0.9 and 23.0 < w["resolution_fsc0143_A"] <= w["resolution_fsc05_A"] < 80.0
    # well 1's map from every particle is a blur of all conformations; from its own it is not
    assert truth["wells"][0]["correlation"] > method["wells"][0]["correlation"]
    assert truth["mean"]["correlation"] == pytest.approx(np.mean([w["correlation"] for w in truth["wells"]]))


def test_the_tables_and_the_job_folders_are_written(report):
    out, printed, _ = report
    rows = read_csv(out / "maps_constant.csv")
    assert [r["well"] for r in rows] == [str(w) for w in range(1, 13)] + ["mean"]
    assert rows[1]["correlation"] == "" and rows[-1]["n_particles"] == str(N)
    assert float(rows[0]["correlation"]) == pytest.approx(printed["maps"][0]["wells"][0]["correlation"], rel=1e-5)
    fsc_rows = read_csv(out / "fsc_ground_truth.csv")
    assert len(fsc_rows) == 17 and float(fsc_rows[0]["well_01"]) == pytest.approx(1.0)    # shells 0..16
    assert float(fsc_rows[-1]["resolution_A"]) == pytest.approx(2 * 11.837, rel=1e-3)     # Nyquist
    assert (out / "ground_truth/maps/well_12.mrc").is_file() and (out / "constant/subsets/well_01.star").is_file()


def test_the_same_command_again_reuses_the_maps_and_prints_the_table(report, capsys):
    _, printed, argv = report
    assert main(argv) == 0
    text = capsys.readouterr().out
    print(text)
    assert "well  particles  FSC 0.5 (A)  FSC 0.143 (A)  correlation" in text
    assert text.count("no particle assigned") == 11
    assert "over 1 of 12 wells" in text and "over 12 of 12 wells" in text
    assert f"{printed['maps'][1]['mean']['correlation']:.4f}" in text


def test_the_ground_truth_alone_needs_no_output(dataset, report, capsys):
    out, printed, _ = report
    assert main(["maps", str(dataset), "--ground-truth", "--out", str(out), "--json"]) == 0
    (truth,) = json.loads(capsys.readouterr().out)["maps"]
    assert truth == printed["maps"][1] and math.isfinite(truth["mean"]["resolution_fsc05_A"])


def test_max_particles_reconstructs_from_a_random_subset(dataset, constant_output, tmp_path, capsys):
    out = tmp_path / "capped"
    assert main(["maps", str(dataset), str(constant_output), "--label", "constant", "--max-particles", "40",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "at most 40 particles a well, drawn at random (seed 0)" in text
    assert f"   1     40/{N}  " in text
    row = read_csv(out / "maps_constant.csv")[0]
    assert (row["n_particles"], row["n_assigned"]) == ("40", str(N))


def test_the_ideal_observer_s_bayes_labels_make_maps_as_good_as_the_truth_s(dataset, report, tmp_path, capsys):
    from engine.scoring.ceiling_dataset import dataset_ceiling

    out, printed, _ = report
    assert main(["maps", str(dataset), "--ideal-observer", "--subsample", str(N), "--out", str(out), "--json"]) == 0
    (ideal,) = json.loads(capsys.readouterr().out)["maps"]
    ceiling = dataset_ceiling(dataset, N, seed=0, workers=1)       # what evaluate --ceiling --subsample N uses
    assert ideal["label"] == "ideal observer"
    assert f"on {N} random particles (seed 0): accuracy {100 * ceiling.ceiling.accuracy:.1f} %" in ideal["note"]
    expected = np.bincount(ceiling.bayes_labels(N), minlength=13)[1:]
    assert [w["n_particles"] for w in ideal["wells"]] == expected.tolist() and expected.sum() == N
    assert ceiling.ceiling.accuracy > 0.9                                      # SNR 10: nearly every label right
    truth = printed["maps"][1]
    # nearly every particle in its true well: the low-passed maps agree with the truth's
    # as well as the maps of the true labels do
    assert ideal["mean"]["correlation_lowpass"] > truth["mean"]["correlation_lowpass"] - 0.01
    assert ideal["wells_with_map"] == 12


@pytest.mark.parametrize("extra, message", [
    ([], "give an OUTPUT, --ground-truth or --ideal-observer (or several)"),
    (["--ideal-observer", "--subsample", "0"], "--subsample: needs at least 1 particle (got 0)"),
    (["OUTPUT", "--dims", "x"], "--dims: expected 0-based numbers separated by commas, or 'all' (got 'x')"),
    (["OUTPUT", "--label", "ground truth", "--ground-truth"], "would share the ground truth's files"),
    (["--ground-truth", "--lowpass", "0"], "--lowpass: expected a resolution in Angstrom > 0, got 0"),
    (["--ground-truth", "--lowpass", "nan"], "--lowpass: expected a resolution in Angstrom > 0, got nan"),
])
def test_refusals_name_the_problem(dataset, constant_output, tmp_path, capsys, extra, message):
    extra = [str(constant_output) if a == "OUTPUT" else a for a in extra]
    assert main(["maps", str(dataset), *extra, "--out", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_ground_truth_file_is_not_enough(dataset, tmp_path, capsys):
    assert main(["maps", str(dataset / "ground_truth.npz"), "--ground-truth", "--out", str(tmp_path / "r")]) == 2
    assert "needs a dataset folder" in capsys.readouterr().err


def test_without_relion_it_says_how_to_install_it(dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["maps", str(dataset), "--ground-truth", "--out", str(tmp_path / "r")]) == 2
    assert "relion_reconstruct was not found on PATH. Install it: apt-get install relion" in capsys.readouterr().err


def test_lowpass_keeps_what_is_coarser_than_the_cutoff_and_removes_what_is_finer():
    """A Fourier filter: a wave at 80 A passes untouched, one at 22.9 A (finer than 30 A) is
    gone, and one on the cutoff is halved (the raised-cosine edge is centred there)."""
    d, apix = 32, 10.0                                   # shells of 1 / 320 A^-1; 30 A is shell 10.67
    z = np.arange(d)[:, None, None] * np.ones((1, d, d))
    coarse, fine = np.cos(2 * np.pi * 4 * z / d), np.cos(2 * np.pi * 14 * z / d)   # 80 A and 22.9 A
    np.testing.assert_allclose(lowpass(coarse + fine, apix, 30.0), coarse, atol=1e-12)
    on_edge = np.cos(2 * np.pi * 8 * z / d)              # 40 A: the edge centred on 1/40 A^-1
    np.testing.assert_allclose(lowpass(on_edge, apix, 40.0), 0.5 * on_edge, atol=1e-12)
    with pytest.raises(ValueError, match="cutoff_A"):
        lowpass(coarse, apix, 0.0)


def test_the_low_passed_correlation_column(dataset, report, capsys):
    """Both maps low-passed to 30 A (the default) in the truth's soft mask: the number the
    command prints is that correlation, above the unfiltered one for the true labels (part of
    their noise is finer than 30 A; Nyquist is 23.7 A here), and it tells the method's blurred
    well 1 from the truth's."""
    out, printed, argv = report
    method, truth = printed["maps"]
    assert method["lowpass_A"] == truth["lowpass_A"] == 30.0
    w1 = truth["wells"][0]
    volume, apix = read_map(w1["map"])
    reference, _ = read_map(dataset / "maps/well_01.mrc")
    expected = real_space_correlation(lowpass(volume, apix, 30.0), lowpass(reference, apix, 30.0),
                                      make_soft_mask(reference, apix))
    assert w1["correlation_lowpass"] == pytest.approx(expected, rel=1e-9)
    for w in truth["wells"]:
        assert w["correlation_lowpass"] > max(0.9, w["correlation"])
    assert truth["wells"][0]["correlation_lowpass"] > method["wells"][0]["correlation_lowpass"]
    assert method["wells"][1]["correlation_lowpass"] is None
    assert truth["mean"]["correlation_lowpass"] == pytest.approx(
        np.mean([w["correlation_lowpass"] for w in truth["wells"]]))
    rows = read_csv(out / "maps_ground_truth.csv")
    assert float(rows[0]["correlation_lowpass"]) == pytest.approx(w1["correlation_lowpass"], rel=1e-5)
    assert main([*argv, "--lowpass", "60"]) == 0                   # the maps reused, the column again
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if line.startswith("well  particles"))
    assert header.endswith("correlation   corr. 60 A") and "low-passed to 60 A" in text
    assert read_csv(out / "maps_ground_truth.csv")[0]["correlation_lowpass"] != rows[0]["correlation_lowpass"]


def test_the_well_maps_job_gives_the_commands_numbers_reports_progress_and_cancels(dataset, report, tmp_path):
    """engine.methods.well_maps.well_maps_job (the GUI's background job): the same numbers as
    the command for the same labels, progress rising to 1 over both labellings, and a cancel
    keeping the labellings done."""
    from engine.methods.well_map_scores import Labelling, well_maps_job

    _, printed, _ = report
    truth = np.load(dataset / "ground_truth.npz")["well"].astype(np.int64)
    constant = np.ones(N, dtype=np.int64)      # every particle in well 1, as the constant output gets
    seen = []
    job = well_maps_job(dataset, [Labelling("constant", constant), Labelling("ground truth", truth)], tmp_path, 12,
                        progress=seen.append)
    assert job.status == "complete" and job.reconstructor.startswith("relion_reconstruct 3.")
    assert [m.label for m in job.maps] == ["constant", "ground truth"] and job.lowpass_A == 30.0
    assert seen == sorted(seen) and seen[-1] == 1.0 and any(0.4 < f < 0.6 for f in seen)
    for maps, expected in zip(job.maps, printed["maps"]):
        for w, e in zip(maps.wells, expected["wells"]):
            assert w.n_particles == e["n_particles"]
            if e["map"] is not None:
                assert w.values()[2:] == pytest.approx((e["correlation"], e["correlation_lowpass"]), rel=1e-6)
    stop_after_first = []
    job = well_maps_job(dataset, [Labelling("constant", constant), Labelling("ground truth", truth)],
                        tmp_path / "again", 12, progress=stop_after_first.append,
                        should_stop=lambda: bool(stop_after_first) and stop_after_first[-1] >= 0.5)
    assert job.status == "cancelled" and [m.label for m in job.maps] == ["constant"]

"""Comparison model: loads in the background, scores with the engine's metric, follows the
settings live (at once for small data, through the job runner for big data), refuses bad
files without changing anything."""
import numpy as np
import pytest

from comparison_data import dataset_and_outputs, noisy_truth
from engine.scoring.comparison import core_mask
from engine.formats.dataset import load_dataset
from engine.formats.loaders import load_output
from engine.scoring.metric import score
import gui.widgets.jobs as jobs
from gui.comparison.comparison_model import ComparisonModel


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return dataset_and_outputs(tmp_path_factory.mktemp("comparison"), n=6000)


@pytest.fixture
def model(qtbot, files):
    folder, npy, pkl, _ = files
    m = ComparisonModel()
    m.open_dataset(folder)
    m.add_output(npy, label="noisy truth")
    m.add_output(pkl)
    assert m.wait_idle()
    yield m
    m.shutdown()


def test_loads_dataset_and_outputs_and_scores_them_like_the_engine(model, files):
    folder, npy, pkl, gt = files
    assert model.dataset.n_particles == 6000 and model.dataset.n_wells == 12
    assert [m.label for m in model.methods] == ["noisy truth", "cryoDRGN z"]
    assert [m.kind for m in model.methods] == ["generic", "cryodrgn"]
    ds = load_dataset(folder)
    for entry, path in zip(model.methods, (npy, pkl)):
        expected = score(ds, load_output(path, ds), dims=(0, 1))
        assert entry.scores.accuracy == pytest.approx(expected.accuracy, abs=1e-12)
        assert entry.scores.recall_std == pytest.approx(expected.recall_std, abs=1e-12)
        np.testing.assert_array_equal(entry.scores.confusion, expected.confusion)
    # the noisy copy of the truth (2 deg noise, wells ~8 deg apart) beats the rotated noisier latent
    assert model.methods[0].scores.accuracy > 0.8 > model.methods[1].scores.accuracy > 1 / 12
    assert model.current == 0
    # recovered landscapes: G = 0 in the most populated bin, and the truth's histogram too
    for entry in model.methods:
        assert np.nanmin(entry.landscape.free_energy) == 0.0
    assert model.truth_landscape.counts.sum() + model.truth_landscape.n_outside == 6000


def test_settings_rescore_every_method(model, files):
    _, _, pkl, gt = files
    seen = []
    model.sigScoresChanged.connect(lambda: seen.append(model.methods[1].scores.accuracy))
    ds = model.dataset
    out = model.methods[1].output
    model.update_settings(dims=(0, 1, 2, 3))
    assert seen[-1] == pytest.approx(score(ds, out, dims=(0, 1, 2, 3)).accuracy)
    assert model.methods[1].scores.dims == (0, 1, 2, 3)
    # the .npy has 2 dimensions only: its row reports why instead of a number
    assert model.methods[0].scores is None and "dimension 2 does not exist" in model.methods[0].error
    model.update_settings(dims=(0, 1), wells={1, 2, 3, 4})
    expected = score(ds, out, dims=(0, 1), wells=[1, 2, 3, 4])
    assert list(model.methods[1].scores.wells) == [1, 2, 3, 4]
    assert model.methods[1].scores.accuracy == pytest.approx(expected.accuracy)
    assert model.methods[1].scores.n_scored == int(np.isin(gt.well, [1, 2, 3, 4]).sum())
    # a core radius re-labels far particles as transition: fewer scored, and the metric on
    # the core is what the engine gives on a ground truth with those core flags
    model.update_settings(wells=None, core_only=True, core_radius_deg=3.0)
    core = core_mask(gt, 3.0)
    assert 0 < core.sum() < len(core)
    assert model.methods[1].scores.n_scored == int(core.sum())
    import dataclasses
    expected = score(dataclasses.replace(gt, core=core), out, dims=(0, 1), core_only=True)
    assert model.methods[1].scores.accuracy == pytest.approx(expected.accuracy)
    np.testing.assert_array_equal(model.scored_mask(), core)


def test_big_data_scores_in_the_background_and_only_the_last_settings_apply(qtbot, files, monkeypatch):
    folder, npy, pkl, gt = files
    monkeypatch.setattr(jobs, "SYNC_LIMIT_ROWS", 0)  # everything in the background, as for 3,000,000 particles
    m = ComparisonModel()
    m.open_dataset(folder)
    m.add_output(pkl)
    assert m.wait_idle()
    assert m.methods[0].scores.dims == (0, 1)
    with qtbot.waitSignal(m.sigScoresChanged, timeout=30_000):
        m.update_settings(dims=(1, 0))
        m.update_settings(dims=(0, 1, 2))  # cancels the first job
        # the calls returned at once: the work goes on in the background
        assert m.busy and m.methods[0].scores.dims == (0, 1)
    assert m.wait_idle()
    assert m.methods[0].scores.dims == (0, 1, 2) and m.settings.dims == (0, 1, 2)
    expected = score(m.dataset, m.methods[0].output, dims=(0, 1, 2))
    assert m.methods[0].scores.accuracy == pytest.approx(expected.accuracy)
    m.shutdown()


def test_bad_files_are_reported_and_change_nothing(model, files, tmp_path):
    folder, npy, pkl, gt = files
    failures = []
    model.sigLoadFailed.connect(lambda title, text: failures.append(text))
    before = [(m.label, m.scores.accuracy) for m in model.methods]
    short = tmp_path / "short.npy"
    np.save(short, noisy_truth(gt)[:100])
    model.add_output(short)
    model.add_output(npy, kind="cryosparc")  # wrong loader chosen by the user
    model.open_dataset(tmp_path)             # not a dataset folder
    assert model.wait_idle()
    assert len(failures) == 3
    assert str(short) in failures[0] and "100 rows" in failures[0] and "6000 particles" in failures[0]
    assert str(npy) in failures[1]
    assert str(tmp_path) in failures[2] and "ground_truth.npz" in failures[2]
    assert [(m.label, m.scores.accuracy) for m in model.methods] == before
    assert model.dataset.source == str(folder)


def test_names_current_method_and_removal(model):
    renamed = []
    model.sigLabelChanged.connect(lambda row, label: renamed.append((row, label)))
    assert model.set_label(1, "  cryoDRGN  ")
    assert not model.set_label(1, "   ")  # an empty name is refused
    assert model.methods[1].label == "cryoDRGN" and model.methods[1].output.label == "cryoDRGN"
    assert renamed == [(1, "cryoDRGN")]
    model.next_method()
    assert model.current == 1
    model.next_method()
    assert model.current == 0  # wraps
    model.next_method(-1)
    assert model.current == 1
    model.remove_method(1)
    assert model.current == 0 and [m.label for m in model.methods] == ["noisy truth"]


def test_outputs_need_a_dataset_first(qtbot, files):
    m = ComparisonModel()
    failures = []
    m.sigLoadFailed.connect(lambda title, text: failures.append(text))
    m.add_output(files[2])
    assert m.wait_idle()
    assert m.methods == [] and "open a dataset first" in failures[0]


def test_background_scoring_without_methods_ends_with_a_clear_status(qtbot, files, monkeypatch):
    """A dataset scored in the background before any method is loaded: the status never says
    "Scoring 0 methods" and ends on a ready line, not on a progress message."""
    monkeypatch.setattr(jobs, "SYNC_LIMIT_ROWS", 0)  # everything in the background
    m = ComparisonModel()
    statuses = []
    m.sigStatus.connect(statuses.append)
    m.open_dataset(files[0])
    assert m.wait_idle()
    assert not any("Scoring 0" in s for s in statuses)
    assert statuses[-1].startswith("Ready") and "add method outputs" in statuses[-1]
    m.shutdown()


def test_method_names_stay_unique_on_add_and_rename(model, files):
    folder, npy, pkl, _ = files
    model.add_output(npy, label="noisy truth")
    model.add_output(npy, label="noisy truth")
    assert model.wait_idle()
    assert [m.label for m in model.methods] == ["noisy truth", "cryoDRGN z", "noisy truth (2)", "noisy truth (3)"]
    assert model.set_label(1, "noisy truth")
    assert model.methods[1].label == "noisy truth (4)" and model.methods[1].output.label == "noisy truth (4)"
    assert model.set_label(2, "PCA") and model.set_label(1, "noisy truth (2)")
    assert len({m.label for m in model.methods}) == 4


def test_small_and_big_data_give_the_same_scores_and_signals(qtbot, files, monkeypatch):
    """The same files and edits, one at a time, scored inline (the default for 6,000
    particles) and in the background (JobRunner's threshold at 0): equal scores, the same
    status lines and score updates in the same order."""
    folder, npy, pkl, _ = files

    def session(sync_limit_rows: int):
        monkeypatch.setattr(jobs, "SYNC_LIMIT_ROWS", sync_limit_rows)
        m = ComparisonModel()
        seen = []
        m.sigStatus.connect(lambda text: seen.append(text) if "%" not in text else None)  # progress is timed
        m.sigScoresChanged.connect(lambda: seen.append("scores changed"))
        for step in (lambda: m.open_dataset(folder), lambda: m.add_output(npy, label="noisy truth"),
                     lambda: m.add_output(pkl), lambda: m.update_settings(dims=(0, 1, 2)),
                     lambda: m.update_settings(core_only=True, wells={1, 2, 3})):
            step()
            assert m.wait_idle()
        scores = [(e.label, e.error, None if e.scores is None else
                   (e.scores.accuracy, e.scores.recall.tolist(), e.scores.confusion.tolist())) for e in m.methods]
        m.shutdown()
        return scores, seen

    inline, background = session(jobs.SYNC_LIMIT_ROWS), session(0)
    assert inline == background
    scores, seen = inline
    assert scores[0][2] is None and "dimension 2" in scores[0][1]  # the .npy has two dimensions
    assert scores[1][2] is not None and "scores changed" in seen

"""Comparison project files from the GUI: save, reopen in a fresh model as it was, the recent
list, missing outputs reported while the rest loads, bad files named; `elbench gui PROJECT`."""
from __future__ import annotations

import json

import pytest
from comparison_data import dataset_and_outputs

import main
from engine.formats.comparison_project import load_project
from engine.methods.catalog import MethodRun
from gui.comparison.comparison_model import ComparisonModel
from gui.comparison.project_actions import ProjectActions
from comparison_tab_fixtures import gui_command_window


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return dataset_and_outputs(tmp_path_factory.mktemp("project"), n=3000)


@pytest.fixture
def saved(qtbot, files, tmp_path):
    """A comparison of two outputs (one from a cryoDRGN run), settings changed, saved."""
    folder, npy, pkl, _ = files
    model = ComparisonModel()
    project = ProjectActions(model)
    model.open_dataset(folder)
    model.add_output(npy, label="noisy truth")
    model.add_output(pkl, kind="cryodrgn", label="cryoDRGN run 1")
    assert model.wait_idle()
    model.update_settings(dims=(1, 0), core_only=True, core_radius_deg=5.0, wells={2, 5, 7})
    model.set_current(1)
    assert model.wait_idle()
    (pkl.parent / "job").mkdir(exist_ok=True)
    project.record_run(MethodRun("cryodrgn", "complete", pkl.parent / "job", pkl, "cryodrgn"))
    path = tmp_path / "study.elbench.json"
    assert project.save_to(path)
    yield model, project, path
    model.shutdown()


def reopen(path):
    model = ComparisonModel()
    project = ProjectActions(model)
    problems = []
    project.sigProblem.connect(lambda title, text: problems.append((title, text)))
    opened = project.open_project(path)
    assert model.wait_idle()
    return model, project, opened, problems


def test_reopened_in_a_fresh_model_it_is_as_it_was(saved, files):
    old, _, path = saved
    model, project, opened, problems = reopen(path)
    try:
        assert opened and problems == []
        assert model.dataset.n_particles == 3000 and model.dataset.root == old.dataset.root
        assert [m.label for m in model.methods] == ["noisy truth", "cryoDRGN run 1"]
        assert [m.kind for m in model.methods] == ["generic", "cryodrgn"]
        assert [m.output.n_dims for m in model.methods] == [m.output.n_dims for m in old.methods] == [2, 4]
        assert [m.path for m in model.methods] == [str(p.resolve()) for p in (files[1], files[2])]
        assert model.settings == old.settings and model.settings.wells == frozenset({2, 5, 7})
        assert model.current == 1
        for new, before in zip(model.methods, old.methods):
            assert new.scores.accuracy == pytest.approx(before.scores.accuracy, abs=1e-12)
            assert new.scores.dims == (1, 0)
        assert project.path == path
        assert project.runs[str(files[2].resolve())].method == "cryodrgn"
        assert project.runs[str(files[2].resolve())].job_dir == (files[2].parent / "job").resolve()
        on_disk = load_project(path)
        assert on_disk.outputs[1].run.job_dir == (files[2].parent / "job").resolve()
        assert json.loads(path.read_text())["outputs"][0]["path"].startswith("../")  # relative
    finally:
        model.shutdown()


def test_recent_list_newest_first_and_reopens_from_its_menu(saved, tmp_path):
    old, project, path = saved
    other = tmp_path / "other.elbench.json"
    assert project.save_to(other)
    assert project.recent() == [str(other.resolve()), str(path.resolve())]
    fresh = ComparisonModel()
    again = ProjectActions(fresh)  # a new session reads the same list
    try:
        actions = [a for a in again.recent_menu.actions() if not a.isSeparator()]
        assert [a.text() for a in actions] == ["&1 other.elbench.json", "&2 study.elbench.json", "Clear list"]
        actions[1].trigger()
        assert fresh.wait_idle()
        assert [m.label for m in fresh.methods] == ["noisy truth", "cryoDRGN run 1"]
        assert again.recent()[0] == str(path.resolve())
        actions = [a for a in again.recent_menu.actions() if not a.isSeparator()]
        actions[-1].trigger()
        assert again.recent() == [] and not again.recent_menu.isEnabled()
    finally:
        fresh.shutdown()


def test_missing_output_is_reported_and_the_rest_loads(saved, tmp_path, files):
    _, _, path = saved
    doc = json.loads(path.read_text())
    doc["outputs"].insert(0, {"path": "gone/z.9.pkl", "label": "lost run", "kind": "cryodrgn", "n_dims": 4,
                              "run": None})
    doc["current"] = 2
    moved = tmp_path / "with_missing.elbench.json"
    moved.write_text(json.dumps(doc))
    model, _, opened, problems = reopen(moved)
    try:
        assert opened
        assert [m.label for m in model.methods] == ["noisy truth", "cryoDRGN run 1"]
        assert model.current == 1  # "cryoDRGN run 1", saved as current, is shown
        assert len(problems) == 1 and problems[0][0] == "Comparison opened with files missing"
        assert str(moved) in problems[0][1] and 'output "lost run"' in problems[0][1]
        assert str((tmp_path / "gone" / "z.9.pkl").resolve()) in problems[0][1]
    finally:
        model.shutdown()


def test_bad_project_file_is_named_and_changes_nothing(saved, tmp_path):
    old, project, path = saved
    bad = tmp_path / "broken.elbench.json"
    bad.write_text('{"format": "elbench comparison project", "version": 1, "dataset": ')
    problems = []
    project.sigProblem.connect(lambda title, text: problems.append((title, text)))
    labels = [m.label for m in old.methods]
    assert not project.open_project(bad)
    assert problems == [("Cannot open comparison", f"{bad}: is not valid JSON (line 1, column 67: "
                                                   "Expecting value)")]
    assert [m.label for m in old.methods] == labels and project.path == path
    gone = tmp_path / "gone.elbench.json"
    project._remember_recent(gone)
    assert not project.open_project(gone)
    assert problems[-1][1] == f"{gone}: no such file" and str(gone.resolve()) not in project.recent()


def test_save_without_a_dataset_says_why(qtbot, tmp_path):
    model = ComparisonModel()
    project = ProjectActions(model)
    problems = []
    project.sigProblem.connect(lambda title, text: problems.append((title, text)))
    assert not project.action_save.isEnabled()
    assert not project.save_to(tmp_path / "p.elbench.json")
    assert problems[0][0] == "Cannot save comparison" and "open a dataset first" in problems[0][1]
    assert not (tmp_path / "p.elbench.json").exists()
    model.shutdown()


def test_gui_command_opens_a_saved_comparison_from_the_file_menu_project(qtbot, saved, monkeypatch):
    _, _, path = saved
    window = gui_command_window(qtbot, monkeypatch, ["gui", str(path)])
    model = window.comparison.model
    assert model.wait_idle()
    assert window.tabs.currentWidget() is window.comparison
    assert [m.label for m in model.methods] == ["noisy truth", "cryoDRGN run 1"]
    file_menu = window.menuBar().actions()[0].menu()
    texts = [a.text() for a in file_menu.actions()]
    assert {"Open comparison…", "Recent comparisons", "Save comparison", "Save comparison as…"} <= set(texts)
    assert window.project.action_save.isEnabled()
    window.comparison.shutdown()


def test_gui_command_refuses_a_bad_project_or_outputs_with_one(saved, tmp_path, capsys):
    _, _, path = saved
    with pytest.raises(SystemExit):
        main.main(["gui", str(path), "extra.npy"])
    assert "is a saved comparison: it holds its outputs" in capsys.readouterr().err
    bad = tmp_path / "landscape.json"
    bad.write_text('{"wells": []}')
    with pytest.raises(SystemExit):
        main.main(["gui", str(bad)])
    assert f"{bad}: is not an elbench comparison project" in capsys.readouterr().err

"""`elbench gui DATASET OUTPUT ... --label NAME`: the Comparison tab opens on the dataset with the
outputs added and scored, as `evaluate` on the same files would score them."""
from __future__ import annotations

import pytest
from comparison_data import make_dataset, make_outputs

import main
from engine.formats.dataset import load_dataset
from engine.formats.loaders import load_output
from engine.scoring.metric import score
from comparison_tab_fixtures import gui_command_window


def test_gui_command_opens_the_comparison_with_the_outputs_scored(qtbot, tmp_path, monkeypatch):
    folder, gt, _ = make_dataset(tmp_path / "ds", n=3000)
    npy, pkl = make_outputs(tmp_path / "out", gt)
    window = gui_command_window(qtbot, monkeypatch, ["gui", str(folder), str(pkl), str(npy), "--label", "cryoDRGN", "--label", "-"])
    model = window.comparison.model
    assert model.wait_idle()
    assert window.tabs.currentWidget() is window.comparison
    assert [m.label for m in model.methods] == ["cryoDRGN", "generic noisy_truth.npy"]  # "-": the default name
    dataset = load_dataset(folder)
    expected = score(dataset, load_output(str(pkl), dataset))
    assert model.methods[0].scores.accuracy == pytest.approx(expected.accuracy, abs=1e-12)
    window.comparison.shutdown()


def test_gui_command_refuses_labels_that_do_not_match_the_outputs(capsys):
    with pytest.raises(SystemExit):
        main.main(["gui", "ds", "a.npy", "b.npy", "--label", "x", "--label", "y", "--label", "z"])
    assert "--label is given 3 times for 2 OUTPUT(s)" in capsys.readouterr().err

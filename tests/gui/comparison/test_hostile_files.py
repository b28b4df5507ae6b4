"""The Comparison tab given hostile files (issue 11): the engine's message, naming the file and
what is wrong, in a message box, nothing changed, and no traceback; a dataset that fails
verification against its manifest is warned about without blocking, checked off the GUI thread."""
import json
import os
import threading

import numpy as np
import pandas as pd
import pytest
import starfile

import gui.comparison.dataset_check as dataset_check
from comparison_data import make_dataset
from engine.formats.dataset import DatasetError, load_dataset
from engine.formats.loaders import LoaderError, load_output
from engine.landscape.presets import load_preset
from gui.comparison.comparison_tab import ComparisonTab
from gui.model.document import LandscapeDocument

N = 300


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("hostile") / "ds", n=N, seed=4)[0]


@pytest.fixture
def tab(qtbot):
    tab = ComparisonTab(LandscapeDocument(load_preset("paper-3x4")))
    qtbot.addWidget(tab)
    yield tab
    tab.shutdown()


def _engine_message(path, dataset) -> str:
    with pytest.raises(LoaderError) as caught:
        load_output(path, dataset)
    return str(caught.value)


def test_bad_outputs_show_the_engines_message(tab, folder, tmp_path, message_boxes, capfd):
    tab.open_dataset(folder)
    assert tab.model.wait_idle()
    dataset = load_dataset(folder)
    table = pd.DataFrame({"rlnImageName": dataset.image_names, "x": np.arange(N, dtype=float), "y": np.ones(N)})
    table = table.astype({"x": object})
    table.loc[5, "x"] = "abc"
    starfile.write({"particles": table}, tmp_path / "text.star")
    table.to_csv(tmp_path / "text.csv", index=False)
    (tmp_path / "cut.csv").write_text("index,x,y\n0,1.5,2\n1,3.25")
    os.mkfifo(tmp_path / "pipe.npy")
    paths = [tmp_path / name for name in ("text.star", "text.csv", "cut.csv", "pipe.npy")]
    expected = [_engine_message(path, dataset) for path in paths]
    tab.add_outputs(paths)
    assert tab.model.wait_idle()
    assert message_boxes.warnings == expected
    assert expected[0].endswith("text.star: row 6, column 'x': 'abc' is not a number")
    assert expected[1].endswith("text.csv: row 6, column 'x': 'abc' is not a number")
    assert "cut.csv: does not end with a line break" in expected[2]
    assert expected[3].endswith("pipe.npy: is a named pipe (FIFO), not a regular file")
    assert tab.model.methods == [] and "Traceback" not in capfd.readouterr().err


def test_a_bad_dataset_shows_the_engines_message(tab, folder, tmp_path, message_boxes):
    bad = tmp_path / "empty_wells"
    bad.mkdir()
    (bad / "ground_truth.npz").write_bytes((folder / "ground_truth.npz").read_bytes())
    land = json.loads((folder / "landscape.json").read_text())
    (bad / "landscape.json").write_text(json.dumps({**land, "wells": []}))
    piped = tmp_path / "piped"
    piped.mkdir()
    os.mkfifo(piped / "ground_truth.npz")
    for path in (bad, piped):
        with pytest.raises(DatasetError) as caught:
            load_dataset(path)
        tab.open_dataset(path)
        assert tab.model.wait_idle()
        assert message_boxes.warnings[-1] == str(caught.value)
    assert "landscape.json: wells: the list is empty" in message_boxes.warnings[0]
    assert "ground_truth.npz: is a named pipe (FIFO)" in message_boxes.warnings[1]
    assert tab.model.dataset is None


def test_a_dataset_that_fails_verification_is_warned_about_off_the_gui_thread(tab, folder, qtbot, monkeypatch,
                                                                              message_boxes):
    threads = []

    def verify(path):
        threads.append(threading.current_thread())
        return ["particles/particles_00000.mrcs: sha256 differs from the manifest"]

    monkeypatch.setattr(dataset_check, "verify_dataset", verify)
    (folder / "manifest.json").write_text("{}")
    try:
        tab.open_dataset(folder)
        qtbot.waitUntil(lambda: tab.problems_label.isVisibleTo(tab), timeout=10_000)
    finally:
        (folder / "manifest.json").unlink()
    assert "particles_00000.mrcs: sha256 differs from the manifest" in tab.problems_label.text()
    assert threads and threads[0] is not threading.main_thread()
    assert tab.model.dataset is not None and message_boxes.warnings == []  # a warning, not a stop
    tab.open_dataset(folder)  # no manifest: nothing to check, and the old warning goes
    assert tab.model.wait_idle()
    qtbot.waitUntil(lambda: not tab.problems_label.isVisibleTo(tab), timeout=10_000)
    assert len(threads) == 1

"""The ceiling-against-SNR plot on a tiny dataset simulated by elbench: one point per SNR typed,
accuracy rising with SNR, the dataset's SNR marked with the methods' scores on it, chance at
1 / wells; bad SNR text refused, a cancel keeps what was done, a dataset not made by elbench
cannot run and says why."""
import math
import time

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from comparison_data import make_dataset
from elbench_data import DATASET_SNR, elbench_dataset, opened
import gui.comparison.snr_sweep_view as sweep_view
from gui.comparison.snr_sweep_view import CANCEL_TEXT, DEFAULT_SNRS, RUN_TEXT, SnrSweepView, parse_snrs

SNRS = "10, 0.01,0.3"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return elbench_dataset(tmp_path_factory.mktemp("sweep"))


@pytest.fixture
def view(qtbot, model):
    v = SnrSweepView(model)
    qtbot.addWidget(v)
    yield v
    v.shutdown()


def items(view, kind):
    return [i for i in view.plot.items if isinstance(i, kind)]


def test_sweep_plots_one_point_per_snr_rising_with_snr(view, model, files, qtbot):
    opened(model, *files)
    assert view.snr_edit.text() == DEFAULT_SNRS and view.button.isEnabled()
    view.snr_edit.setText(SNRS)
    view.particles.setValue(48)
    with qtbot.waitSignal(view.runner.sigFinished, timeout=60_000):
        qtbot.mouseClick(view.button, Qt.MouseButton.LeftButton)
        assert view.button.text() == CANCEL_TEXT
    assert view.button.text() == RUN_TEXT and view.snr_edit.text() == "0.01,0.3,10"   # sorted
    shown = view.plotted()
    snrs, accuracy = shown["ceiling"]
    assert snrs == [0.01, 0.3, 10.0] and len(accuracy) == 3
    assert accuracy[0] < accuracy[1] < accuracy[2] and accuracy[2] > 0.8 and accuracy[0] < 0.3
    assert all(lo <= a <= hi for a, lo, hi in zip(accuracy, *shown["ci"]))
    dots = next(i for i in items(view, pg.ScatterPlotItem) if i.name() == "ideal observer (ceiling)")
    x, y = dots.getData()
    np.testing.assert_allclose(x, np.log10(snrs))
    np.testing.assert_allclose(y, 100 * np.array(accuracy))
    bars = items(view, pg.ErrorBarItem)
    assert len(bars) == 1 and len(bars[0].opts["x"]) == 3
    # the dataset's SNR: a vertical line, the method's accuracy drawn on it; chance across
    assert shown["dataset_snr"] == pytest.approx(DATASET_SNR) and shown["chance"] == pytest.approx(1 / 12)
    lines = items(view, pg.InfiniteLine)
    assert {(line.angle, round(line.value(), 6)) for line in lines} == {(90, 0.0), (0, round(100 / 12, 6))}
    method = model.methods[0].scores.accuracy
    assert shown["methods"] == {"noisy truth": method}
    point = next(i for i in items(view, pg.ScatterPlotItem) if i.name().startswith("noisy truth"))
    assert point.getData()[0][0] == pytest.approx(math.log10(DATASET_SNR))
    assert point.getData()[1][0] == pytest.approx(100 * method)
    assert "3 SNRs" in view.status.text()


def test_bad_snr_text_is_refused_with_the_problem(view, model, files):
    opened(model, files[0])
    for text, problem in (("0.1, abc", "expected numbers"), ("0, 1", "must be a number > 0"), (" ", "none given")):
        view.snr_edit.setText(text)
        assert not view.run() and problem in view.status.text() and not view.runner.is_running()
    with pytest.raises(ValueError, match="> 0"):
        parse_snrs("-1")


def test_cancel_keeps_the_snrs_done(view, model, files, qtbot, monkeypatch):
    """The engine's sweep, held once two SNRs are done until the user's cancel reaches it (so
    the test does not race the worker); the two SNRs are plotted, the rest never run."""
    real = sweep_view.dataset_snr_sweep

    def held_after_two(folder, snrs, progress=None, should_stop=None, **kwargs):
        def report(fraction):
            progress(fraction)
            if fraction >= 2 / len(snrs):
                deadline = time.monotonic() + 30
                while not should_stop() and time.monotonic() < deadline:
                    time.sleep(0.01)
        return real(folder, snrs, progress=report, should_stop=should_stop, **kwargs)

    monkeypatch.setattr(sweep_view, "dataset_snr_sweep", held_after_two)
    opened(model, files[0])
    view.snr_edit.setText("0.01,0.03,0.1,0.3,1,3,10")
    view.particles.setValue(48)

    def cancel_after_two(fraction):
        if fraction >= 2 / 7 and view.button.text() == CANCEL_TEXT:
            view.button.click()

    view.runner.sigProgress.connect(cancel_after_two)
    with qtbot.waitSignal(view.runner.sigCancelled, timeout=60_000):
        assert view.run()
    assert view.plotted()["ceiling"][0] == [0.01, 0.03] and view.status.text() == "Cancelled after 2 SNRs"
    assert len(items(view, pg.ErrorBarItem)[0].opts["x"]) == 2 and view.button.text() == RUN_TEXT


def test_dataset_not_made_by_elbench_cannot_run(view, model, tmp_path):
    folder, _, _ = make_dataset(tmp_path / "plain", n=400)
    opened(model, folder)
    assert not view.button.isEnabled() and view.status.text() == "Unavailable: not a dataset made by elbench"
    assert not view.run() and view.points == [] and view.plotted()["dataset_snr"] is None

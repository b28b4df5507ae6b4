"""The Comparison tab's "Ideal observer" bar, clicked like a user on a tiny dataset simulated by
elbench: compute the ceiling (progress, then its number and interval, the table's rows filled),
cancel it half-way, run it on a Dask cluster (or be told the address is wrong), and a dataset
not made by elbench disables the bar with the reason."""
import pytest
from PySide6.QtCore import Qt

from comparison_data import make_dataset
from elbench_data import elbench_dataset
from gui.comparison.ceiling_panel import CANCEL_TEXT, COMPUTE_TEXT
from gui.comparison.comparison_tab import ComparisonTab
from gui.comparison.comparison_table import COL_ACCURACY, COL_FRACTION
from gui.comparison.control_rows import DEFAULT_SUBSAMPLE, IDEAL_BAYES
from engine.landscape.presets import load_preset
from gui.model.document import LandscapeDocument


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return elbench_dataset(tmp_path_factory.mktemp("panel"))


@pytest.fixture
def tab(qtbot):
    tab = ComparisonTab(LandscapeDocument(load_preset("paper-3x4")))
    qtbot.addWidget(tab)
    tab.model.controls.workers = 1
    tab.resize(1400, 900)
    tab.show()
    yield tab
    tab.shutdown()


def opened(tab, folder, npy=None):
    tab.open_dataset(folder)
    if npy is not None:
        tab.add_outputs([npy])
    assert tab.model.wait_idle(background=True)
    return tab.ceiling_panel


def test_compute_shows_progress_then_the_ceiling(tab, files, qtbot):
    folder, npy = files
    panel = tab.ceiling_panel
    assert panel.subsample.value() == DEFAULT_SUBSAMPLE and not panel.button.isEnabled()  # no dataset yet
    opened(tab, folder, npy)
    assert panel.button.isEnabled() and panel.button.text() == COMPUTE_TEXT and panel.status.text() == "Not computed"
    panel.subsample.setValue(150)
    runner = tab.model.controls.ceiling_runner
    seen = []   # what the bar shows as each progress report arrives (after the controls' own slot)
    runner.sigProgress.connect(lambda f: seen.append((f, panel.progress.isVisibleTo(tab), panel.progress.value(),
                                                      panel.button.text())))
    with qtbot.waitSignal(runner.sigFinished, timeout=60_000):
        qtbot.mouseClick(panel.button, Qt.MouseButton.LeftButton)
        assert panel.button.text() == CANCEL_TEXT and not panel.subsample.isEnabled()
    assert seen and all(visible and value == round(100 * f) and text == CANCEL_TEXT
                        for f, visible, value, text in seen)
    assert seen[-1][0] == 1.0 and seen[0][0] < 1.0   # 150 particles: three pieces of 64
    ceiling = tab.model.controls.ceiling
    s, (lo, hi) = ceiling.ceiling, ceiling.ci[IDEAL_BAYES]
    assert len(ceiling.subsample) == 150 and 0.3 < s.accuracy < 1.0
    assert panel.status.text().startswith(f"Ceiling {100 * s.accuracy:.1f} % (95 % CI {100 * lo:.1f}-{100 * hi:.1f})"
                                          f" on 150 particles")
    assert panel.button.text() == COMPUTE_TEXT and not panel.progress.isVisibleTo(tab)
    assert tab.table.control_text(IDEAL_BAYES, COL_ACCURACY) == f"{100 * s.accuracy:.2f}"
    method = tab.model.methods[0].scores.accuracy
    assert tab.table.cell_text(0, COL_FRACTION) == f"{method / s.accuracy:.3f}"


def test_cancel_stops_the_ideal_observer(tab, files, qtbot):
    panel = opened(tab, files[0])
    panel.subsample.setValue(300)
    runner = tab.model.controls.ceiling_runner
    panel.button.click()
    assert panel.button.text() == CANCEL_TEXT
    # cancelled before the first piece of 64 is done (the observer is still being set up), so
    # it can never finish first however slow this machine is
    with qtbot.waitSignal(runner.sigCancelled, timeout=30_000):
        qtbot.mouseClick(panel.button, Qt.MouseButton.LeftButton)
    assert tab.model.controls.ceiling is None and tab.model.controls.progress is None
    assert panel.status.text() == "Ideal observer cancelled" and panel.button.text() == COMPUTE_TEXT
    assert tab.table.control_text(IDEAL_BAYES, COL_ACCURACY) == "not computed"
    assert panel.subsample.isEnabled()


def test_dataset_not_made_by_elbench_disables_the_bar_with_the_reason(tab, tmp_path):
    folder, _, _ = make_dataset(tmp_path / "plain", n=400)
    panel = opened(tab, folder)
    assert not panel.button.isEnabled() and not panel.subsample.isEnabled()
    assert panel.status.text() == "Unavailable: not a dataset made by elbench"
    assert tab.model.controls.rows == [] and tab.table.source_model.rowCount() == 0


def test_a_dask_scheduler_runs_the_ideal_observer_there(tab, files, qtbot, message_boxes):
    from distributed import LocalCluster

    panel = opened(tab, files[0])
    panel.subsample.setValue(64)
    runner = tab.model.controls.ceiling_runner
    panel.cluster.setText("nowhere")                  # a typo: one message naming it, nothing computed
    with qtbot.waitSignal(runner.sigErrored, timeout=30_000):
        panel.button.click()
    assert "'nowhere': not a Dask scheduler address" in message_boxes.warnings[-1]
    assert "Ideal observer failed" in panel.status.text() and tab.model.controls.ceiling is None
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, protocol="tcp", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        panel.cluster.setText(cluster.scheduler_address)
        with qtbot.waitSignal(runner.sigFinished, timeout=60_000):
            panel.button.click()
            assert not panel.cluster.isEnabled()
    ceiling = tab.model.controls.ceiling
    assert ceiling is not None and len(ceiling.subsample) == 64 and ceiling.workers == 1
    assert panel.status.text().startswith(f"Ceiling {100 * ceiling.ceiling.accuracy:.1f} %") and panel.cluster.isEnabled()

"""Control rows of the comparison table on a tiny dataset simulated by elbench: ground truth
near 100 %, random near 1 / wells, the ideal observer between them once computed, each method
read as a fraction of that ceiling; the controls stay below the methods whatever the sort;
other settings or a dataset not made by elbench say why there is no ceiling."""
import numpy as np
import pytest
from PySide6.QtCore import Qt

from comparison_data import make_dataset
from elbench_data import elbench_dataset
from engine.scoring.ceiling import accuracy_ci
from gui.comparison.comparison_model import ComparisonModel
from gui.comparison.comparison_table import (COL_ACCURACY, COL_CI, COL_FRACTION, COL_KIND, COL_METHOD, NO_VALUE,
                                             ComparisonTable)
from gui.comparison.control_rows import GROUND_TRUTH, IDEAL_BAYES, IDEAL_MEAN, ORDER, RANDOM

SUBSAMPLE = 120


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return elbench_dataset(tmp_path_factory.mktemp("controls"))


@pytest.fixture
def model(qtbot, files):
    folder, npy = files
    m = ComparisonModel()
    m.controls.workers = 1   # no worker processes to spawn for 120 particles
    m.open_dataset(folder)
    m.add_output(npy, label="noisy truth")
    assert m.wait_idle(background=True)
    yield m
    m.shutdown()


@pytest.fixture
def table(qtbot, model):
    view = ComparisonTable(model)
    qtbot.addWidget(view)
    return view


def computed(model, qtbot, n=SUBSAMPLE):
    with qtbot.waitSignal(model.controls.ceiling_runner.sigFinished, timeout=60_000):
        assert model.controls.compute_ceiling(n)
    assert model.wait_idle(background=True)
    return model.controls.ceiling


def test_ground_truth_near_100_and_random_near_chance(model, table):
    c = model.controls
    assert c.enabled and c.ceiling_reason == "" and c.dataset_snr == pytest.approx(1.0)
    assert [r.label for r in c.rows] == list(ORDER)
    truth, rand = c.row(GROUND_TRUTH), c.row(RANDOM)
    assert truth.scores.n_scored == rand.scores.n_scored == 300   # the particles the settings score
    assert truth.scores.accuracy > 0.9
    assert abs(rand.scores.accuracy - 1 / 12) < 0.06 and rand.ci[0] < 1 / 12 < rand.ci[1]
    assert rand.ci[1] < truth.ci[0]
    assert table.control_text(GROUND_TRUTH, COL_ACCURACY) == f"{100 * truth.scores.accuracy:.2f}"
    lo, hi = accuracy_ci(rand.scores)
    assert table.control_text(RANDOM, COL_CI) == f"{100 * lo:.1f}-{100 * hi:.1f}"
    # the ideal observer waits to be asked; no method has a ceiling yet
    assert table.control_text(IDEAL_BAYES, COL_ACCURACY) == "not computed"
    assert table.cell_text(0, COL_FRACTION) == NO_VALUE


def test_ideal_observer_sits_between_and_methods_read_as_fraction_of_it(model, table, qtbot):
    ceiling = computed(model, qtbot)
    c = model.controls
    assert len(ceiling.subsample) == SUBSAMPLE and ceiling.workers == 1
    bayes, mean = c.row(IDEAL_BAYES), c.row(IDEAL_MEAN)
    assert c.row(RANDOM).scores.accuracy < bayes.scores.accuracy < c.row(GROUND_TRUTH).scores.accuracy
    assert c.row(RANDOM).scores.accuracy < mean.scores.accuracy < c.row(GROUND_TRUTH).scores.accuracy
    assert bayes.ci[0] < bayes.scores.accuracy < bayes.ci[1]
    assert table.control_text(IDEAL_BAYES, COL_ACCURACY) == f"{100 * bayes.scores.accuracy:.2f}"
    assert table.control_text(IDEAL_BAYES, COL_FRACTION) == "1.000"
    assert table.control_text(IDEAL_BAYES, COL_KIND) == "ceiling"
    method = model.methods[0].scores.accuracy
    assert table.cell_text(0, COL_FRACTION) == f"{method / bayes.scores.accuracy:.3f}"
    # a core radius scores other particles than the ceiling's: shown, no longer used
    model.update_settings(core_only=True, core_radius_deg=6.0)
    assert model.wait_idle(background=True)
    assert c.fraction_of_ceiling(0.5) is None and table.cell_text(0, COL_FRACTION) == NO_VALUE
    assert "other settings" in table.control_text(IDEAL_BAYES, COL_ACCURACY)


def test_controls_stay_below_the_methods_and_cannot_be_selected(model, table):
    model.add_output(model.methods[0].path, label="second copy")
    assert model.wait_idle(background=True)
    for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
        table.sortByColumn(COL_ACCURACY, order)
        labels = [table.proxy.index(r, COL_METHOD).data() for r in range(table.proxy.rowCount())]
        assert labels[2:] == list(ORDER) and set(labels[:2]) == {"noisy truth", "second copy"}
    control = table.proxy.index(3, COL_METHOD)
    assert not (table.proxy.flags(control) & Qt.ItemFlag.ItemIsSelectable)
    assert not table.proxy.setData(control, "renamed")


def test_random_control_follows_the_wells_scored(model):
    model.update_settings(wells=frozenset({1, 2, 3}))
    assert model.wait_idle(background=True)
    rand = model.controls.row(RANDOM).scores
    gt = model.dataset.ground_truth
    assert rand.n_scored == int(np.isin(gt.well, [1, 2, 3]).sum()) and len(rand.wells) == 3
    assert rand.accuracy < 0.6 < model.controls.row(GROUND_TRUTH).scores.accuracy


def test_dataset_not_made_by_elbench_has_no_controls(qtbot, tmp_path):
    folder, _, _ = make_dataset(tmp_path / "plain", n=500)
    m = ComparisonModel()
    m.open_dataset(folder)
    assert m.wait_idle(background=True)
    try:
        assert m.controls.rows == [] and m.controls.ceiling_reason == "not a dataset made by elbench"
        statuses = []
        m.controls.sigStatus.connect(statuses.append)
        assert not m.controls.compute_ceiling(50) and "not a dataset made by elbench" in statuses[-1]
    finally:
        m.shutdown()

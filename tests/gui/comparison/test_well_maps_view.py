"""The Comparison tab's Maps view on a tiny dataset simulated by elbench (300 particles, box 32):
each well of the current method and of the ground truth reconstructed by relion_reconstruct in
the background, the table and the bars showing the engine's numbers; cancel; and what it says
when it cannot run (a dataset not made by elbench, no method, RELION missing)."""
import math

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from comparison_data import make_dataset
from elbench_data import N_PARTICLES, elbench_dataset, opened
from engine.formats.dataset import load_dataset
from engine.formats.loaders import load_output
from engine.methods.well_map_scores import Labelling, well_maps_job
from engine.scoring.metric import score
from gui.comparison.comparison_tab import ComparisonTab
from gui.comparison.well_maps_view import CANCEL_TEXT, COMPUTE_TEXT, WellMapsView
from gui.model.document import LandscapeDocument
from engine.landscape.presets import load_preset


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return elbench_dataset(tmp_path_factory.mktemp("well_maps_view"))


@pytest.fixture
def view(qtbot, model):
    v = WellMapsView(model)
    qtbot.addWidget(v)
    yield v
    v.shutdown()


def test_compute_shows_the_engines_numbers_for_the_method_and_the_ground_truth(view, model, files, qtbot):
    folder, npy = files
    opened(model, folder)
    assert not view.button.isEnabled() and "add a method output" in view.status.text()
    opened(model, folder, npy)
    assert view.button.isEnabled() and "relion_reconstruct 3." in view.status.text()
    model.update_settings(wells={1, 2})                  # two wells: four reconstructions, seconds
    assert model.wait_idle(background=True)
    with qtbot.waitSignal(view.runner.sigFinished, timeout=60_000):
        qtbot.mouseClick(view.button, Qt.MouseButton.LeftButton)
        assert view.button.text() == CANCEL_TEXT and not view.progress.isHidden()
        assert "with relion_reconstruct 3." in view.status.text() and "true poses and CTF" in view.status.text()
    assert view.button.text() == COMPUTE_TEXT and view.progress.isHidden()
    # the metric's labels through the engine, in the view's folders: they are the view's (else
    # their subsets would differ and the wells be reconstructed again), and so are the numbers
    ds = load_dataset(folder)
    s = score(ds.ground_truth, load_output(npy, ds), dims=(0, 1), wells=[1, 2])
    labels = np.zeros(N_PARTICLES, dtype=np.int64)
    labels[s.particle_index] = s.assigned
    truth = np.where(np.isin(ds.ground_truth.well, [1, 2]), ds.ground_truth.well, 0).astype(np.int64)
    assert set(np.unique(labels)) == {0, 1, 2}
    logs = []
    expected = well_maps_job(folder, [Labelling("noisy truth", labels, slug=f"method_{model.methods[0].id}"),
                                      Labelling("ground truth", truth, slug="ground_truth")],
                             view.job_root / f"dataset_{view._dataset_serial}", ds.n_wells, log=logs.append)
    assert not any("reconstruct_well" in line and "skip" not in line.lower() for line in logs[1:]), logs
    method, gt = expected.maps
    assert view.table.rowCount() == 13 and view.cell_text(12, 0) == "mean"
    header = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert header[:5] == ["well", "noisy truth\nparticles", "noisy truth\nFSC 0.5 (Å)", "noisy truth\ncorrelation",
                          "noisy truth\ncorr. 30 Å"] and header[5] == "ground truth\nparticles"
    for row in range(12):
        for k, m in enumerate((method, gt)):
            w = m.wells[row]
            cells = [view.cell_text(row, 1 + 4 * k + j) for j in range(4)]
            assert cells[0] == str(w.n_particles)
            if w.comparison is None:
                assert cells[1:] == ["—"] * 3
            else:
                res, _, corr, smooth = w.values()
                assert cells[1] == ("∞" if math.isinf(res) else f"{res:.1f}")
                assert (cells[2], cells[3]) == (f"{corr:.4f}", f"{smooth:.4f}")
    assert view.cell_text(12, 7) == f"{gt.mean()[2]:.4f}"
    assert gt.mean()[3] > 0.8 and [w.well for w in gt.with_map] == [1, 2]
    # one bar per well with a finite resolution, method and truth side by side
    bars = [i for i in view.plot.items if isinstance(i, pg.BarGraphItem)]
    assert len(bars) == 2
    wells, res = view.plotted()["truth"]
    np.testing.assert_allclose(res, [w.values()[0] for w in gt.with_map if math.isfinite(w.values()[0])])
    assert wells.tolist() == [1.0, 2.0] and res.min() >= 2 * 11.8          # not finer than Nyquist
    assert "ground truth: 2 of 12 wells" in view.status.text() and "low-passed to 30 Å" in view.status.text()
    # another setting: nothing shown until computed; back: shown again without a job
    model.update_settings(wells={1, 2, 3})
    assert model.wait_idle(background=True)
    assert view.result is None and view.table.rowCount() == 0 and "Compute reconstructs" in view.status.text()
    model.update_settings(wells={1, 2})
    assert model.wait_idle(background=True)
    assert view.result is not None and view.table.rowCount() == 13 and not view.runner.is_running()


def test_with_the_ceiling_computed_the_ideal_observer_s_labels_get_maps_too(view, model, files, qtbot):
    folder, npy = files
    opened(model, folder, npy)
    assert "once its ceiling is computed" in view.status.text()
    with qtbot.waitSignal(model.controls.ceiling_runner.sigFinished, timeout=60_000):
        assert model.controls.compute_ceiling(120)
    assert model.wait_idle(background=True)
    ceiling = model.controls.ceiling
    assert "the ideal observer (its ceiling is computed)" in view.status.text()
    view.max_particles.setValue(6)                      # 36 small reconstructions: seconds
    with qtbot.waitSignal(view.runner.sigFinished, timeout=120_000):
        assert view.compute()
    method, gt, ideal = view.result.maps
    assert ideal.label == "ideal observer" and "on 120 random particles" in ideal.note
    labels = ceiling.bayes_labels(N_PARTICLES)
    assert (labels > 0).sum() == 120
    assert [w.n_assigned for w in ideal.wells] == np.bincount(labels, minlength=13)[1:].tolist()
    header = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert len(header) == 13 and header[9] == "ideal observer\nparticles"
    assert view.cell_text(0, 9) == ideal.wells[0].count_text
    assert set(view.plotted()) == {"method", "truth", "ideal observer"}
    assert len([i for i in view.plot.items if isinstance(i, pg.BarGraphItem)]) == 3
    assert "ideal observer:" in view.status.text()


def test_cancel_stops_the_job_and_says_so(view, model, files, qtbot):
    opened(model, *files)
    view.max_particles.setValue(10)                      # another draw: nothing to resume
    with qtbot.waitSignal(view.runner.sigCancelled, timeout=60_000):
        view.compute()
        view.button.click()                              # Cancel
    assert view.button.text() == COMPUTE_TEXT and "Cancelled after" in view.status.text()


def test_it_says_why_it_cannot_run(view, model, tmp_path, monkeypatch):
    assert not view.button.isEnabled() and "open a dataset made by elbench" in view.status.text()
    folder, _, _ = make_dataset(tmp_path / "plain", n=600)       # ground truth only: no particles.star
    np.save(tmp_path / "truth.npy", np.zeros((600, 2)))
    opened(model, folder, tmp_path / "truth.npy")
    assert not view.button.isEnabled() and not view.compute()
    assert "no particles.star and maps/well_NN.mrc" in view.status.text()


def test_without_relion_it_says_how_to_install_it(view, model, files, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    opened(model, *files)
    assert not view.button.isEnabled()
    assert "relion_reconstruct was not found on PATH. Install it: apt-get install relion" in view.status.text()


def test_the_comparison_tab_has_a_maps_sub_tab(qtbot, files):
    tab = ComparisonTab(LandscapeDocument(load_preset("paper-3x4")))
    qtbot.addWidget(tab)
    tab.show_view(tab.well_maps)
    assert tab.views.tabText(tab.views.currentIndex()) == "Maps"
    tab.shutdown()

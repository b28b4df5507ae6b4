"""Comparison tab with the rest of the application: Play in 3D through the main window, a 1D
output scored on dim 0, and outputs added as folders."""
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from comparison_tab_fixtures import drop, files, tab  # noqa: F401  (pytest fixtures)
from engine.formats.dataset import load_dataset
from engine.formats.loaders import load_output
from engine.landscape.presets import load_preset
from engine.scoring.metric import score
from gui.comparison.comparison_tab import ComparisonTab
from gui.comparison.comparison_table import COL_ACCURACY, COL_DIMS, NO_VALUE
from gui.model.document import LandscapeDocument


def test_play_in_3d_moves_the_documents_conformation_along_the_method_path_on_the_structure_tab(qtbot, files):
    """The main window wires the lineage view's Play in 3D to the Structure tab's motion player:
    the tab comes to the front and the document's conformation walks the method's path (in
    true conformations), starting at its first point; the path runs between the wells of the
    Landscape tab's path, which the Comparison tab follows through the document."""
    from engine.landscape.path_profile import well_path_profile
    from gui.main_window import MainWindow
    from gui.model.designer_path import DesignerPath

    folder, npy, pkl, _ = files
    window = MainWindow()
    qtbot.addWidget(window)
    window.open_comparison(folder, [npy])
    assert window.comparison.model.wait_idle()
    overlay = window.comparison.lineage.path_overlay
    prof = well_path_profile(window.doc.grid, 7, 6)
    window.doc.set_designer_path(DesignerPath(prof.points_deg, (7, 6), prof.visits))
    qtbot.waitUntil(lambda: overlay.result is not None and overlay.result.wells == (7, 6), timeout=20_000)
    points = overlay.result.true_points_deg
    assert window.doc.conformation != tuple(points[0])
    overlay.play_button.click()
    player = window.structure.player
    assert window.tabs.currentWidget() is window.structure
    assert player.source() == "given" and player.is_playing()
    assert player.given_radio.text() == "generic noisy_truth.npy: path 7 → 6"
    np.testing.assert_allclose(player.path(), points)
    np.testing.assert_allclose(window.doc.conformation, points[0])
    player.pause()
    seen = []
    for _ in range(5):
        player.step()
        seen.append(window.doc.conformation)
    np.testing.assert_allclose(seen, player.frames()[1:6])
    assert np.hypot(*np.subtract(seen[-1], points[0])) > 0.5      # it moved, along the path
    player.stop()
    window.structure.close_view()
    window.close()


def test_a_one_dimensional_output_is_scored_on_dim_0_with_the_default_dims(tab, files, tmp_path):
    """ManifoldEM's tau (one dimension) is scored on dim 0 while the dims are the default 0,1,
    the note in its tooltip; dims the user sets that it lacks leave it unscored."""
    folder = files[0]
    ds = load_dataset(folder)
    np.save(tmp_path / "tau.npy", np.asarray(ds.ground_truth.cc1_deg)[:, None])
    tab.model.add_output(tmp_path / "tau.npy", label="tau")
    assert tab.model.wait_idle()
    row = len(tab.model.methods) - 1
    expected = score(ds, load_output(tmp_path / "tau.npy", ds), dims=(0,))
    assert float(tab.table.cell_text(row, COL_ACCURACY)) == pytest.approx(100 * expected.accuracy, abs=0.005)
    assert tab.table.cell_text(row, COL_DIMS) == "0 of 1"
    tip = tab.table.source_model.data(tab.table.source_model.index(row, COL_ACCURACY), Qt.ItemDataRole.ToolTipRole)
    assert "1D output: scored on dim 0" in tip
    tab.model.update_settings(dims=(0, 2))
    assert tab.model.wait_idle()
    assert tab.model.methods[row].scores is None
    assert tab.table.cell_text(row, COL_ACCURACY) == f"{NO_VALUE} (dims 0,2: output has 1 dim)"


def test_add_output_folder_loads_a_folder_as_a_dropped_one(tab, files, tmp_path, monkeypatch, message_boxes):
    """"Add output folder…" picks a folder (a RELION job folder here) and loads it as a drop
    would: the kind detected from the folder, scored as the engine scores it; Cancel adds nothing."""
    folder = files[0]
    ds = load_dataset(folder)
    job = tmp_path / "MultiBody" / "job042"
    job.mkdir(parents=True)
    rng = np.random.default_rng(4)
    gt = ds.ground_truth
    coords = np.column_stack([gt.cc1_deg, gt.cc2_deg]) + rng.normal(0, 2.0, (len(gt), 2))
    order = rng.permutation(len(gt))
    (job / "analyse_projections_along_eigenvectors_all_particles.txt").write_text(
        "".join(f"{gt.image_name[i]} {coords[i, 0]:.5f} {coords[i, 1]:.5f}\n" for i in order))
    asked = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: asked.append(a[1]) or ""))
    before = len(tab.model.methods)
    tab.add_folder_button.click()
    assert asked == ["Add method output folder"] and len(tab.model.methods) == before   # cancelled
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(job)))
    tab.add_folder_button.click()
    assert tab.model.wait_idle() and len(tab.model.methods) == before + 1
    entry = tab.model.methods[-1]
    expected = score(ds, load_output(job, ds), dims=(0, 1))
    assert entry.kind == "relion_multibody" and entry.scores.accuracy == pytest.approx(expected.accuracy)
    assert 0.5 < expected.accuracy < 1.0 and message_boxes.warnings == []
    drop(tab, [job])                                     # the same folder dropped: the same method again
    assert tab.model.wait_idle() and tab.model.methods[-1].kind == "relion_multibody"
    assert tab.model.methods[-1].scores.accuracy == pytest.approx(expected.accuracy)


def test_add_output_folder_without_a_dataset_says_to_open_one_first(qtbot, monkeypatch, message_boxes):
    doc = LandscapeDocument(load_preset("paper-3x4"))
    tab = ComparisonTab(doc)
    qtbot.addWidget(tab)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: pytest.fail("asked")))
    tab.add_output_folder_dialog()
    assert message_boxes.warnings == ["Open a dataset first: outputs are matched to its particles."]
    tab.shutdown()

"""Comparison tab, driven like a user: drop a dataset and two outputs, read the numbers the table
shows against the engine, change dimensions / core / wells, rename, sort, read the charts,
export figures and the report, and see bad files refused without a change."""
import json

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit

from comparison_data import make_dataset, noisy_truth
from engine.scoring.comparison import core_mask
from engine.formats.dataset import load_dataset
from engine.formats.loaders import load_output
from engine.landscape.presets import load_preset
from engine.scoring.recovered_landscape import recovered_landscape
from engine.scoring.metric import score
from gui.comparison.comparison_tab import ComparisonTab
from gui.comparison.comparison_table import COL_ACCURACY, COL_DIMS, COL_METHOD, COL_SCORED, COL_STD, NO_VALUE
from engine.scoring.comparison import parse_dims
from gui.model.document import LandscapeDocument
import gui.widgets.jobs as jobs


from comparison_tab_fixtures import drop, files, tab  # noqa: F401  (pytest fixtures)


def shown(tab, row):
    return {col: tab.table.cell_text(row, col) for col in (COL_METHOD, COL_ACCURACY, COL_STD, COL_SCORED, COL_DIMS)}


def test_table_shows_the_engines_numbers(tab, files):
    folder, npy, pkl, _ = files
    assert tab.pages.currentIndex() == 1
    assert "6,000 particles" in tab.dataset_label.text() and "12 wells" in tab.dataset_label.text()
    ds = load_dataset(folder)
    for row, path in enumerate((npy, pkl)):
        s = score(ds, load_output(path, ds), dims=(0, 1))
        cells = shown(tab, row)
        assert float(cells[COL_ACCURACY]) == pytest.approx(100 * s.accuracy, abs=0.005)
        assert float(cells[COL_STD]) == pytest.approx(100 * s.recall_std, abs=0.005)
        assert cells[COL_SCORED] == f"{s.n_scored:,}" == "6,000"
    assert shown(tab, 0)[COL_DIMS] == "0,1 of 2" and shown(tab, 1)[COL_DIMS] == "0,1 of 4"
    assert shown(tab, 1)[COL_METHOD] == "cryoDRGN z"


def test_settings_widgets_update_the_table_live(tab, files, qtbot):
    folder, npy, pkl, gt = files
    ds = load_dataset(folder)
    z = load_output(pkl, ds)
    statuses = []
    tab.sigStatusMessage.connect(statuses.append)
    edit = tab.settings_strip.dims_combo.lineEdit()
    edit.selectAll()
    QTest.keyClicks(edit, "0,1,2,3")
    QTest.keyClick(edit, Qt.Key.Key_Return)
    assert float(shown(tab, 1)[COL_ACCURACY]) == pytest.approx(100 * score(ds, z, dims=(0, 1, 2, 3)).accuracy, abs=0.005)
    assert shown(tab, 1)[COL_DIMS] == "all 4"
    # the .npy has two dimensions only: the cell and the status say why it is not scored
    assert shown(tab, 0)[COL_ACCURACY] == f"{NO_VALUE} (dims 0,1,2,3: output has 2 dims)"
    assert statuses[-1].startswith("1 scored, 1 not scored: ") and "dimension 2 does not exist" in statuses[-1]
    tooltip = tab.table.source_model.data(tab.table.source_model.index(0, COL_ACCURACY), Qt.ItemDataRole.ToolTipRole)
    assert "dimension 2 does not exist" in tooltip
    edit.selectAll()
    QTest.keyClicks(edit, "0,x")            # refused: the settings stay
    QTest.keyClick(edit, Qt.Key.Key_Return)
    assert tab.model.settings.dims == (0, 1, 2, 3) and edit.text() == "0,1,2,3"
    tab.settings_strip.dims_combo.setCurrentText("0,1")
    QTest.keyClick(edit, Qt.Key.Key_Return)
    # core particles within 3 degrees of their well's centre
    tab.settings_strip.radius_spin.setValue(3.0)
    QTest.mouseClick(tab.settings_strip.core_check, Qt.MouseButton.LeftButton, pos=QPoint(6, tab.settings_strip.core_check.height() // 2))
    assert tab.settings_strip.core_check.isChecked()
    core = core_mask(gt, 3.0)
    assert shown(tab, 1)[COL_SCORED] == f"{int(core.sum()):,}"
    import dataclasses
    expected = score(dataclasses.replace(gt, core=core), z, dims=(0, 1), core_only=True)
    assert float(shown(tab, 1)[COL_ACCURACY]) == pytest.approx(100 * expected.accuracy, abs=0.005)
    QTest.mouseClick(tab.settings_strip.core_check, Qt.MouseButton.LeftButton, pos=QPoint(6, tab.settings_strip.core_check.height() // 2))
    # leave wells 5 and 12 out by clicking their buttons
    for w in (5, 12):
        QTest.mouseClick(tab.settings_strip.well_toggles.buttons[w - 1], Qt.MouseButton.LeftButton)
    kept = [w for w in range(1, 13) if w not in (5, 12)]
    assert tab.model.settings.wells == frozenset(kept)
    expected = score(ds, z, dims=(0, 1), wells=kept)
    assert float(shown(tab, 1)[COL_ACCURACY]) == pytest.approx(100 * expected.accuracy, abs=0.005)
    assert shown(tab, 1)[COL_SCORED] == f"{expected.n_scored:,}"
    assert sorted(tab.recall_chart.bar_heights()["cryoDRGN z"]) == kept
    QTest.mouseClick(tab.settings_strip.well_toggles.all_button, Qt.MouseButton.LeftButton)
    assert tab.model.settings.wells is None and shown(tab, 1)[COL_SCORED] == "6,000"


def test_rename_in_the_table_sort_and_select(tab, qtbot, mouse):
    table = tab.table
    rect = table.visualRect(table.proxy.index(table.view_row(1), COL_METHOD))
    mouse.double_click(table, rect.center())
    assert table.state() == table.State.EditingState
    editor = table.viewport().findChild(QLineEdit)
    assert editor.text() == "cryoDRGN z"
    editor.selectAll()
    QTest.keyClicks(editor, "cryoDRGN")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: table.state() != table.State.EditingState)  # Qt commits queued
    assert tab.model.methods[1].label == "cryoDRGN" and shown(tab, 1)[COL_METHOD] == "cryoDRGN"
    assert "cryoDRGN" in tab.recall_chart.bar_heights()
    # sorting by accuracy (click the header twice: descending) keeps the current method right
    header = table.horizontalHeader()
    x = header.sectionViewportPosition(COL_ACCURACY) + 10
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    accuracies = [float(table.proxy.index(r, COL_ACCURACY).data()) for r in range(2)]
    assert accuracies == sorted(accuracies, reverse=True)
    lowest = table.visualRect(table.proxy.index(1, COL_METHOD))
    mouse.click(table, lowest.center())
    assert tab.model.current == table.source_row(1) == 1
    assert tab.confusion.plot.titleLabel.text.startswith("Confusion matrix: cryoDRGN")


def test_charts_show_the_scores(tab):
    m = tab.model
    heights = tab.recall_chart.bar_heights()
    for entry in m.methods:
        assert heights[entry.label] == pytest.approx({int(w): 100 * r for w, r in zip(entry.scores.wells,
                                                                                        entry.scores.recall)})
    s = m.current_method.scores
    np.testing.assert_allclose(np.diag(tab.confusion.shown_matrix()), 100 * s.recall)
    np.testing.assert_allclose(tab.confusion.shown_matrix().sum(axis=1), 100.0)
    m.set_current(1)
    np.testing.assert_allclose(np.diag(tab.confusion.shown_matrix()), 100 * m.methods[1].scores.recall)


def test_recovered_landscapes_share_one_scale_in_the_documents_unit(tab, files):
    folder, npy, pkl, gt = files
    view = tab.landscapes
    m = tab.model
    kT = m.dataset.kT_kcal_per_mol
    expected = recovered_landscape(m.methods[1].output.coords[:, :2], kT).free_energy
    np.testing.assert_allclose(view.panel_energy(1), expected, equal_nan=True)
    truth = recovered_landscape(np.stack([gt.cc1_deg, gt.cc2_deg], axis=1), kT).free_energy
    np.testing.assert_allclose(view.truth_energy(), truth, equal_nan=True)
    top = max(np.nanmax(view.truth_energy()), np.nanmax(view.panel_energy(0)), np.nanmax(view.panel_energy(1)))
    assert view.levels == (0.0, pytest.approx(top))
    tab.doc.set_energy_unit("kT")
    assert view.unit_combo.currentText() == "kT"
    np.testing.assert_allclose(view.panel_energy(1), expected / kT, equal_nan=True)
    assert view.levels[1] == pytest.approx(top / kT)
    assert view.colorbar.axis.labelText == "G (kT)"
    view.unit_combo.setCurrentText("kcal/mol")    # the combo changes the document's unit
    assert tab.doc.energy_unit == "kcal/mol"
    view.set_truth_source("designed")
    designed = tab.doc.landscape.grid(256).free_energy()
    np.testing.assert_allclose(view.truth_energy(), designed)
    assert view.levels[1] == pytest.approx(max(np.nanmax(view.panel_energy(0)), np.nanmax(view.panel_energy(1))))


def test_export_figures_and_the_whole_report(tab, tmp_path):
    from gui.widgets.figure_export import export_figure

    for name, widget in (("recall", tab.recall_chart), ("confusion", tab.confusion), ("landscapes", tab.landscapes.plots)):
        png = export_figure(widget, tmp_path / f"{name}.png")
        svg = export_figure(widget, tmp_path / f"{name}.svg")
        assert QImage(str(png)).width() == 2 * widget.width()
        assert "<svg" in svg.read_text()
    assert "Recall per well" in (tmp_path / "recall.svg").read_text()
    tab.model.set_label(0, "noisy copy")
    written = tab.export_report(tmp_path / "report")
    names = {p.name for p in written}
    assert {"scores.json", "scores.csv", "recall_per_well.csv", "recall_noisy_copy.png",
            "lineage_cryoDRGN_z.png", "landscape_cryoDRGN_z.png"} <= names
    report = json.loads((tmp_path / "report" / "scores.json").read_text())
    assert [m["label"] for m in report["methods"]] == ["noisy copy", "cryoDRGN z"]
    for row, method in enumerate(report["methods"]):
        assert 100 * method["accuracy"] == pytest.approx(float(shown(tab, row)[COL_ACCURACY]), abs=0.005)


def test_bad_files_show_the_loaders_message_and_change_nothing(tab, files, tmp_path, message_boxes):
    folder, npy, pkl, gt = files
    before = [shown(tab, r) for r in range(2)]
    short = tmp_path / "short.npy"
    np.save(short, noisy_truth(gt)[:10])
    drop(tab, [short])
    assert tab.model.wait_idle()
    assert str(short) in message_boxes.warnings[-1] and "10 rows" in message_boxes.warnings[-1]
    tab.loader_combo.setCurrentText("cryosparc")   # the user forces a loader that does not fit
    tab.add_outputs([npy])
    assert tab.model.wait_idle()
    assert str(npy) in message_boxes.warnings[-1]
    tab.loader_combo.setCurrentText("auto-detect")
    drop(tab, [tmp_path])                          # a folder that is no dataset and no output
    assert tab.model.wait_idle()
    assert str(tmp_path) in message_boxes.warnings[-1]
    assert [shown(tab, r) for r in range(2)] == before
    assert len(tab.model.methods) == 2 and tab.model.dataset.source == str(folder)


def test_main_window_has_the_tab_and_file_menu_entries(qtbot, files, monkeypatch):
    from gui.main_window import MainWindow

    folder, npy, pkl, _ = files
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.tabs.tabText(window.tabs.indexOf(window.comparison)) == "Comparison"
    texts = [a.text() for a in window.menuBar().actions()[0].menu().actions()]
    assert "Open dataset..." in texts and "Add method output..." in texts and "Add method output folder..." in texts
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([str(pkl)], "")))
    window.action_open_dataset.trigger()
    assert window.tabs.currentWidget() is window.comparison
    assert window.comparison.model.wait_idle()
    window.action_add_output.trigger()
    assert window.comparison.model.wait_idle()
    assert [m.kind for m in window.comparison.model.methods] == ["cryodrgn"]
    window.close()


def test_parse_dims():
    assert parse_dims(" 0, 2 ") == (0, 2) and parse_dims("ALL") is None
    with pytest.raises(ValueError, match="dimensions"):
        parse_dims("a,b")


def test_remove_method_updates_every_view(tab, qtbot):
    assert len(tab.recall_chart.bar_heights()) == 2
    tab.model.set_current(0)
    QTest.mouseClick(tab.remove_button, Qt.MouseButton.LeftButton)
    assert [m.label for m in tab.model.methods] == ["cryoDRGN z"] and tab.table.model().rowCount() == 1
    assert list(tab.recall_chart.bar_heights()) == ["cryoDRGN z"]
    assert len(tab.lineage.panels) == 1 and tab.model.current == 0
    assert tab.landscapes.panel_energy(0) is not None and len(tab.landscapes.plots.ci.items) == 3  # truth, z, bar
    QTest.mouseClick(tab.remove_button, Qt.MouseButton.LeftButton)
    assert tab.model.methods == [] and not tab.remove_button.isEnabled() and not tab.report_button.isEnabled()
    assert tab.confusion.shown_matrix().size == 0 and len(tab.lineage.shown_panels()) == 1


def test_big_reports_are_written_by_a_background_job(tab, tmp_path, qtbot, monkeypatch):
    monkeypatch.setattr(jobs, "SYNC_LIMIT_ROWS", 0)
    with qtbot.waitSignal(tab.report.runner.sigFinished, timeout=60_000):
        assert tab.export_report(tmp_path / "report") is None
    qtbot.waitUntil(lambda: (tmp_path / "report" / "recall_cryoDRGN_z.png").is_file(), timeout=30_000)
    assert json.loads((tmp_path / "report" / "scores.json").read_text())["n_particles"] == 6000


def test_recall_chart_and_confusion_fit_a_narrow_pane_on_screen_and_in_export(tab, files, tmp_path, qtbot):
    """Five methods with long names in a 504 px pane: the last well's bars and colour strip are
    drawn inside the widget and in the exported PNG; titles and legend are elided."""
    from gui.widgets.palette import well_colour
    from gui.widgets.figure_export import export_figure

    folder, npy, pkl, _ = files
    for k in range(3):
        tab.model.add_output(npy, label=f"a method with a very long descriptive name, attempt number {k + 1}")
    assert tab.model.wait_idle() and len(tab.model.methods) == 5
    tab.model.set_current(4)
    chart = in_own_window(qtbot, tab.recall_chart, 504, 340)
    vb = chart.plot.getViewBox()
    (x0, x1), _ = vb.viewRange()
    assert x0 < 0 and x1 > 11  # all 12 wells (positions 0..11)
    strip_at_last = vb.mapViewToScene(pg_point(11.0, -4.5))
    assert 0 < strip_at_last.x() < chart.viewport().width()
    assert chart.ci.geometry().width() <= chart.viewport().width() + 1
    png = QImage(str(export_figure(chart, tmp_path / "recall.png", scale=2)))
    pixel = png.pixelColor(round(2 * strip_at_last.x()), round(2 * strip_at_last.y()))
    assert pixel.name() == well_colour(12).lower()
    labels = [label for _, label in chart.legend.items]
    assert len(labels) == 5 and all("…" in label.text for label in labels if "long" in label.text)
    assert all(label.sceneBoundingRect().right() <= chart.viewport().width() + 1 for label in labels)
    confusion = in_own_window(qtbot, tab.confusion, 504, 360)
    assert "…" in confusion.plot.titleLabel.text
    # The resize reaches the widget over a few event-loop passes, and each one refreshes it
    # (resizeEvent); once the size has settled, the matrix fits the pane.
    def fits():
        confusion.refresh()
        return confusion.ci.geometry().width() <= confusion.viewport().width() + 1
    qtbot.waitUntil(fits, timeout=3000)


def in_own_window(qtbot, chart, width_px: int, height_px: int):
    """``chart`` taken out of the tab into a window of its own of that size, refreshed."""
    chart.setParent(None)
    qtbot.addWidget(chart)
    chart.resize(width_px, height_px)
    chart.show()
    qtbot.wait(50)
    chart.refresh()
    return chart


def pg_point(x, y):
    from PySide6.QtCore import QPointF
    return QPointF(x, y)


def test_empty_charts_say_so_instead_of_drawing_axes(qtbot):
    doc = LandscapeDocument(load_preset("paper-3x4"))
    tab = ComparisonTab(doc)
    qtbot.addWidget(tab)
    for chart in (tab.recall_chart, tab.confusion):
        assert not chart.plot.getAxis("bottom").isVisible() and not chart.plot.getAxis("left").isVisible()
    assert "no method scored" in tab.confusion.plot.titleLabel.text
    assert "open a dataset" in tab.recall_chart.plot.titleLabel.text
    tab.shutdown()


def test_opening_another_dataset_asks_then_resets_wells_and_status(tab, files, tmp_path, message_boxes, qtbot):
    """Methods loaded: opening a second dataset asks first; Cancel keeps everything, Discard
    opens it with every well scored (the old subset means nothing there) and a clear status."""
    from PySide6.QtWidgets import QMessageBox

    other, _, _ = make_dataset(tmp_path / "other", n=800, seed=4, preset="paper-3x4")
    QTest.mouseClick(tab.settings_strip.well_toggles.buttons[4], Qt.MouseButton.LeftButton)
    assert tab.model.settings.wells is not None
    statuses = []
    tab.sigStatusMessage.connect(statuses.append)
    message_boxes.reply = QMessageBox.StandardButton.Cancel
    drop(tab, [other])
    assert tab.model.wait_idle()
    assert len(message_boxes.questions) == 1 and "2 loaded methods" in message_boxes.questions[0]
    assert len(tab.model.methods) == 2 and tab.model.dataset.n_particles == 6000
    message_boxes.reply = QMessageBox.StandardButton.Discard
    tab.open_dataset(other)
    assert tab.model.wait_idle()
    assert len(message_boxes.questions) == 2
    assert tab.model.dataset.n_particles == 800 and tab.model.methods == []
    assert tab.model.settings.wells is None and all(b.isChecked() for b in tab.settings_strip.well_toggles.buttons)
    assert not any("Scoring 0" in s for s in statuses) and statuses[-1].startswith("Ready")


def test_method_table_shows_five_rows_without_scrolling(tab, files):
    folder, npy, pkl, _ = files
    for k in range(3):
        tab.model.add_output(npy, label=f"copy {k}")
    assert tab.model.wait_idle() and len(tab.model.methods) == 5
    table = tab.table
    QApplication.processEvents()
    last = table.visualRect(table.proxy.index(4, COL_METHOD))
    assert last.isValid() and last.bottom() <= table.viewport().height()
    assert table.verticalScrollBar().maximum() == 0


def test_recovered_landscapes_fit_with_long_names_and_truth_is_equal_aspect(tab, files, qtbot):
    folder, npy, pkl, _ = files
    tab.model.add_output(npy, label="a method with a very long descriptive name that would not fit, run 12")
    assert tab.model.wait_idle()
    tab.show_view(tab.landscapes)
    qtbot.wait(30)
    view = tab.landscapes.plots
    import pyqtgraph as pg
    plots = [item for item in view.ci.items if isinstance(item, pg.PlotItem) and not isinstance(item, pg.ColorBarItem)]
    assert len(plots) == 4
    width = view.viewport().width()
    for plot in plots:
        assert plot.mapRectToScene(plot.boundingRect()).right() <= width + 1
    assert any("…" in plot.titleLabel.text for plot in plots)
    vb = plots[0].getViewBox()
    (x0, x1), (y0, y1) = vb.viewRange()
    rect = vb.sceneBoundingRect()
    assert rect.width() / (x1 - x0) == pytest.approx(rect.height() / (y1 - y0), rel=0.02)


def test_wide_tool_bars_and_table_scroll_sideways_instead_of_widening_the_window(tab, qtbot):
    """The table's columns, the ideal-observer bar and the lineage view's tool bar are wider
    than a narrow pane: they scroll horizontally, and the tab stays narrower than a 1300-pixel
    window (the main window's restored size)."""
    assert tab.model.methods and tab.table.model().columnCount() >= 10
    wide = [tab.lineage, tab.ceiling_panel, tab.settings_strip]
    assert tab.minimumSizeHint().width() < 1000 < sum(w.minimumSizeHint().width() for w in wide[:2])
    tab.resize(900, 900)
    qtbot.wait(30)
    assert tab.width() == 900
    strip = tab.settings_strip.parentWidget().parentWidget()   # its scroll area, as high as it is and its bar
    assert strip.height() >= tab.settings_strip.sizeHint().height()
    assert (strip.horizontalScrollBar().maximum() > 0) == (tab.settings_strip.minimumSizeHint().width() > 900)
    tab.show_view(tab.lineage)
    area = tab.views.currentWidget()
    assert area.widget() is tab.lineage and area.horizontalScrollBar().maximum() > 0
    assert tab.table.horizontalScrollBar().maximum() > 0

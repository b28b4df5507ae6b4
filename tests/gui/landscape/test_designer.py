"""The landscape designer driven with real mouse and keyboard events."""
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu

from gui.widgets.palette import well_colour
from engine.landscape.presets import load_preset
from gui.model.document import LandscapeDocument
from designer_data import show_designer, two_wells


@pytest.fixture
def designer(qtbot):
    return show_designer(qtbot, active=True)


def deg_per_px(designer):
    (x0, x1), _ = designer.map.view_box.viewRange()
    return (x1 - x0) / designer.map.view_box.width()


def centre(designer, index):
    well = designer.doc.landscape.wells[index]
    return designer.map.map_to_widget(well.cc1_deg, well.cc2_deg)


def test_drag_moves_the_well_and_changes_the_map_in_one_undo_step(designer, mouse):
    doc, view = designer.doc, designer.map
    image_before = view.image.image.copy()
    target = (-2.0, 4.0)
    mouse.drag(view, centre(designer, 0), view.map_to_widget(*target))
    well = doc.landscape.wells[0]
    tol = 1.5 * deg_per_px(designer)
    assert well.cc1_deg == pytest.approx(target[0], abs=tol)
    assert well.cc2_deg == pytest.approx(target[1], abs=tol)
    assert doc.landscape.wells[1] == two_wells().wells[1]
    # the energy image now has its deepest point at the new centre
    i2, i1 = np.unravel_index(np.argmin(view.image.image), view.image.image.shape)
    grid = doc.grid
    assert grid.cc1[i1] == pytest.approx(target[0], abs=0.5)
    assert grid.cc2[i2] == pytest.approx(target[1], abs=0.5)
    assert not np.allclose(view.image.image, image_before)
    assert doc.undo_stack.count() == 1 and doc.selected_well == 0
    doc.undo_stack.undo()
    assert doc.landscape == two_wells()
    np.testing.assert_allclose(view.image.image, image_before)


def test_map_and_marginals_follow_the_mouse_during_the_drag(designer, mouse):
    doc, view = designer.doc, designer.map
    top_before = view._total_curves[0].yData.copy()
    seen = {}

    def during():
        seen["previewing"] = doc.is_previewing
        seen["pushed"] = doc.undo_stack.count()
        seen["x"] = doc.landscape.wells[0].cc1_deg
        seen["top"] = view._total_curves[0].yData.copy()

    mouse.drag(view, centre(designer, 0), view.map_to_widget(2.0, 0.0), during=during)
    assert seen["previewing"] and seen["pushed"] == 0
    assert seen["x"] == pytest.approx(2.0, abs=0.3)
    # the cc1 marginal's peak moved with the well before the mouse was released
    cc1 = doc.grid.cc1
    assert cc1[np.argmax(seen["top"])] > cc1[np.argmax(top_before)]
    assert doc.undo_stack.count() == 1


def test_right_click_during_drag_cancels(designer, mouse):
    doc, view = designer.doc, designer.map
    end = view.map_to_widget(0.0, 5.0)

    def right_click():
        QTest.mousePress(view.viewport(), Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, end)
        QTest.mouseRelease(view.viewport(), Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, end)

    mouse.drag(view, centre(designer, 1), end, during=right_click)
    assert doc.landscape == two_wells()
    assert doc.undo_stack.count() == 0 and not doc.is_previewing
    assert QApplication.activePopupWidget() is None  # no context menu either


def test_escape_during_drag_cancels(designer, mouse):
    doc, view = designer.doc, designer.map
    mouse.drag(view, centre(designer, 1), view.map_to_widget(0.0, 5.0),
               during=lambda: QTest.keyClick(view, Qt.Key.Key_Escape))
    assert doc.landscape == two_wells() and doc.undo_stack.count() == 0


def test_double_click_adds_a_well_and_delete_key_removes_it(designer, mouse, qtbot):
    doc, view = designer.doc, designer.map
    mouse.double_click(view, view.map_to_widget(0.0, -6.0))
    assert len(doc.landscape.wells) == 3
    new = doc.landscape.wells[2]
    tol = 1.5 * deg_per_px(designer)
    assert (new.cc1_deg, new.cc2_deg) == (pytest.approx(0.0, abs=tol), pytest.approx(-6.0, abs=tol))
    assert doc.selected_well == 2 and designer.inspector.title.text().count("Well 3")
    assert len(view.overlay.handles.data) == 3
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Delete)
    assert len(doc.landscape.wells) == 2
    doc.undo_stack.undo()
    assert len(doc.landscape.wells) == 3
    doc.undo_stack.undo()
    assert doc.landscape == two_wells()
    doc.undo_stack.redo()
    assert len(doc.landscape.wells) == 3


def test_context_menu_on_a_handle_deletes_it(designer, mouse, qtbot):
    doc, view = designer.doc, designer.map
    mouse.click(view, centre(designer, 0), Qt.MouseButton.RightButton)
    menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu)
    assert [a.text() for a in menu.actions()] == ["Delete well 1"]
    menu.actions()[0].trigger()
    menu.close()
    assert [w.name for w in doc.landscape.wells] == ["right"]


def test_context_menu_on_the_map_adds_a_well(designer, mouse):
    doc, view = designer.doc, designer.map
    mouse.click(view, view.map_to_widget(0.0, 6.0), Qt.MouseButton.RightButton)
    menu = QApplication.activePopupWidget()
    add = [a for a in menu.actions() if a.text().startswith("Add well")]
    add[0].trigger()
    menu.close()
    assert len(doc.landscape.wells) == 3
    assert doc.landscape.wells[2].cc2_deg == pytest.approx(6.0, abs=2 * deg_per_px(designer))


def test_click_selects_and_inspector_edits_follow_on_the_map(designer, mouse, qtbot):
    doc, view = designer.doc, designer.map
    mouse.click(view, centre(designer, 1))
    assert doc.selected_well == 1
    assert designer.table.selectionModel().selectedRows()[0].row() == 1
    depth = designer.inspector.spin_boxes["depth_kcal_per_mol"]
    assert depth.value() == pytest.approx(2.5)
    energy_before = view.image.image.copy()
    depth.lineEdit().selectAll()
    QTest.keyClicks(depth.lineEdit(), "4.5")
    QTest.keyClick(depth.lineEdit(), Qt.Key.Key_Return)
    assert doc.landscape.wells[1].depth_kcal_per_mol == pytest.approx(4.5)
    assert doc.undo_stack.count() == 1
    at = np.unravel_index(np.argmin(view.image.image), view.image.image.shape)
    assert view.image.image[at] == pytest.approx(float(doc.landscape.energy(6.0, 0.0)), abs=0.05)
    assert view.image.image.min() < energy_before.min()
    doc.undo_stack.undo()
    assert depth.value() == pytest.approx(2.5)
    designer.inspector.name_edit.setText("open")
    designer.inspector.name_edit.editingFinished.emit()
    assert doc.landscape.wells[1].name == "open"
    assert designer.table.row_texts(1)[1] == "open"


def test_dragging_two_wells_together_flags_the_merged_one(designer, mouse):
    doc, view = designer.doc, designer.map
    assert "merged" not in "".join(label.toPlainText() for label in view.overlay.labels)
    mouse.drag(view, centre(designer, 1), view.map_to_widget(-5.0, 0.3))
    assert doc.grid.basins.merged_into == (None, 1)
    labels = [label.toPlainText() for label in view.overlay.labels if label.isVisible()]
    assert labels == ["1", "2: merged into 1"]
    assert len(view.overlay.merged_rings.data) == 1
    assert designer.table.row_texts(1)[2:] == ["—", "—", "merged into 1"]
    doc.undo_stack.undo()
    assert len(view.overlay.merged_rings.data) == 0


def test_live_sample_is_coloured_by_ground_truth_well(designer):
    doc, view = designer.doc, designer.map
    designer.set_sample_size(4000)
    assert designer.controls.sample_label.text() == "4,000"
    shown = view.shown_samples()
    assert sum(len(p) for p in shown.values()) == 4000
    assert set(shown) == {1, 2}
    grid = doc.grid
    lo1, _, lo2, _ = grid.extent_deg
    step1, step2 = grid.step_deg
    for number, points in shown.items():
        assert view.samples.colour(number).name() == well_colour(number)
        i1 = ((points[:, 0] - lo1) / step1).astype(int)
        i2 = ((points[:, 1] - lo2) / step2).astype(int)
        assert np.all(grid.basins.label[i2, i1] == number)
    # the deeper well holds most of the sample, as its Boltzmann occupancy says
    p1 = grid.basins.occupancy[0]
    assert len(shown[1]) / 4000 == pytest.approx(p1, abs=0.03)
    designer.set_sample_size(0)
    assert view.shown_samples() == {}


def test_temperature_and_energy_unit_controls(designer, qtbot):
    doc, view = designer.doc, designer.map
    kcal = view.image.image.copy()
    designer.controls.unit.setCurrentText("kT")
    assert doc.energy_unit == "kT"
    assert "kT" in view.colorbar.axis.labelText
    np.testing.assert_allclose(view.image.image, kcal / doc.landscape.kT_kcal_per_mol)
    designer.controls.temperature.setValue(600.0)
    assert doc.landscape.temperature_K == 600.0 and doc.undo_stack.count() == 1
    assert "1.192" in designer.controls.kT_label.text()
    np.testing.assert_allclose(view.image.image, kcal / doc.landscape.kT_kcal_per_mol)
    designer.controls.core_enabled.setChecked(True)
    assert doc.landscape.core_radius_deg == pytest.approx(designer.controls.core_radius.value())
    doc.undo_stack.undo()
    assert doc.landscape.core_radius_deg is None and not designer.controls.core_enabled.isChecked()


def test_status_message_reports_cursor_and_energy(designer, mouse, qtbot):
    view = designer.map
    with qtbot.waitSignal(designer.sigStatusMessage) as sig:
        mouse.move(view, view.map_to_widget(-6.0, 0.0))
    message = sig.args[0]
    assert "kcal/mol" in message and "basin of well 1" in message
    cc1 = float(message.split("cc1 = ")[1].split("°")[0])
    energy = float(message.split("E = ")[1].split()[0])
    assert cc1 == pytest.approx(-6.0, abs=1.5 * deg_per_px(designer))
    assert energy == pytest.approx(float(designer.doc.landscape.energy(cc1, 0.0)), abs=0.02)
    assert energy == pytest.approx(-3.0, abs=0.05)


def test_read_only_map_picks_the_conformation(qtbot, mouse):
    from gui.landscape.landscape_map import LandscapeMapWidget

    doc = LandscapeDocument(load_preset("paper-3x4"))
    picker = LandscapeMapWidget(doc, editable=False, marginals=False, show_sample=False)
    qtbot.addWidget(picker)
    picker.resize(420, 340)
    with qtbot.waitExposed(picker):
        picker.show()
    well = doc.landscape.wells[6]
    with qtbot.waitSignal(doc.sigConformationChanged) as sig:
        mouse.click(picker, picker.map_to_widget(well.cc1_deg + 1.0, well.cc2_deg))
    tol = 2 * (picker.view_box.viewRange()[0][1] - picker.view_box.viewRange()[0][0]) / picker.view_box.width()
    assert sig.args[0] == pytest.approx(well.cc1_deg + 1.0, abs=tol)
    assert picker.marker.pos().x() == pytest.approx(sig.args[0])
    mouse.drag(picker, picker.map_to_widget(well.cc1_deg, well.cc2_deg), picker.map_to_widget(0.0, 0.0))
    assert doc.landscape == load_preset("paper-3x4") and doc.undo_stack.count() == 0


def test_throttled_layers_catch_up_with_the_latest_move(designer, qtbot):
    """During a drag the image and total marginals follow every move at once; contours,
    sample, per-well marginals and the table follow the latest move within the throttle."""
    from engine.landscape.sampling import sample_conformations
    from gui.landscape.landscape_map import SAMPLE_SEED

    doc, view = designer.doc, designer.map
    designer.set_sample_size(3000)
    contours_before = view.contours.xData.copy()
    table_before = designer.table.row_texts(1)
    for x in (5.0, 3.0, 1.0, -1.0):  # four moves before the event loop runs
        doc.preview_move_well(1, x, 2.0)
    # immediate layers: the image is the moved landscape's energy, the handle is there
    np.testing.assert_allclose(view.image.image, doc.landscape.grid().energy, atol=1e-12)
    assert tuple(view.overlay.handles.data["x"]) == (-6.0, -1.0)
    assert view.slow_refresh_pending
    qtbot.waitUntil(lambda: not view.slow_refresh_pending, timeout=2000)
    qtbot.waitUntil(lambda: designer.table.row_texts(1) != table_before, timeout=2000)
    # the throttled layers show the latest preview (not any of the earlier ones)
    live = doc.live_grid
    assert live.energy.shape == (128, 128) and doc.landscape.wells[1].cc1_deg == -1.0
    want = sample_conformations(live, 3000, SAMPLE_SEED)
    shown = view.shown_samples()
    for number, points in shown.items():
        mask = want.well == number
        np.testing.assert_allclose(np.sort(points[:, 0]), np.sort(want.cc1_deg[mask]))
    assert not np.array_equal(view.contours.xData, contours_before)
    assert designer.table.row_texts(1)[2] == f"{100 * live.basins.occupancy[1]:.1f} %"
    doc.move_well(1, -1.0, 2.0)  # release: everything at once, nothing pending
    assert not view.slow_refresh_pending and doc.undo_stack.count() == 1


def test_a_hidden_map_redraws_when_shown(qtbot):
    from gui.landscape.landscape_map import LandscapeMapWidget

    doc = LandscapeDocument(two_wells())
    picker = LandscapeMapWidget(doc, editable=False, marginals=False, show_sample=False)
    qtbot.addWidget(picker)
    with qtbot.waitExposed(picker):
        picker.show()
    picker.hide()
    before = picker.image.image.copy()
    doc.move_well(0, 0.0, 3.0)
    np.testing.assert_array_equal(picker.image.image, before)  # nothing drawn while hidden
    with qtbot.waitExposed(picker):
        picker.show()
    np.testing.assert_allclose(picker.image.image, doc.grid.energy)
    assert tuple(picker.overlay.handles.data["x"]) == (0.0, 6.0)


def test_sample_points_are_painted_in_their_wells_colours(qtbot):
    """WellPointsItem draws each point as a disc of its well's palette colour."""
    import pyqtgraph as pg
    from PySide6.QtGui import QColor

    from gui.landscape.well_handles import WellPointsItem

    plot = pg.PlotWidget(background="w")
    qtbot.addWidget(plot)
    plot.resize(300, 300)
    points = WellPointsItem(size_px=9.0, alpha=255)
    plot.addItem(points)
    plot.setRange(xRange=(0, 10), yRange=(0, 10), padding=0)
    with qtbot.waitExposed(plot):
        plot.show()
    xy = {1: (2.0, 2.0), 3: (5.0, 7.0), 12: (8.0, 4.0)}
    numbers = np.array([1, 3, 12, 3])
    points.set_points(np.array([xy[k][0] for k in numbers]), np.array([xy[k][1] for k in numbers]), numbers)
    assert set(points.points_by_well()) == {1, 3, 12} and len(points.points_by_well()[3]) == 2
    image = plot.grab().toImage()
    for number, (x, y) in xy.items():
        pixel = plot.mapFromScene(plot.getViewBox().mapViewToScene(pg.QtCore.QPointF(x, y)))
        colour = QColor(image.pixel(pixel))
        want = QColor(well_colour(number))
        assert max(abs(colour.red() - want.red()), abs(colour.green() - want.green()),
                   abs(colour.blue() - want.blue())) < 30, number
    empty = QColor(image.pixel(plot.mapFromScene(plot.getViewBox().mapViewToScene(pg.QtCore.QPointF(5.0, 2.0)))))
    assert empty.name() == "#ffffff"

"""The designer's path panel: well pickers, the profile curve, a path drawn with the mouse."""
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from engine.landscape.path_profile import well_path_profile
from engine.landscape.presets import load_preset
from gui.landscape.designer import LandscapeDesigner
from gui.landscape.path_profile_view import position_on_path
from gui.model.document import LandscapeDocument
from designer_data import show_designer


def pick(qtbot, combo, well: int) -> None:
    """Choose ``well`` in ``combo`` with the keyboard, as a user does (emits activated)."""
    combo.setFocus()
    key = Qt.Key.Key_Down if well - 1 > combo.currentIndex() else Qt.Key.Key_Up
    while combo.currentIndex() != well - 1:
        QTest.keyClick(combo, key)
    qtbot.wait(10)


def curve_data(panel):
    x, y = panel.curve.getData()
    return np.asarray(x), np.asarray(y)


@pytest.fixture
def paper_designer(qtbot):
    widget = LandscapeDesigner(LandscapeDocument(load_preset("paper-3x4")))
    qtbot.addWidget(widget)
    widget.resize(1400, 900)
    with qtbot.waitExposed(widget):
        widget.show()
    return widget


def test_combos_pick_the_wells_and_the_curve_is_their_profile(qtbot, paper_designer):
    panel, grid = paper_designer.path_panel, paper_designer.doc.grid
    assert panel.well_a.count() == 12
    pick(qtbot, panel.well_b, 7)
    pick(qtbot, panel.well_a, 6)
    expected = well_path_profile(grid, 6, 7)
    assert panel.profile.visits == (6, 7)
    x, y = curve_data(panel)
    np.testing.assert_allclose(x, expected.arc_deg)
    np.testing.assert_allclose(y, expected.free_energy_kcal_per_mol)
    # the barrier marker sits on the curve's top, and the number shown is basins.py's saddle
    bx, by = panel.barriers.getData()
    assert by[0] == pytest.approx(y.max()) and bx[0] == pytest.approx(x[np.argmax(y)])
    saddle = grid.basins.barrier_kcal_per_mol[(6, 7)]
    assert [t.toPlainText() for t in panel._labels][0] == f"{saddle:.2f}"
    assert f"barrier {saddle:.2f} kcal/mol" in panel.info.text()
    assert "Wells visited 6 → 7" in panel.info.text()
    # the wells are marked at their lowest points, in their colours
    wx, _ = panel.wells.getData()
    np.testing.assert_allclose(wx, expected.arc_deg[list(expected.visit_low_index)])
    # and the map draws the same path
    lx, ly = paper_designer.path_overlay.line.getData()
    np.testing.assert_allclose(np.column_stack([lx, ly]), expected.points_deg)


def test_energy_unit_kT_rescales_the_profile(qtbot, paper_designer):
    panel, doc = paper_designer.path_panel, paper_designer.doc
    _, y_kcal = curve_data(panel)
    paper_designer.controls.unit.setCurrentText("kT")
    _, y_kT = curve_data(panel)
    np.testing.assert_allclose(y_kT, y_kcal / doc.landscape.kT_kcal_per_mol)
    assert panel.plot.getPlotItem().getAxis("left").labelText == "G (kT)"
    assert " kT;" in panel.info.text()


def test_a_path_drawn_with_the_mouse_gets_the_energy_along_it(qtbot, mouse):
    designer = show_designer(qtbot)
    panel, view = designer.path_panel, designer.map
    land = designer.doc.landscape
    assert panel.profile.visits == (1, 2)
    QTest.mouseClick(panel.draw_button, Qt.MouseButton.LeftButton)
    assert panel.is_drawing and panel.profile is None
    for point in ((-9.0, -4.0), (9.0, 5.0)):
        mouse.click(view, view.map_to_widget(*point))
    assert len(panel.vertices) == 2
    a, b = np.array(panel.vertices)
    np.testing.assert_allclose(a, (-9.0, -4.0), atol=0.2)   # one pixel
    x, y = curve_data(panel)
    assert x[-1] == pytest.approx(np.hypot(*(b - a)))
    along = a + (x / x[-1])[:, None] * (b - a)
    np.testing.assert_allclose(y, land.energy(along[:, 0], along[:, 1]) - designer.doc.grid.energy.min(),
                               atol=1e-9)
    lx, ly = designer.path_overlay.line.getData()
    np.testing.assert_allclose(np.column_stack([lx, ly]), [a, b])
    assert "path integral" in panel.info.text()
    # a third click adds a corner; Clear goes back to the path between the wells
    mouse.click(view, view.map_to_widget(9.0, -5.0))
    assert len(panel.vertices) == 3 and len(panel.profile.arc_deg) > len(x)
    QTest.mouseClick(panel.clear_button, Qt.MouseButton.LeftButton)
    assert not panel.is_drawing and panel.vertices == [] and panel.profile.visits == (1, 2)


def test_editing_the_landscape_updates_the_path_and_the_well_list(qtbot):
    designer = show_designer(qtbot)
    panel, doc = designer.path_panel, designer.doc
    before = panel.profile.barrier_kcal_per_mol
    doc.add_well(doc.new_well_at(0.0, 0.0))   # between the two: the path now crosses it
    assert panel.well_a.count() == 3
    assert panel.profile.visits == (1, 3, 2)
    pick(qtbot, panel.well_b, 3)
    assert panel.profile.visits == (1, 3)
    doc.undo_stack.undo()
    assert panel.well_a.count() == 2 and panel.well_b.currentIndex() == 1
    assert panel.profile.visits == (1, 2)
    assert panel.profile.barrier_kcal_per_mol == pytest.approx(before)


def test_position_on_path_is_the_arc_length_of_the_nearest_point():
    corner = [(0.0, 0.0), (3.0, 0.0), (3.0, 4.0)]          # 3 then 4 degrees long
    assert position_on_path(corner, (3.0, 2.0)) == pytest.approx((5.0, 0.0))
    assert position_on_path(corner, (1.0, 1.0)) == pytest.approx((1.0, 1.0))
    assert position_on_path(corner, (5.0, 6.0)) == pytest.approx((7.0, np.hypot(2.0, 2.0)))
    assert position_on_path(corner, (-2.0, 0.0)) == pytest.approx((0.0, 2.0))
    assert position_on_path([(1.0, 1.0)], (4.0, 5.0)) == pytest.approx((0.0, 5.0))


def test_the_document_gets_the_path_between_the_picked_wells(qtbot, paper_designer):
    panel, doc = paper_designer.path_panel, paper_designer.doc
    assert doc.designer_path.wells == (1, 2)
    sent = []
    doc.sigDesignerPathChanged.connect(sent.append)
    pick(qtbot, panel.well_b, 7)
    pick(qtbot, panel.well_a, 6)
    path = doc.designer_path
    assert sent[-1] is path
    assert path.wells == (6, 7) == path.end_wells and not path.drawn
    assert path.visits == (6, 7)
    np.testing.assert_allclose(path.points_deg, well_path_profile(doc.grid, 6, 7).points_deg)
    with pytest.raises(ValueError):
        path.points_deg[0, 0] = 0.0   # read-only: the player and the lineage view share it
    pick(qtbot, panel.well_a, 7)       # the same well twice: no path
    assert doc.designer_path is None


def test_a_drawn_path_reaches_the_document_with_the_wells_it_visits(qtbot, mouse):
    designer = show_designer(qtbot)
    panel, view, doc = designer.path_panel, designer.map, designer.doc
    QTest.mouseClick(panel.draw_button, Qt.MouseButton.LeftButton)
    assert doc.designer_path is None          # one point is not a path yet
    for point in ((-7.0, 0.0), (0.0, 4.0), (7.0, 0.0)):
        mouse.click(view, view.map_to_widget(*point))
    path = doc.designer_path
    assert path.drawn and path.wells is None
    assert path.visits == (1, 2) and path.end_wells == (1, 2)
    np.testing.assert_allclose(path.points_deg, panel.profile.points_deg)
    assert len(path.points_deg) > 3           # densified to the grid step, not the 3 corners


def test_the_white_dot_marks_the_conformation_while_it_lies_on_the_path(qtbot):
    designer = show_designer(qtbot)
    panel, doc = designer.path_panel, designer.doc
    prof = panel.profile
    k = len(prof.points_deg) // 3
    doc.set_conformation(*prof.points_deg[k])
    x, y = panel.position.getData()
    assert x[0] == pytest.approx(prof.arc_deg[k])
    assert y[0] == pytest.approx(prof.free_energy_kcal_per_mol[k])
    designer.controls.unit.setCurrentText("kT")   # the dot follows the unit with the curve
    _, y_kT = panel.position.getData()
    assert y_kT[0] == pytest.approx(prof.free_energy_kcal_per_mol[k] / doc.landscape.kT_kcal_per_mol)
    doc.set_conformation(prof.points_deg[k][0], prof.points_deg[k][1] + 5.0)   # off the path
    assert len(panel.position.getData()[0]) == 0

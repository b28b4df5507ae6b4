"""The designer's Landscape panel: domain, grid size, background and confinement are undoable
edits; a domain that would leave a well outside is refused, saying which well."""
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from gui.landscape.designer import GRID_SIZES
from designer_data import show_designer, two_wells


@pytest.fixture
def designer(qtbot):
    return show_designer(qtbot)


def type_value(box, text):
    """Type ``text`` into a spin box and press Enter, as a user does."""
    box.setFocus()
    box.lineEdit().selectAll()
    QTest.keyClicks(box.lineEdit(), text)
    QTest.keyClick(box.lineEdit(), Qt.Key.Key_Return)


def image_extent(view):
    rect = view.image.mapRectToParent(view.image.boundingRect())
    return rect.left(), rect.right(), rect.top(), rect.bottom()


def test_domain_edit_is_one_undo_step_and_the_map_and_inspector_follow(designer):
    doc, view, controls = designer.doc, designer.map, designer.controls
    doc.select_well(1)
    cc1_box = designer.inspector.spin_boxes["cc1_deg"]
    assert (cc1_box.minimum(), cc1_box.maximum()) == (-12.0, 12.0)
    type_value(controls.range_boxes["cc1_range_deg"][1], "20")
    assert doc.landscape.cc1_range_deg == (-12.0, 20.0) and doc.undo_stack.count() == 1
    assert doc.undo_stack.undoText() == "Set cc1 range"
    assert image_extent(view) == pytest.approx((-12.0, 20.0, -9.0, 9.0))
    assert (cc1_box.minimum(), cc1_box.maximum()) == (-12.0, 20.0)
    # the map's energy is on the new domain: the grid's first cell centre moved
    step = 32.0 / 128
    assert doc.grid.cc1[-1] == pytest.approx(20.0 - step / 2)
    x_range = view.view_box.viewRange()[0]
    assert x_range[0] < -11.5 and x_range[1] > 19.5  # the view shows the whole new domain
    type_value(controls.range_boxes["cc2_range_deg"][0], "-3")
    assert doc.landscape.cc2_range_deg == (-3.0, 9.0)
    assert designer.inspector.spin_boxes["cc2_deg"].minimum() == -3.0
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.landscape == two_wells()
    assert controls.range_boxes["cc1_range_deg"][1].value() == 12.0
    assert (cc1_box.minimum(), cc1_box.maximum()) == (-12.0, 12.0)
    assert image_extent(view) == pytest.approx((-12.0, 12.0, -9.0, 9.0))


def test_domain_leaving_a_well_outside_is_refused_with_a_message(designer, qtbot):
    doc, controls = designer.doc, designer.controls
    hi_box = controls.range_boxes["cc1_range_deg"][1]
    with qtbot.waitSignal(designer.sigStatusMessage) as status:
        type_value(hi_box, "5")
    assert doc.landscape == two_wells() and doc.undo_stack.count() == 0
    message = controls.message.text()
    assert controls.message.isVisible() and status.args[0] == message
    assert "well 2 (right)" in message and "cc1 = 6°" in message and "outside" in message
    assert hi_box.value() == 12.0  # the box shows the landscape's value again
    # a valid edit afterwards clears the message
    type_value(hi_box, "14")
    assert doc.landscape.cc1_range_deg == (-12.0, 14.0) and not controls.message.isVisible()


def test_min_above_max_is_refused(designer):
    doc, controls = designer.doc, designer.controls
    type_value(controls.range_boxes["cc2_range_deg"][0], "10")
    assert doc.landscape.cc2_range_deg == (-9.0, 9.0) and doc.undo_stack.count() == 0
    assert "cc2 range not changed" in controls.message.text()
    assert "min must be below max" in controls.message.text()


def test_grid_size_offers_fine_grids_and_keeps_the_files_own(designer):
    doc, view, combo = designer.doc, designer.map, designer.controls.grid_size
    sizes = [combo.itemData(i) for i in range(combo.count())]
    assert sizes == [128, *GRID_SIZES] and combo.currentData() == 128
    assert "from the file" in combo.currentText()
    combo.activated.emit(sizes.index(768))
    assert doc.landscape.grid_size == 768 and doc.undo_stack.count() == 1
    assert view.image.image.shape == (768, 768) and doc.grid.energy.shape == (768, 768)
    assert image_extent(view) == pytest.approx((-12.0, 12.0, -9.0, 9.0))
    doc.undo_stack.undo()
    assert view.image.image.shape == (128, 128) and combo.currentData() == 128


def test_background_and_confinement_change_the_energy_map(designer):
    doc, view, controls = designer.doc, designer.map, designer.controls
    before = view.image.image.copy()
    p_cc2_before = view._total_curves[1].yData.copy()
    type_value(controls.background, "1.5")
    assert doc.landscape.background_kcal_per_mol == 1.5
    np.testing.assert_allclose(view.image.image, before + 1.5, atol=1e-12)
    type_value(controls.confinement, "2")
    land = doc.landscape
    assert land.confinement_kcal_per_mol == 2.0 and doc.undo_stack.count() == 2
    grid = doc.grid
    cc1, cc2 = np.meshgrid(grid.cc1, grid.cc2)
    np.testing.assert_allclose(view.image.image, land.energy(cc1, cc2), atol=1e-12)
    # the bowl reaches the confinement at the middle of each edge, far from the wells
    assert land.energy(0.0, 9.0) == pytest.approx(1.5 + 2.0, abs=1e-3)
    # the marginals follow: confinement pushes density away from the edges
    p_cc2 = view._total_curves[1].yData
    assert p_cc2[0] / p_cc2.max() < 0.5 * p_cc2_before[0] / p_cc2_before.max()
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    np.testing.assert_allclose(view.image.image, before, atol=1e-12)
    assert controls.background.value() == 0.0 and controls.confinement.value() == 0.0


def test_negative_confinement_cannot_be_typed(designer):
    controls = designer.controls
    assert controls.confinement.minimum() == 0.0
    type_value(controls.confinement, "-3")
    assert designer.doc.landscape.confinement_kcal_per_mol == 0.0
    assert designer.doc.undo_stack.count() == 0

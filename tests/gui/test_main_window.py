"""Main window: title, menus, files, unsaved changes, settings restored at the next start."""
import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from engine.landscape.io import load_landscape, save_landscape
from engine.landscape.presets import load_preset
from gui.main_window import MainWindow
from gui.widgets.settings import AppSettings


@pytest.fixture
def make_window(qtbot):
    def make(path=None):
        window = MainWindow(path)
        qtbot.addWidget(window)
        with qtbot.waitExposed(window):
            window.show()
        return window
    return make


def test_opens_default_preset_with_designer_tab_and_status_bar(make_window, isolated_settings):
    window = make_window()
    assert window.tabs.tabText(0) == "Landscape" and window.tabs.widget(0) is window.designer
    assert window.doc.landscape == load_preset("paper-3x4")
    assert window.windowTitle() == "paper-3x4 (unsaved) — elbench"
    assert window.statusBar().currentMessage() == "Ready"
    assert str(isolated_settings) in AppSettings().file_name  # never the user's own settings


def test_title_shows_file_name_and_star_when_dirty(make_window, tmp_path):
    path = tmp_path / "mine.json"
    save_landscape(load_preset("two-basins-channel"), path)
    window = make_window(str(path))
    assert window.windowTitle() == "mine.json — elbench"
    window.doc.move_well(0, 1.0, 1.0)
    assert window.windowTitle() == "mine.json* — elbench"
    window.doc.undo_stack.undo()
    assert window.windowTitle() == "mine.json — elbench"


def test_undo_redo_shortcuts(make_window, qtbot):
    window = make_window()
    with qtbot.waitActive(window):
        window.activateWindow()
    before = window.doc.landscape
    window.doc.move_well(2, 0.0, 0.0)
    moved = window.doc.landscape
    assert window.action_undo.text() == "&Undo Move well 3"
    view = window.designer.map  # the user's last click was on the map
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.doc.landscape == before
    QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.doc.landscape == moved


def test_save_as_and_reopen_round_trip(make_window, tmp_path, message_boxes):
    window = make_window()
    window.doc.move_well(0, -13.0, -8.0)
    window.doc.update_well(0, name="open state", depth_kcal_per_mol=4.25)
    path = tmp_path / "designed.json"
    assert window.save_as(str(path))
    assert not window.doc.is_dirty and window.windowTitle() == "designed.json — elbench"
    edited = window.doc.landscape
    other = make_window()
    assert other.open_file(str(path))
    assert other.doc.landscape == edited
    assert other.doc.landscape.wells[0].name == "open state"
    assert message_boxes.warnings == []


def test_save_without_a_path_asks_for_one(make_window, tmp_path, monkeypatch):
    target = tmp_path / "chosen"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    window = make_window()
    window.doc.move_well(0, 0.0, 0.0)
    assert window.save()
    assert load_landscape(tmp_path / "chosen.json") == window.doc.landscape


def test_malformed_file_shows_the_field_and_keeps_the_landscape(make_window, tmp_path, message_boxes):
    window = make_window()
    window.doc.move_well(1, 0.0, 0.0)
    before = window.doc.landscape
    bad = tmp_path / "broken.json"
    data = {"format_version": 1, "cc1_range_deg": [-5, 5], "cc2_range_deg": [-5, 5],
            "temperature_K": -3, "wells": []}
    bad.write_text(json.dumps(data))
    assert not window.open_file(str(bad))
    assert len(message_boxes.warnings) == 1
    assert "broken.json" in message_boxes.warnings[0] and "temperature_K" in message_boxes.warnings[0]
    assert window.doc.landscape is before and window.doc.is_dirty
    (tmp_path / "not_json.json").write_text("{oops")
    assert not window.open_file(str(tmp_path / "not_json.json"))
    assert "malformed JSON" in message_boxes.warnings[1]
    assert window.doc.landscape is before


def test_close_with_unsaved_changes_asks(make_window, message_boxes, tmp_path):
    window = make_window()
    window.doc.move_well(0, 0.0, 0.0)
    message_boxes.reply = QMessageBox.StandardButton.Cancel
    assert not window.close()
    assert window.isVisible() and len(message_boxes.questions) == 1
    assert "unsaved changes" in message_boxes.questions[0]
    message_boxes.reply = QMessageBox.StandardButton.Discard
    assert window.close()
    assert not window.isVisible()


def test_close_and_save(make_window, message_boxes, tmp_path):
    path = tmp_path / "keep.json"
    save_landscape(load_preset("paper-3x4"), path)
    window = make_window(str(path))
    window.doc.move_well(3, 10.0, -10.0)
    message_boxes.reply = QMessageBox.StandardButton.Save
    assert window.close()
    assert load_landscape(path).wells[3].cc1_deg == 10.0


def test_new_from_preset_asks_when_dirty(make_window, message_boxes):
    window = make_window()
    window.doc.move_well(0, 0.0, 0.0)
    message_boxes.reply = QMessageBox.StandardButton.Cancel
    assert not window.new_from_preset("ratchet-valley")
    assert window.doc.landscape.name == "paper-3x4"
    message_boxes.reply = QMessageBox.StandardButton.Discard
    assert window.new_from_preset("ratchet-valley")
    assert window.doc.landscape == load_preset("ratchet-valley") and not window.doc.is_dirty
    presets = [a.text() for a in window.menuBar().actions()[0].menu().actions()[0].menu().actions()]
    assert "ratchet-valley" in presets and "paper-3x4" in presets


def test_last_file_and_view_settings_are_restored(make_window, tmp_path, message_boxes):
    path = tmp_path / "last.json"
    save_landscape(load_preset("two-basins-channel"), path)
    window = make_window(str(path))
    window.doc.set_energy_unit("kT")
    window.designer.set_sample_size(2500)
    window.resize(1300, 850)
    assert window.close()
    again = make_window()
    assert again.doc.path == str(path.resolve())
    assert again.doc.landscape == load_preset("two-basins-channel")
    assert again.doc.energy_unit == "kT" and again.designer.sample_size == 2500
    assert (again.width(), again.height()) == (1300, 850)


def test_unsaved_landscape_is_restored_as_it_was_last_kept(make_window, message_boxes):
    window = make_window()
    window.new_from_preset("ratchet-valley")
    window.doc.move_well(0, 0.0, 0.0)  # discarded below: not restored
    message_boxes.reply = QMessageBox.StandardButton.Discard
    assert window.close()
    again = make_window()
    assert again.doc.path == "" and not again.doc.is_dirty
    assert again.doc.landscape == load_preset("ratchet-valley")


def test_bad_settings_fall_back_to_the_default(make_window, tmp_path):
    settings = AppSettings()
    settings.last_landscape_path = str(tmp_path / "gone.json")
    settings.write("view/sample_size", "many")
    settings.sync()
    window = make_window()
    assert window.doc.landscape == load_preset("paper-3x4")
    assert window.designer.sample_size == 5000
    assert "gone.json" in window.statusBar().currentMessage()


def test_undo_is_off_on_the_comparison_and_simulation_tabs(make_window):
    """Ctrl+Z on the Comparison tab must not undo a landscape edit made on the Landscape tab."""
    window = make_window()
    doc = window.doc
    doc.set_landscape_field("temperature_K", doc.landscape.temperature_K + 10.0)
    edited = doc.landscape
    assert window.action_undo.isEnabled()
    index = doc.undo_stack.index()
    window.tabs.setCurrentWidget(window.comparison)
    assert not window.action_undo.isEnabled()
    window.action_undo.trigger()
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert doc.undo_stack.index() == index and doc.landscape == edited
    window.tabs.setCurrentWidget(window.simulation)
    assert not window.action_undo.isEnabled()
    window.tabs.setCurrentWidget(window.designer)
    assert window.action_undo.isEnabled()


def test_quitting_with_a_running_simulation_asks_and_says_it_can_be_resumed(make_window, message_boxes, monkeypatch):
    window = make_window()
    monkeypatch.setattr(window.simulation.runner, "is_running", lambda: True)
    message_boxes.reply = QMessageBox.StandardButton.Cancel
    assert not window.close()
    assert window.isVisible() and "resumed" in message_boxes.questions[-1]
    message_boxes.reply = QMessageBox.StandardButton.Discard
    monkeypatch.undo()
    assert window.close()


def test_maps_loaded_in_the_structure_tab_become_the_plans_object_through_the_document(make_window, qtbot, tmp_path):
    """No tab reaches into another: the Structure tab makes the maps the document's object,
    the Simulation tab's plan follows the document; Ctrl+Z on the Structure tab goes back to
    the built-in object, and the landscape stays clean throughout."""
    from engine.structure.maps import write_map
    from engine.structure.object_model import build_ribosome_like
    from gui.model.object_state import KIND_MAPS, MapsRequest

    obj = build_ribosome_like(box_size=32)
    write_map(tmp_path / "lsu.mrc", obj.lsu, obj.apix_A)
    write_map(tmp_path / "ssu.mrc", obj.ssu, obj.apix_A)
    window = make_window()
    window.structure.box_combo.setCurrentText("64")    # quicker to build than the default 128
    window.tabs.setCurrentWidget(window.structure)
    qtbot.waitUntil(lambda: window.structure.object is not None, timeout=60_000)   # the built-in one
    assert window.doc.undo_stack.count() == 0
    request = MapsRequest(KIND_MAPS, str(tmp_path / "lsu.mrc"), str(tmp_path / "ssu.mrc"),
                          pivot_A=tuple(obj.pivot_A))
    with qtbot.waitSignal(window.doc.sigObjectChanged, timeout=30_000):
        window.structure.load_maps(request)
    spec = window.simulation.plan().object
    assert (spec.kind, spec.lsu_map) == ("two-maps", str(tmp_path / "lsu.mrc"))
    assert window.simulation.box_spin.value() == 32
    assert window.action_undo.isEnabled() and window.windowTitle() == "paper-3x4 (unsaved) — elbench"
    with qtbot.waitSignal(window.structure.sigObjectChanged, timeout=60_000):
        window.action_undo.trigger()
    assert window.doc.current_object.is_builtin and window.simulation.plan().object.kind == "ribosome-like"
    assert window.structure.object.name == "ribosome-like (seed 0)"
    window.structure.close_view()


def test_the_projection_preview_shows_the_simulation_tabs_plan(make_window, qtbot, monkeypatch):
    """The Simulation tab's plan reaches the preview through the document: its SNR, optics and
    defocus are the ones the noisy image is calibrated for; a change of the particle count
    (which the calibration sample does not depend on) does not recalibrate."""
    from gui.structure import projection_preview
    from gui.structure.projection_preview import MODE_NOISY

    window = make_window()
    window.structure.box_combo.setCurrentText("64")
    window.tabs.setCurrentWidget(window.structure)
    qtbot.waitUntil(lambda: window.structure.object is not None, timeout=60_000)
    preview = window.structure.preview
    preview.set_mode(MODE_NOISY)
    panel = window.simulation
    panel.snr_spin.setValue(0.25)
    panel.voltage_spin.setValue(200.0)
    panel.defocus_min.setValue(2.0)
    assert window.doc.simulation_plan == panel.plan()
    preview.refresh()
    plan = preview.calibration_plan()
    assert (plan.snr, plan.voltage_kV, plan.defocus_min_A) == (0.25, 200.0, 20_000.0)
    assert preview.settings().snr == 0.25
    sigma = preview.noise_sigma()
    calibrations = []
    monkeypatch.setattr(projection_preview, "plan_noise", lambda *a: calibrations.append(a))
    panel.n_spin.setValue(123_456)
    preview.refresh()
    assert calibrations == [] and preview.noise_sigma() == sigma
    window.structure.close_view()


def test_hostile_landscape_files_get_the_engines_message_in_a_box(make_window, tmp_path, message_boxes):
    window = make_window()
    before = window.doc.landscape
    empty = {"format_version": 1, "cc1_range_deg": [-5, 5], "cc2_range_deg": [-5, 5], "temperature_K": 300,
             "wells": []}
    (tmp_path / "empty.json").write_text(json.dumps(empty))
    assert not window.open_file(str(tmp_path / "empty.json"))
    assert not window.open_file("/dev/zero")   # refused at once, not read until memory runs out
    assert message_boxes.warnings == [
        f"Could not open {tmp_path / 'empty.json'}:\n\nwells: the list is empty; a landscape file needs at least "
        "one well (particles are labelled by well)",
        "Could not open /dev/zero:\n\nfile: is a character device, not a regular file"]
    assert window.doc.landscape is before
    for _ in before.wells:
        window.doc.remove_well(0)
    assert not window.save_as(str(tmp_path / "none.json"))
    assert "none.json:\n\nwells: the list is empty" in message_boxes.warnings[-1]
    assert not (tmp_path / "none.json").exists()


def test_a_bad_plan_gets_the_engines_message_in_a_box(make_window, tmp_path, message_boxes):
    from engine.simulation.plan import PlanError, load_plan

    window = make_window()
    empty = {"format_version": 1, "cc1_range_deg": [-5, 5], "cc2_range_deg": [-5, 5], "temperature_K": 300,
             "wells": []}
    (tmp_path / "empty.json").write_text(json.dumps(empty))
    (tmp_path / "plan.json").write_text(json.dumps({"format_version": 1, "landscape_file": "empty.json",
                                                    "n_particles": 10}))
    with pytest.raises(PlanError) as caught:
        load_plan(tmp_path / "plan.json")
    assert not window.simulation.load_plan(tmp_path / "plan.json")
    assert message_boxes.warnings == [str(caught.value)]
    assert "plan.json" in str(caught.value) and "empty.json: wells: the list is empty" in str(caught.value)

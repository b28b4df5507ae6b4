"""The Structure & projections tab: map, sliders, 3D view and preview stay linked."""
from __future__ import annotations

import threading

import mrcfile
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

import gui.structure.load_maps_dialog as load_maps_dialog
import gui.structure.structure_tab as structure_tab
from engine.structure.maps import write_map
from engine.structure.object_model import build_ribosome_like
from engine.landscape.presets import load_preset
from engine.structure.rotations import conformation_matrix
from gui.model.document import LandscapeDocument
from gui.structure.structure_tab import StructureTab

READY_MS = 30_000   # preparing a box-48 object takes well under a second; CI machines are slow

BOX = 48


@pytest.fixture(scope="module")
def obj():
    return build_ribosome_like(box_size=BOX)


@pytest.fixture
def doc():
    return LandscapeDocument(load_preset("paper-3x4"))


@pytest.fixture
def tab(qtbot, doc, obj):
    t = StructureTab(doc, obj=obj)          # prepared in the job runner
    qtbot.addWidget(t)
    qtbot.waitUntil(lambda: t.object is obj, timeout=READY_MS)
    t.resize(1300, 800)
    t.show()
    qtbot.waitExposed(t)
    yield t
    t.close_view()


def _map_point(tab, cc1, cc2) -> QPoint:
    return tab.picker.map_to_widget(cc1, cc2)


def test_click_on_the_map_moves_the_ssu_and_the_sliders(tab, doc, obj, mouse):
    doc.set_conformation(0.0, 0.0)
    rest = tab.view.ssu_vertices_A()
    mouse.click(tab.picker, _map_point(tab, 10.0, -6.0))
    cc1, cc2 = doc.conformation
    assert cc1 == pytest.approx(10.0, abs=0.4) and cc2 == pytest.approx(-6.0, abs=0.4)
    assert tab.cc1.value() == pytest.approx(cc1, abs=0.05)
    assert tab.cc2.value() == pytest.approx(cc2, abs=0.05)
    rc = conformation_matrix(obj.axis1, obj.axis2, cc1, cc2)[0]
    np.testing.assert_allclose(tab.view.ssu_vertices_A(), (rest - obj.pivot_A) @ rc.T + obj.pivot_A,
                               atol=1e-3)


def test_dragging_the_marker_follows_the_mouse(tab, doc, mouse):
    doc.set_conformation(-4.0, 0.0)
    mouse.drag(tab.picker, _map_point(tab, -4.0, 0.0), _map_point(tab, 8.0, 6.0), steps=8)
    cc1, cc2 = doc.conformation
    assert cc1 == pytest.approx(8.0, abs=0.5) and cc2 == pytest.approx(6.0, abs=0.5)
    assert tab.cc1.value() == pytest.approx(cc1, abs=0.05)


def test_sliders_set_the_conformation_and_the_map_marker(tab, doc, qtbot):
    tab.cc1.slider.setValue(-125)                 # -12.5 degrees
    tab.cc2.spin.setValue(7.0)
    assert doc.conformation == (-12.5, 7.0)
    pos = tab.picker.marker.pos()
    assert (pos.x(), pos.y()) == pytest.approx((-12.5, 7.0))
    assert "basin of well 9" in tab.info_label.text()
    # the preview follows the document too
    qtbot.waitUntil(lambda: "cc1 -12.5°, cc2 7.0°" in tab.preview._caption.text(), timeout=2000)


def test_drawn_path_is_played(tab, doc, mouse, qtbot):
    doc.set_conformation(0.0, 0.0)
    tab.draw_path_box.setChecked(True)
    points = [(-15.0, -10.0), (-5.0, 5.0), (12.0, 0.0)]
    for p in points:
        mouse.click(tab.picker, _map_point(tab, *p))
    assert doc.conformation == (0.0, 0.0)         # drawing does not move the SSU
    np.testing.assert_allclose(tab.player.path(), points, atol=0.4)
    x, y = tab.path_curve.getData()
    np.testing.assert_allclose(np.c_[x, y], tab.player.path())
    tab.player.set_speed(200.0)
    qtbot.mouseClick(tab.player.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.player.is_playing(), timeout=5000)
    np.testing.assert_allclose(doc.conformation, tab.player.path()[-1])
    np.testing.assert_allclose((tab.cc1.value(), tab.cc2.value()), tab.player.path()[-1], atol=0.05)


def test_threshold_slider_remeshes(tab, qtbot):
    before = len(tab.view.lsu_vertices_A())
    tab.threshold_slider.setValue(60)
    qtbot.waitUntil(lambda: tab.view.threshold == pytest.approx(0.6), timeout=2000)
    assert len(tab.view.lsu_vertices_A()) < before


def test_the_3d_view_shows_the_preview_projection(tab, qtbot):
    tab.preview.set_euler(50.0, 120.0, 15.0)
    qtbot.waitUntil(lambda: tab.view.projection_euler == (50.0, 120.0, 15.0), timeout=2000)
    frame = tab.grab_frame()
    assert frame.ndim == 3 and frame[..., :3].std() > 10


def _write_object_maps(folder, obj):
    write_map(folder / "lsu.mrc", obj.lsu, obj.apix_A)
    write_map(folder / "ssu.mrc", obj.ssu, obj.apix_A)
    write_map(folder / "mask.mrc", obj.ssu_mask * 2.0, obj.apix_A)   # not a mask: values up to 2
    (folder / "notes.txt").write_text("not a map")


def _error_shown(dialog, *words):
    return lambda: dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled() and all(
        w in dialog.error_label.text() for w in words)


def test_bad_maps_show_the_file_and_keep_the_object(tab, obj, tmp_path, qtbot):
    _write_object_maps(tmp_path, obj)
    dialog = tab.open_load_maps_dialog()
    qtbot.waitExposed(dialog)
    dialog.first_edit.setText(str(tmp_path / "lsu.mrc"))
    dialog.second_edit.setText(str(tmp_path / "notes.txt"))
    dialog.accept()
    qtbot.waitUntil(_error_shown(dialog, "notes.txt", "MRC"), timeout=READY_MS)
    assert dialog.isVisible()
    assert tab.object is obj
    assert "notes.txt" in tab.status_label.text() and tab.status_label.isVisible()
    dialog.mask_radio.setChecked(True)
    dialog.second_edit.setText(str(tmp_path / "mask.mrc"))
    dialog.accept()
    qtbot.waitUntil(_error_shown(dialog, "mask.mrc", "[0, 1]"), timeout=READY_MS)
    assert tab.object is obj
    # the same map twice as LSU and SSU would double the density: refused, both files named
    dialog.maps_radio.setChecked(True)
    dialog.second_edit.setText(str(tmp_path / "lsu.mrc"))
    dialog.accept()
    qtbot.waitUntil(_error_shown(dialog, "looks like the whole map"), timeout=READY_MS)
    assert "use map + SSU mask" in dialog.error_label.text()
    assert tab.object is obj
    dialog.reject()


def test_good_maps_replace_the_object(tab, obj, tmp_path, qtbot):
    _write_object_maps(tmp_path, obj)
    dialog = tab.open_load_maps_dialog()
    dialog.first_edit.setText(str(tmp_path / "lsu.mrc"))
    dialog.second_edit.setText(str(tmp_path / "ssu.mrc"))
    for spin, v in zip(dialog.pivot, obj.pivot_A):
        spin.setValue(v)
    for spin, v in zip(dialog.axis1, (0.0, 2.0, 0.0)):   # any length: normalised
        spin.setValue(v)
    with qtbot.waitSignal(tab.sigObjectChanged, timeout=READY_MS) as blocker:
        dialog.accept()
    loaded = blocker.args[0]
    assert tab.object is loaded and loaded is not obj
    assert dialog.loaded_object is loaded and not dialog.isVisible()
    assert loaded.name == "lsu + ssu"
    np.testing.assert_allclose(loaded.axis1, (0.0, 1.0, 0.0))
    np.testing.assert_allclose(loaded.pivot_A, obj.pivot_A, atol=1e-3)
    assert "lsu + ssu" in tab._object_label.text()
    assert len(tab.view.ssu_vertices_A()) > 100
    assert tab.preview._projector.obj is loaded


def test_pivot_copied_from_chimerax_uses_the_header_origin(tab, obj, tmp_path, qtbot):
    """Maps with a header origin; the pivot typed as ChimeraX shows it (the map's own frame)
    lands on the same voxel as the box-centred pivot."""
    origin = np.array([210.0, -35.0, 64.0])
    for name, data in (("lsu.mrc", obj.lsu), ("ssu.mrc", obj.ssu)):
        with mrcfile.new(tmp_path / name) as m:
            m.set_data(np.asarray(data, np.float32))
            m.voxel_size = obj.apix_A
            m.header.origin = tuple(origin)
    chimerax = obj.pivot_A + origin + (BOX // 2) * obj.apix_A
    dialog = tab.open_load_maps_dialog()
    dialog.first_edit.setText(str(tmp_path / "lsu.mrc"))
    qtbot.waitUntil(lambda: "box centre" in dialog.frame_label.text(), timeout=2000)
    centre = origin + (BOX // 2) * obj.apix_A
    assert ", ".join(f"{v:.1f}" for v in centre) in dialog.frame_label.text()
    dialog.second_edit.setText(str(tmp_path / "ssu.mrc"))
    for spin, v in zip(dialog.pivot, chimerax):
        spin.setValue(v)
    dialog.accept()                       # read as box-centred, it lies far outside the box
    qtbot.waitUntil(_error_shown(dialog, "outside", "map's own frame"), timeout=READY_MS)
    dialog.map_frame_radio.setChecked(True)
    with qtbot.waitSignal(tab.sigObjectChanged, timeout=READY_MS) as blocker:
        dialog.accept()
    np.testing.assert_allclose(blocker.args[0].pivot_A, obj.pivot_A, atol=1e-3)


def test_large_maps_are_cropped_for_display_with_a_warning(tab, obj, tmp_path, qtbot):
    tab.max_preview_box = 32                  # stands for 256: a 48 px map is "large" here
    _write_object_maps(tmp_path, obj)
    dialog = tab.open_load_maps_dialog()
    dialog.first_edit.setText(str(tmp_path / "lsu.mrc"))
    dialog.second_edit.setText(str(tmp_path / "ssu.mrc"))
    qtbot.waitUntil(lambda: "Fourier-cropped to 32 px" in dialog.frame_label.text(), timeout=2000)
    for spin, v in zip(dialog.pivot, obj.pivot_A):
        spin.setValue(v)
    with qtbot.waitSignal(tab.sigObjectChanged, timeout=READY_MS) as blocker:
        dialog.accept()
    shown = blocker.args[0]
    apix = obj.apix_A * BOX / 32
    assert shown.box_size == 32 and shown.apix_A == pytest.approx(apix)
    assert tab.preview.image().shape == (32, 32)
    note = tab.status_label.text()
    assert tab.status_label.isVisible() and "Fourier-cropped to 32 px" in note
    assert f"{apix:.3f} Å/px" in note and "full size" in note


def test_preparation_runs_in_the_job_runner_and_keeps_the_old_object(tab, obj, doc, qtbot,
                                                                      monkeypatch):
    """While a new object is built (here held back until the test lets it go) the busy bar
    and status line show, the old object stays on screen and keeps following the
    conformation, and the work happens outside the GUI thread."""
    small = build_ribosome_like(box_size=32)
    release, threads = threading.Event(), []

    def slow_build(box_size, seed=0):
        threads.append(threading.current_thread())
        assert release.wait(20)
        return small

    monkeypatch.setattr(structure_tab, "build_ribosome_like", slow_build)
    tab.build_builtin_object(64)
    qtbot.waitUntil(lambda: bool(threads), timeout=5000)
    assert threads[0] is not threading.main_thread()
    assert tab.busy_bar.isVisible() and tab.cursor().shape() == Qt.CursorShape.BusyCursor
    assert "building the built-in object" in tab.status_label.text().lower()
    assert tab.object is obj
    rest = tab.view.ssu_vertices_A()
    doc.set_conformation(12.0, 0.0)                 # the old object is still usable
    assert np.abs(tab.view.ssu_vertices_A() - rest).max() > 5.0
    with qtbot.waitSignal(tab.sigObjectChanged, timeout=READY_MS) as blocker:
        release.set()
    assert blocker.args[0] is small and tab.object is small
    assert not tab.busy_bar.isVisible() and not tab.status_label.isVisible()
    assert tab.cursor().shape() == Qt.CursorShape.ArrowCursor
    assert tab.preview.image().shape == (32, 32)


def test_label_names_the_mask_diameter_and_the_object_extent(tab, obj):
    text = tab._object_label.text()
    assert f"SNR mask diameter {obj.mask_diameter_A:.0f} Å" in text
    assert f"object extent ~{obj.extent_A:.0f} Å" in text
    assert obj.extent_A < obj.mask_diameter_A


def test_main_window_has_the_tab(qtbot):
    from gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    titles = [window.tabs.tabText(i).replace("&&", "&") for i in range(window.tabs.count())]
    assert "Structure & projections" in titles
    tab = window.tabs.widget(titles.index("Structure & projections"))
    assert isinstance(tab, StructureTab) and tab.object is None   # built when first shown
    tab.close_view()


def test_cancelling_the_dialog_while_loading_cancels_the_job(tab, obj, tmp_path, qtbot, monkeypatch):
    _write_object_maps(tmp_path, obj)
    release, started = threading.Event(), threading.Event()

    def slow_load(request, max_box=None):
        started.set()
        assert release.wait(20)
        return obj

    monkeypatch.setattr(load_maps_dialog.MapsRequest, "load", slow_load)
    dialog = tab.open_load_maps_dialog()
    dialog.first_edit.setText(str(tmp_path / "lsu.mrc"))
    dialog.second_edit.setText(str(tmp_path / "ssu.mrc"))
    dialog.accept()
    assert started.wait(5) and tab.loader.is_running()
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
    changed = []
    tab.sigObjectChanged.connect(changed.append)
    with qtbot.waitSignal(tab.loader.sigCancelled, timeout=READY_MS):
        dialog.reject()
        release.set()
    assert not tab.busy_bar.isVisible() and changed == [] and tab.object is obj


def test_loaded_maps_become_the_documents_object_in_one_undo_step(qtbot, tmp_path):
    """Maps loaded in the tab become the document's object once on screen (its signal, one
    undo step, the landscape stays clean); the built-in object is another step; undo and redo
    put the objects from before back on screen."""
    from gui.model.object_state import KIND_MAPS, CurrentObject, MapsRequest

    obj = build_ribosome_like(box_size=32)
    write_map(tmp_path / "lsu.mrc", obj.lsu, obj.apix_A)
    write_map(tmp_path / "ssu.mrc", obj.ssu, obj.apix_A)
    doc = LandscapeDocument()
    tab = StructureTab(doc, box_size=32)
    qtbot.addWidget(tab)
    request = MapsRequest(KIND_MAPS, str(tmp_path / "lsu.mrc"), str(tmp_path / "ssu.mrc"),
                          pivot_A=tuple(obj.pivot_A), axis1=tuple(obj.axis1), axis2=tuple(obj.axis2))
    with qtbot.waitSignal(doc.sigObjectChanged, timeout=READY_MS) as changed:
        tab.load_maps(request)
    current = changed.args[0]
    assert current is doc.current_object and current.maps is request
    np.testing.assert_allclose(current.pivot_A, tab.object.pivot_A)
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "Load maps lsu.mrc + ssu.mrc"
    assert not doc.is_dirty
    with qtbot.waitSignal(doc.sigObjectChanged, timeout=READY_MS):
        tab.build_builtin_object(32)
    assert doc.current_object == CurrentObject.builtin() and doc.undo_stack.count() == 2
    built = tab.object
    with qtbot.waitSignal(tab.sigObjectChanged, timeout=READY_MS) as shown:
        doc.undo_stack.undo()                 # the maps again, read by the tab
    assert doc.current_object is current and shown.args[0].name == "lsu + ssu"
    with qtbot.waitSignal(tab.sigObjectChanged, timeout=READY_MS) as shown:
        doc.undo_stack.redo()
    assert shown.args[0].name == built.name and doc.undo_stack.count() == 2   # nothing new pushed
    tab.shutdown()
    tab.close_view()


def test_the_tab_shows_the_object_the_document_names(qtbot, doc):
    """A built-in seed set in the document (a simulation plan's, say) is built when the tab
    is first shown, at the tab's box."""
    from gui.model.object_state import CurrentObject

    doc.set_current_object(CurrentObject.builtin(seed=4))
    tab = StructureTab(doc, box_size=64)
    qtbot.addWidget(tab)
    assert tab.object is None                                  # nothing built while hidden
    with qtbot.waitSignal(tab.sigObjectChanged, timeout=READY_MS) as shown:
        tab.show()
    assert shown.args[0].name == "ribosome-like (seed 4)" and shown.args[0].box_size == 64
    assert doc.undo_stack.count() == 1                          # showing it pushes nothing
    tab.close_view()

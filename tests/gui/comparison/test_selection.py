"""Linked selection: exact region tests, real lasso and rectangle drags in one panel highlight
the same particles in every other panel, and the selection exports as indices and STAR."""
from pathlib import Path

import numpy as np
import pytest
import starfile
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QPolygonF
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from comparison_data import dataset_and_outputs
from gui.comparison.comparison_model import ComparisonModel
from gui.comparison.lineage_view import LineageView
from gui.comparison.point_panel import CODE_DIMMED
from gui.comparison.selection import SelectionModel, points_in_polygon, points_in_rect, write_indices

PAUSE_MS = 15  # pyqtgraph drops mouse moves closer than 10 ms


# --- geometry ---------------------------------------------------------------------------------
def test_points_in_polygon_agrees_with_qt_on_a_concave_star():
    rng = np.random.default_rng(4)
    angles = np.linspace(0, 2 * np.pi, 11)[:-1]
    radii = np.where(np.arange(10) % 2, 0.4, 1.0)
    star = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    xy = rng.uniform(-1.2, 1.2, (4000, 2))
    inside = points_in_polygon(xy, star)
    poly = QPolygonF([QPointF(x, y) for x, y in star])
    qt_inside = np.array([poly.containsPoint(QPointF(x, y), Qt.FillRule.OddEvenFill) for x, y in xy])
    assert inside.sum() > 500
    np.testing.assert_array_equal(inside, qt_inside)


def test_points_in_rect_and_degenerate_polygons():
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.5, 1.6]])
    np.testing.assert_array_equal(points_in_rect(xy, 1.5, -0.5, -0.5, 1.5), [True, True, False, False])
    assert not points_in_polygon(xy, np.array([[0, 0], [1, 1]])).any()  # two vertices enclose nothing
    assert not points_in_polygon(np.zeros((0, 2)), np.array([[0, 0], [1, 0], [0, 1]])).any()


def test_selection_model_modes():
    sel = SelectionModel(10)
    changes = []
    sel.sigChanged.connect(lambda: changes.append(sel.count))
    sel.select([1, 2, 3])
    sel.select([3, 4], "add")
    sel.select([1], "subtract")
    assert sel.indices().tolist() == [2, 3, 4] and changes == [3, 4, 3]
    sel.select([7], "replace")
    assert sel.indices().tolist() == [7]
    with pytest.raises(ValueError, match="indices"):
        sel.select([10])
    sel.clear()
    assert sel.count == 0 and not sel.mask.flags.writeable


# --- real gestures in the lineage view -----------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return dataset_and_outputs(tmp_path_factory.mktemp("selection"), n=5000, seed=8)


@pytest.fixture
def view(qtbot, files):
    folder, npy, pkl, _ = files
    model = ComparisonModel()
    view = LineageView(model)
    qtbot.addWidget(view)
    view.resize(1300, 700)
    model.open_dataset(folder)
    model.add_output(npy)
    model.add_output(pkl)
    assert model.wait_idle()
    view.set_grid(True)
    with qtbot.waitExposed(view):
        view.show()
    qtbot.wait(50)
    yield view
    model.shutdown()


def to_widget(view, panel, x, y) -> QPoint:
    scene = panel.view_box.mapViewToScene(QPointF(x, y))
    return view.plots.mapFromScene(scene)


def send(view, kind, pos: QPoint, buttons, modifiers=Qt.KeyboardModifier.NoModifier):
    target = view.plots.viewport()
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    event = QMouseEvent(kind, QPointF(pos), target.mapToGlobal(QPointF(pos)), button, buttons, modifiers)
    QApplication.sendEvent(target, event)
    QTest.qWait(PAUSE_MS)


def gesture(view, points, modifiers=Qt.KeyboardModifier.NoModifier):
    """Press at the first point, move through the others with the button held, release."""
    held = Qt.MouseButton.LeftButton
    send(view, QEvent.Type.MouseMove, points[0], Qt.MouseButton.NoButton, modifiers)
    send(view, QEvent.Type.MouseButtonPress, points[0], held, modifiers)
    for p in points[1:]:
        send(view, QEvent.Type.MouseMove, p, held, modifiers)
    send(view, QEvent.Type.MouseButtonRelease, points[-1], Qt.MouseButton.NoButton, modifiers)


def lasso_path(view, panel, corners, steps=6):
    """Widget points along the closed polygon ``corners`` (data coordinates)."""
    points = []
    for (xa, ya), (xb, yb) in zip(corners, corners[1:] + corners[:1]):
        for t in np.linspace(0, 1, steps, endpoint=False):
            points.append(to_widget(view, panel, xa + t * (xb - xa), ya + t * (yb - ya)))
    return points


def assert_highlighted_everywhere(view, selected_mask):
    """Every shown panel draws exactly the selected particles in colour, the rest faded."""
    for panel in view.shown_panels():
        expected = selected_mask[panel.particle_index]
        np.testing.assert_array_equal(panel.layer.codes != CODE_DIMMED, expected)
        dimmed = panel.layer._scatters[CODE_DIMMED]
        assert panel.layer.mode == "scatter" and len(dimmed.data) == int((~expected).sum())


def test_lasso_in_a_method_panel_highlights_the_same_particles_in_the_others(view, qtbot):
    model = view.comparison
    method = view.panel_of(1)
    assert len(view.shown_panels()) == 3
    view.set_tool("lasso")
    corners = [(-1.5, -1.5), (0.5, -1.8), (1.2, 0.0), (0.0, 0.6), (-1.0, 0.4)]
    with qtbot.waitSignal(method.view_box.sigRegionSelected) as drawn:
        gesture(view, lasso_path(view, method, corners))
    polygon = drawn.args[0]
    assert len(polygon) > 20
    # the lasso follows the hand: every recorded vertex lies on the drawn outline (to a pixel)
    px = max(method.view_box.viewPixelSize())
    edges = list(zip(corners, corners[1:] + corners[:1]))
    distance = [min(_segment_distance(p, a, b) for a, b in edges) for p in polygon]
    assert max(distance) < 2 * px
    expected = method.particle_index[points_in_polygon(method.xy, polygon)]
    assert 50 < model.selection.count == len(expected) < 5000
    np.testing.assert_array_equal(model.selection.indices(), np.sort(expected))
    assert_highlighted_everywhere(view, model.selection.mask)
    assert view.selection_label.text() == f"{len(expected):,} selected"


def test_rectangle_in_the_ground_truth_then_shift_adds_and_ctrl_removes(view, qtbot):
    model = view.comparison
    truth = view.truth
    view.set_tool("rect")
    with qtbot.waitSignal(truth.view_box.sigRegionSelected) as drawn:
        gesture(view, [to_widget(view, truth, -16, -12), to_widget(view, truth, -8, -11),
                       to_widget(view, truth, -6, -6)])
    (x0, y0), (x1, y1) = drawn.args[0].min(axis=0), drawn.args[0].max(axis=0)
    assert abs(x0 + 16) < 0.3 and abs(y1 + 6) < 0.3  # where the drag began and ended
    first = np.flatnonzero(points_in_rect(truth.xy, x0, x1, y0, y1))
    wells = np.asarray(model.dataset.ground_truth.well)[first]
    assert len(first) > 100 and np.bincount(wells).argmax() == 1  # around well 1's centre (-12, -9)
    np.testing.assert_array_equal(model.selection.indices(), first)
    assert_highlighted_everywhere(view, model.selection.mask)
    with qtbot.waitSignal(truth.view_box.sigRegionSelected) as drawn:
        gesture(view, [to_widget(view, truth, 8, 6), to_widget(view, truth, 16, 12)],
                Qt.KeyboardModifier.ShiftModifier)
    assert drawn.args[1] == "add"
    (x0, y0), (x1, y1) = drawn.args[0].min(axis=0), drawn.args[0].max(axis=0)
    second = np.flatnonzero(points_in_rect(truth.xy, x0, x1, y0, y1))
    np.testing.assert_array_equal(model.selection.indices(), np.union1d(first, second))
    with qtbot.waitSignal(truth.view_box.sigRegionSelected) as drawn:
        gesture(view, [to_widget(view, truth, -20, -15), to_widget(view, truth, 0, 0)],
                Qt.KeyboardModifier.ControlModifier)
    assert drawn.args[1] == "subtract"
    (x0, y0), (x1, y1) = drawn.args[0].min(axis=0), drawn.args[0].max(axis=0)
    np.testing.assert_array_equal(model.selection.indices(),
                                  np.setdiff1d(second, np.flatnonzero(points_in_rect(truth.xy, x0, x1, y0, y1))))
    assert_highlighted_everywhere(view, model.selection.mask)
    # a click without a drag clears the selection
    with qtbot.waitSignal(model.selection.sigChanged):
        gesture(view, [to_widget(view, truth, 0, 0)])
    assert model.selection.count == 0
    assert all((p.layer.codes != CODE_DIMMED).all() for p in view.shown_panels())


def test_pan_tool_drags_the_view_and_selects_nothing(view, qtbot):
    truth = view.truth
    before = truth.view_box.viewRange()[0]
    gesture(view, [to_widget(view, truth, 0, 0), to_widget(view, truth, 5, 0), to_widget(view, truth, 10, 0)])
    after = truth.view_box.viewRange()[0]
    assert after[0] < before[0] - 5 and view.comparison.selection.count == 0


def test_export_selection_as_indices_and_star_subset(view, files, tmp_path):
    folder, _, _, gt = files
    model = view.comparison
    picked = np.array([3, 17, 256, 4000, 4999])
    model.selection.select(picked[::-1])
    txt = view.export_selection(tmp_path / "sel.txt")
    npy = view.export_selection(tmp_path / "sel.npy")
    star = view.export_selection(tmp_path / "sel.star")
    assert txt.read_text().split() == [str(i) for i in picked]
    loaded = np.load(npy)
    assert loaded.dtype == np.int64 and loaded.tolist() == picked.tolist()
    blocks = starfile.read(star, always_dict=True)
    full = starfile.read(folder / "particles.star", always_dict=True)
    # the stacks are found from the new file's folder (RELION run there), not the dataset's
    written = blocks["particles"]["rlnImageName"].astype(str).tolist()
    for name, original in zip(written, gt.image_name[picked].tolist()):
        index, stack = name.split("@")
        assert index == original.split("@")[0] and not Path(stack).is_absolute()
        assert (star.parent / stack).resolve() == (folder / original.split("@")[1]).resolve()
    same_folder = view.export_selection(folder / "subset_here.star")
    assert starfile.read(same_folder, always_dict=True)["particles"]["rlnImageName"].tolist() == gt.image_name[picked].tolist()
    same_folder.unlink()
    np.testing.assert_allclose(blocks["particles"]["rlnDefocusU"], full["particles"]["rlnDefocusU"].to_numpy()[picked],
                               rtol=1e-6)
    assert blocks["optics"].equals(full["optics"])


def test_star_export_refuses_a_star_file_out_of_dataset_order(view, files, tmp_path, message_boxes):
    folder, _, _, gt = files
    import shutil

    copy = tmp_path / "ds"
    shutil.copytree(folder, copy)
    blocks = starfile.read(copy / "particles.star", always_dict=True)
    blocks["particles"] = blocks["particles"].iloc[::-1].reset_index(drop=True)
    starfile.write(blocks, copy / "particles.star")
    model = view.comparison
    model.open_dataset(copy)
    assert model.wait_idle()
    model.selection.select([0, 1])
    assert view.export_selection(tmp_path / "bad.star") is None
    assert not (tmp_path / "bad.star").exists()
    assert "particles.star" in message_boxes.warnings[-1] and "not in dataset order" in message_boxes.warnings[-1]
    assert write_indices(tmp_path / "ok.txt", [1]).read_text() == "1\n"


def test_rebase_image_names_relative_absolute_and_other_drive(tmp_path, monkeypatch):
    import os

    from gui.comparison.selection import rebase_image_names

    ds = tmp_path / "runs" / "ds"
    out = tmp_path / "exports" / "deep"
    names = ["000001@particles/p_0.mrcs", "000002@particles/p_0.mrcs", "3@/abs/stack.mrcs"]
    got = rebase_image_names(names, ds, out).tolist()
    assert got[:2] == ["000001@../../runs/ds/particles/p_0.mrcs", "000002@../../runs/ds/particles/p_0.mrcs"]
    assert got[2] == "3@/abs/stack.mrcs"
    assert rebase_image_names(names, ds, ds).tolist() == names

    def other_drive(*_):
        raise ValueError("path is on mount 'D:', start on mount 'C:'")
    monkeypatch.setattr(os.path, "relpath", other_drive)
    absolute = rebase_image_names(names[:1], ds, out).tolist()[0]
    assert absolute == "000001@" + (ds.resolve() / "particles" / "p_0.mrcs").as_posix()


def _segment_distance(p, a, b) -> float:
    p, a, b = (np.asarray(v, dtype=float) for v in (p, a, b))
    t = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0, 1)
    return float(np.linalg.norm(p - (a + t * (b - a))))


def test_big_star_subsets_are_written_in_the_background(view, files, tmp_path, qtbot, monkeypatch):
    import gui.widgets.jobs as jobs

    monkeypatch.setattr(jobs, "SYNC_LIMIT_ROWS", 0)
    gt = files[3]
    view.comparison.selection.select([5, 6, 7])
    with qtbot.waitSignal(view.selection_export.runner.sigFinished, timeout=30_000):
        assert view.export_selection(tmp_path / "big.star") is None  # returned at once
    names = starfile.read(tmp_path / "big.star", always_dict=True)["particles"]["rlnImageName"]
    assert [n.split("@")[0] for n in names] == [n.split("@")[0] for n in gt.image_name[[5, 6, 7]]]
    assert all((tmp_path / n.split("@")[1]).resolve() == (files[0] / o.split("@")[1]).resolve()
               for n, o in zip(names, gt.image_name[[5, 6, 7]]))


def test_export_dialogs_start_in_the_dataset_folder_then_the_last_one_used(view, files, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    folder = files[0]
    asked = []
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def save_dialog(parent, caption, start, filters=""):
        asked.append(start)
        return str(elsewhere / "picked.star"), filters

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_dialog))
    view.comparison.selection.select([1, 2, 3])
    view.selection_export.ask(".star")
    assert Path(asked[0]).parent == Path(folder) and Path(asked[0]).name == "selection.star"
    assert (elsewhere / "picked.star").is_file()
    view.selection_export.ask(".txt")
    assert Path(asked[1]) == elsewhere / "selection.txt"

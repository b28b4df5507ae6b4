"""Lineage view: the right particles in the right colours and centres, keyboard navigation,
the grid of all methods, aggregation of many points into an image that follows pan and zoom,
and figure export."""
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest

import pyqtgraph as pg
from comparison_data import dataset_and_outputs
from gui.widgets.palette import well_colour
from gui.comparison.comparison_model import ComparisonModel
from gui.comparison.lineage_view import LineageView
from gui.comparison.point_panel import CODE_FIRST_WELL, CODE_UNSCORED, COLOUR_TABLE
from gui.comparison.point_cloud import PointCloudLayer


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("lineage")
    folder, npy, pkl, gt = dataset_and_outputs(root, n=5000, seed=5)
    one_d = root / "outputs" / "one_dim.npy"
    np.save(one_d, gt.cc1_deg + np.random.default_rng(2).normal(0, 1, len(gt)))
    return folder, npy, pkl, one_d, gt


@pytest.fixture
def view(qtbot, files):
    folder, npy, pkl, _, _ = files
    model = ComparisonModel()
    view = LineageView(model)
    qtbot.addWidget(view)
    view.resize(1200, 600)
    model.open_dataset(folder)
    model.add_output(npy, label="noisy truth")
    model.add_output(pkl, label="cryoDRGN")
    assert model.wait_idle()
    with qtbot.waitExposed(view):
        view.show()
    yield view
    model.shutdown()


def test_panels_show_each_particle_in_its_true_wells_colour_with_the_metrics_centres(view, files):
    gt = files[-1]
    model = view.comparison
    truth, method = view.shown_panels()
    np.testing.assert_array_equal(truth.xy, np.stack([gt.cc1_deg, gt.cc2_deg], axis=1).astype(np.float32))
    np.testing.assert_array_equal(truth.layer.codes, CODE_FIRST_WELL + gt.well - 1)
    entry = model.methods[0]
    np.testing.assert_array_equal(method.layer.codes, CODE_FIRST_WELL + gt.well[entry.output.particle_index] - 1)
    np.testing.assert_allclose(method.centres.data["x"], entry.scores.centres[:, 0], rtol=1e-5)
    np.testing.assert_allclose(method.centres.data["y"], entry.scores.centres[:, 1], rtol=1e-5)
    np.testing.assert_allclose(truth.centres.data["x"], gt.well_centres_deg[:, 0])
    brushes = [b.color().name() for b in method.centres.data["brush"]]
    assert brushes == [well_colour(w) for w in entry.scores.wells]
    assert "noisy truth" in method.plot.titleLabel.text and "accuracy 8" in method.plot.titleLabel.text
    # wells left out of the score turn grey in every panel; the centres follow the scored wells
    model.update_settings(wells={1, 6})
    kept = np.isin(gt.well, [1, 6])
    np.testing.assert_array_equal(truth.layer.codes == CODE_UNSCORED, ~kept)
    np.testing.assert_array_equal(method.layer.codes == CODE_UNSCORED, ~kept[entry.output.particle_index])
    assert len(method.centres.data) == 2 and len(truth.centres.data) == 2


def test_keyboard_steps_through_methods_and_g_shows_the_grid(view, qtbot):
    model = view.comparison
    view.plots.setFocus()
    titles = lambda: [p.plot.titleLabel.text for p in view.shown_panels()[1:]]  # noqa: E731
    assert model.current == 0 and "noisy truth" in titles()[0]
    QTest.keyClick(view.plots, Qt.Key.Key_Right)
    assert model.current == 1 and "cryoDRGN" in titles()[0] and titles()[0].startswith("2/2")
    assert view.shown_panels()[1] is view.panel_of(1)
    QTest.keyClick(view.plots, Qt.Key.Key_Right)   # wraps around
    assert model.current == 0
    QTest.keyClick(view.plots, Qt.Key.Key_PageUp)
    assert model.current == 1
    QTest.keyClick(view.plots, Qt.Key.Key_P)
    assert model.current == 0
    view.previous_button.click()
    assert model.current == 1
    QTest.keyClick(view.plots, Qt.Key.Key_G)
    assert view.grid and view.grid_button.isChecked()
    shown = view.shown_panels()
    assert len(shown) == 3 and all(p.plot.scene() is view.plots.scene() for p in shown)
    assert len(view.plots.ci.items) == 3
    QTest.keyClick(view.plots, Qt.Key.Key_G)
    assert not view.grid and len(view.plots.ci.items) == 2


def test_one_dimensional_output_is_spread_vertically(view, files):
    model = view.comparison
    model.add_output(files[3], label="1-D")
    model.update_settings(dims=(0,))
    assert model.wait_idle()
    panel = view.panel_of(2)
    np.testing.assert_allclose(panel.xy[:, 0], model.methods[2].output.coords[:, 0].astype(np.float32))
    assert 0 <= panel.xy[:, 1].min() and panel.xy[:, 1].max() < 1
    assert panel.plot.getAxis("left").labelText == "(random spread)"


def test_figure_export_png_and_svg(view, tmp_path):
    png = view.export_figure(tmp_path / "lineage.png")
    svg = view.export_figure(tmp_path / "lineage.svg")
    image = QImage(str(png))
    assert image.width() == 2 * view.plots.width()
    colours = {QColor(image.pixel(x, y)).name() for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)}
    assert sum(well_colour(w) in colours for w in range(1, 13)) >= 6  # centre discs in the palette
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "Ground truth" in text
    # 5,000 particles per panel are drawn as scatter: every symbol a vector path, no bitmap
    assert all(p.layer.mode == "scatter" for p in view.shown_panels())
    assert "<image" not in text and text.count("<path") > 2 * 5000
    with pytest.raises(ValueError, match="png or .svg"):
        view.export_figure(tmp_path / "lineage.jpg")


# --- aggregation of many points ----------------------------------------------------------------
@pytest.fixture
def canvas(qtbot):
    widget = pg.GraphicsLayoutWidget()
    widget.setBackground("w")
    qtbot.addWidget(widget)
    widget.resize(500, 500)
    plot = widget.addPlot()
    with qtbot.waitExposed(widget):
        widget.show()
    return widget, plot


def three_clusters(n_per=30_000, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[-5.0, 0.0], [5.0, 0.0], [0.0, 6.0]])
    xy = np.concatenate([c + rng.normal(0, 1.0, (n_per, 2)) for c in centres])
    codes = np.repeat(CODE_FIRST_WELL + np.arange(3), n_per).astype(np.uint8)
    return xy, codes, centres


def layer_of(plot, xy, codes, scatter_limit: int, x_range=(-10, 10), y_range=(-5, 11)) -> PointCloudLayer:
    """A point cloud layer in ``plot`` over that view range, holding ``xy`` coloured by ``codes``."""
    layer = PointCloudLayer(plot, COLOUR_TABLE, n_background=2, scatter_limit=scatter_limit)
    plot.setRange(xRange=x_range, yRange=y_range, padding=0)
    layer.set_points(xy, codes)
    return layer


def image_colour_at(layer, x, y):
    """RGBA of the aggregated image at data point (x, y)."""
    rect = layer.image.mapRectToParent(layer.image.boundingRect())
    rgba = layer.image.image
    h, w = rgba.shape[:2]
    col = int((x - rect.left()) / rect.width() * w)
    row = int((y - rect.top()) / rect.height() * h)
    return rgba[row, col]


def test_many_points_become_an_image_in_the_well_colours(canvas, qtbot):
    widget, plot = canvas
    xy, codes, centres = three_clusters()
    layer = layer_of(plot, xy, codes, scatter_limit=10_000)
    assert layer.mode == "image" and layer.image.isVisible()
    assert not any(s.isVisible() for s in layer._scatters)
    # the image holds every point once, at screen resolution over the padded view
    px, py = plot.getViewBox().viewPixelSize()
    assert layer.image.image.shape[1] == pytest.approx(1.5 * 20 / px, abs=2)
    for k, (x, y) in enumerate(centres):
        r, g, b, a = image_colour_at(layer, x, y)
        assert QColor(int(r), int(g), int(b)).name() == well_colour(k + 1) and a > 150
    # where clusters 1 and 2 would overlap no point lies; far away the image is transparent
    assert image_colour_at(layer, -9.5, 10.5)[3] == 0


def test_mean_and_dominant_colours_and_the_foreground_tier(canvas):
    widget, plot = canvas
    n = 20_000
    xy = np.zeros((3 * n, 2)) + [1.0, 1.0]   # all in one pixel
    codes = np.repeat([CODE_FIRST_WELL, CODE_FIRST_WELL + 1, 0], n).astype(np.uint8)
    codes[:n // 2] = CODE_FIRST_WELL + 1     # well 2 is the majority of the foreground
    layer = layer_of(plot, xy, codes, scatter_limit=100, x_range=(0, 2), y_range=(0, 2))
    mean = image_colour_at(layer, 1.0, 1.0)[:3].astype(float)
    c1, c2 = (np.array(QColor(well_colour(w)).getRgb()[:3], float) for w in (1, 2))
    np.testing.assert_allclose(mean, 0.25 * c1 + 0.75 * c2, atol=1.5)  # the dimmed grey tier is below
    layer.set_colour_mode("dominant")
    assert QColor(*(int(v) for v in image_colour_at(layer, 1.0, 1.0)[:3])).name() == well_colour(2)


def test_pan_and_zoom_redraw_for_the_new_range_after_a_pause(canvas, qtbot):
    widget, plot = canvas
    xy, codes, centres = three_clusters()
    layer = layer_of(plot, xy, codes, scatter_limit=5_000)
    first = layer.image.mapRectToParent(layer.image.boundingRect())
    with qtbot.waitSignal(layer.sigRendered, timeout=2000):
        plot.setRange(xRange=(20, 40), yRange=(-5, 11), padding=0)   # pan to an empty region
        assert layer.image.mapRectToParent(layer.image.boundingRect()) == first  # moved with the view for now
    assert layer.mode == "scatter"  # nothing in view: no image needed
    with qtbot.waitSignal(layer.sigRendered, timeout=2000):
        plot.setRange(xRange=(4.9, 5.1), yRange=(-0.1, 0.1), padding=0)  # zoom far into cluster 2
    assert layer.mode == "scatter"
    shown = layer._scatters[CODE_FIRST_WELL + 1]
    assert 0 < len(shown.data) < 5_000 and shown.isVisible()
    with qtbot.waitSignal(layer.sigRendered, timeout=2000):
        plot.setRange(xRange=(-10, 10), yRange=(-5, 11), padding=0)
    assert layer.mode == "image"


def test_export_dialog_adds_the_suffix_and_reports_failures(view, tmp_path, monkeypatch, message_boxes):
    from PySide6.QtWidgets import QFileDialog

    from gui.widgets.figure_export import ask_and_export

    answers = iter([(str(tmp_path / "fig"), "SVG vector image (*.svg)"), (str(tmp_path / "fig.jpg"), "")])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: next(answers)))
    assert ask_and_export(view, view.plots, "lineage") == tmp_path / "fig.svg"
    assert ask_and_export(view, view.plots, "lineage") is None
    assert "fig.jpg" in message_boxes.warnings[-1]


def _inside_canvas(view, panel) -> bool:
    rect = panel.plot.mapRectToScene(panel.plot.boundingRect())
    vp = view.plots.viewport().rect()
    return rect.left() >= -1 and rect.top() >= -1 and rect.right() <= vp.width() + 1 and rect.bottom() <= vp.height() + 1


def test_grid_and_single_view_fit_the_canvas_with_long_names(view, files, qtbot):
    """Four methods with long names: every panel lies inside the canvas in the grid, and the
    single-method view fills it again at once (no resize needed); titles are elided."""
    folder, npy, pkl, _, _ = files
    model = view.comparison
    model.add_output(npy, label="a method with a really very long name that goes on and on " * 2)
    model.add_output(pkl, label="another rather long method name, version 2, run 7")
    assert model.wait_idle() and len(model.methods) == 4
    view.set_grid(True)
    qtbot.wait(20)
    shown = view.shown_panels()
    assert len(shown) == 5 and all(_inside_canvas(view, p) for p in shown)
    assert "…" in view.panel_of(2).plot.titleLabel.text
    view.set_grid(False)
    qtbot.wait(20)
    shown = view.shown_panels()
    assert len(shown) == 2 and all(_inside_canvas(view, p) for p in shown)
    width = view.plots.viewport().width()
    assert shown[1].plot.mapRectToScene(shown[1].plot.boundingRect()).right() > 0.9 * width


def test_ground_truth_axes_have_equal_aspect(view):
    """Degrees on both axes: one degree is as long on screen in cc1 as in cc2."""
    vb = view.truth.plot.getViewBox()
    (x0, x1), (y0, y1) = vb.viewRange()
    rect = vb.sceneBoundingRect()
    assert (rect.width() / (x1 - x0)) == pytest.approx(rect.height() / (y1 - y0), rel=0.02)
    # the cryoDRGN panel plots z0 against z1: the same unit, locked too; names differ by number only
    from gui.comparison.lineage_plots import same_unit
    assert same_unit("z0", "z1") and same_unit("component 1", "component 2") and not same_unit("z0", "(random spread)")


# --- the method's path between two wells ---------------------------------------------------------
def _agreement(model, entry):
    from engine.scoring.comparison import scoring_dataset
    from engine.scoring.path_agreement import path_agreement_of
    return path_agreement_of(scoring_dataset(model.dataset, entry.scored_with), entry.scores, entry.landscape)


def test_the_current_methods_path_is_drawn_with_its_comparison_to_the_truth(view):
    from engine.scoring.path_agreement import neighbouring_pairs
    model, overlay = view.comparison, view.path_overlay
    entry = model.methods[0]
    result = overlay.result
    # default wells: the first neighbouring pair of the designed landscape
    assert result.wells == sorted(neighbouring_pairs(model.dataset.landscape.grid()))[0] == (1, 2)
    agreement = _agreement(model, entry)
    same = next(p for p in agreement.pairs if p.wells == result.wells)
    assert result.score == pytest.approx(agreement.score) and result.n_pairs == len(agreement.pairs)
    assert result.pair.recovered.visits == same.recovered.visits
    assert result.pair.reference.visits == same.reference.visits
    assert result.pair.barrier_error_kcal_per_mol == pytest.approx(same.barrier_error_kcal_per_mol)
    assert result.pair.weight == pytest.approx(same.weight)
    text = overlay.text.text()
    assert f"method visits {' → '.join(map(str, same.recovered.visits))}" in text
    assert f"error {same.barrier_error_kcal_per_mol:+.2f} kcal/mol" in text
    assert f"of the method {agreement.score:.3f} over {len(agreement.pairs)} neighbouring pairs" in text
    # the method's path runs from its centre of well 1 to its centre of well 2, on its panel;
    # the truth's from the true centres, on the ground-truth panel
    method_panel = view.shown_panels()[1]
    x, y = overlay.curve.getData()
    np.testing.assert_allclose(np.column_stack([x, y]), result.pair.recovered.points_deg)
    k = [list(entry.scores.wells).index(w) for w in (1, 2)]
    np.testing.assert_allclose([[x[0], y[0]], [x[-1], y[-1]]], entry.scores.centres[k, :2])
    assert overlay.curve.getViewBox() is method_panel.view_box
    assert overlay.reference.getViewBox() is view.truth.view_box
    rx, ry = overlay.reference.getData()
    gt = model.dataset.ground_truth
    scored = entry.scores.particle_index
    true_centre = np.column_stack([gt.cc1_deg, gt.cc2_deg])[scored][gt.well[scored] == 1].mean(axis=0)
    np.testing.assert_allclose((rx[0], ry[0]), true_centre)
    # the noisy truth keeps the states: its path in true conformations starts in well 1, ends in well 2
    along = result.true_points_deg
    assert np.hypot(*(along[0] - gt.well_centres_deg[0])) < 2.0
    assert np.hypot(*(along[-1] - gt.well_centres_deg[1])) < 2.0


def test_the_designer_paths_wells_next_method_and_play_in_3d(view, qtbot):
    from engine.landscape.path_profile import well_path_profile
    from engine.landscape.presets import load_preset
    from gui.model.designer_path import DesignerPath
    from gui.model.document import LandscapeDocument
    from gui.structure.motion_player import MotionPlayer

    model, overlay = view.comparison, view.path_overlay
    doc = LandscapeDocument(load_preset("paper-3x4"))
    view.follow_document(doc)
    assert overlay.result.wells == (1, 2)                  # the designer has no path yet
    prof = well_path_profile(doc.grid, 7, 6)
    doc.set_designer_path(DesignerPath(prof.points_deg, (7, 6), prof.visits))
    assert overlay.result.wells == (7, 6)                  # in the order the designer picked
    assert "Path 7 → 6" in overlay.text.text()
    view.next_button.click()                               # cryoDRGN: its centres, its panel
    entry = model.methods[1]
    assert overlay.result.label == "cryoDRGN"
    k = [list(entry.scores.wells).index(w) for w in (7, 6)]
    np.testing.assert_allclose(overlay.result.pair.recovered.points_deg[[0, -1]], entry.scores.centres[k, :2])
    assert overlay.curve.getViewBox() is view.panel_of(1).view_box
    pair = next(p for p in _agreement(model, entry).pairs if p.wells == (6, 7))
    assert overlay.result.pair.recovered.barrier_kcal_per_mol == pytest.approx(pair.recovered.barrier_kcal_per_mol, abs=1e-9)
    # Play in 3D hands the path, as true conformations, to the Structure tab's player
    player = MotionPlayer(doc)
    qtbot.addWidget(player)
    view.sigPlayPath.connect(player.play_path)
    with qtbot.waitSignal(view.sigPlayPath) as played:
        overlay.play_button.click()
    points, label = played.args
    assert label == "cryoDRGN: path 7 → 6" and player.source() == "given" and player.is_playing()
    np.testing.assert_allclose(player.path(), points)
    np.testing.assert_allclose(doc.conformation, points[0])
    player.stop()
    # wells the settings leave out: no path, a message naming them
    model.update_settings(wells={1, 6})
    assert overlay.result is None and not overlay.play_button.isEnabled()
    assert "wells 7 and 6" in overlay.text.text() and "scored: 1, 6" in overlay.text.text()
    assert len(overlay.curve.getData()[0]) == 0
    doc.set_designer_path(None)                            # default pair among those scored
    assert overlay.result.wells == (1, 6)


def test_big_data_finds_the_path_in_the_background(view, qtbot, monkeypatch):
    import gui.widgets.jobs as jobs
    monkeypatch.setattr(jobs, "SYNC_LIMIT_ROWS", 0)
    overlay = view.path_overlay
    with qtbot.waitSignal(overlay.sigUpdated, timeout=10_000):
        view.set_path_wells((2, 3))
        assert overlay.result is None and overlay.text.text().startswith("Finding")
        assert len(overlay.curve.getData()[0]) == 0
    assert overlay.result.wells == (2, 3) and "Path 2 → 3" in overlay.text.text()
    assert len(overlay.curve.getData()[0]) == len(overlay.result.pair.recovered.points_deg)
    # a change while a job runs: only the last one's result is shown
    with qtbot.waitSignal(overlay.sigUpdated, timeout=10_000):
        view.set_path_wells((3, 2))
        view.set_path_wells((5, 6))
    assert overlay.result.wells == (5, 6)
    overlay.runner.wait()
    assert overlay.result.wells == (5, 6)


def test_true_points_along_a_path_are_bin_means_and_gaps_are_interpolated():
    from engine.scoring.recovered_landscape import recovered_landscape
    from gui.comparison.lineage_path import true_points_along
    coords = np.array([[0.5, 0.5], [0.6, 0.4], [2.5, 0.5], [3.5, 0.5]])   # bins 0, 0, 2, 3 of 4; bin 1 empty
    truth = np.array([[-10.0, 1.0], [-8.0, 3.0], [4.0, -2.0], [9.0, 0.0]])
    land = recovered_landscape(coords, 0.6, bins=(4, 1), value_range=((0, 4), (0, 1)))
    path = np.array([[0.5, 0.5], [1.5, 0.5], [2.5, 0.5], [3.0, 0.5], [3.5, 0.5]])
    along = true_points_along(land, coords, truth, path)
    np.testing.assert_allclose(along[0], [-9.0, 2.0])                # mean of bin 0's two particles
    np.testing.assert_allclose(along[1], [(-9.0 + 4.0) / 2, 0.0])     # empty bin: halfway along the path
    np.testing.assert_allclose(along[2:], [[4.0, -2.0], [9.0, 0.0], [9.0, 0.0]])
    assert np.isnan(true_points_along(land, coords[:0], truth[:0], path)).all()

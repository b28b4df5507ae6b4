"""Report figures: drawn off screen with pyqtgraph, in the well palette, with the right content."""
import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage

from engine.formats.dataset import Dataset, synthetic_ground_truth
from engine.formats.loaders import build_output
from engine.formats.loaders.manifoldem import OccupancyMap
from gui.widgets.palette import well_colour
from engine.landscape.presets import load_preset
from engine.scoring.report import assign_slugs, evaluate_output
from gui.comparison.report_figures import PANEL_SIZE, occupancy_figure, write_report_figures


@pytest.fixture(scope="module")
def case():
    land = load_preset("paper-3x4")
    gt = synthetic_ground_truth(land, 20_000, seed=12)
    ds = Dataset(gt, landscape=land)
    truth = np.stack([gt.cc1_deg, gt.cc2_deg], axis=1)
    noisy = truth + np.random.default_rng(0).normal(0, 2.5, truth.shape)
    out = build_output("method.npy", ds, noisy, kind="generic", label="noisy method")
    return ds, assign_slugs([evaluate_output(ds, out)])[0]


def pixels(path) -> np.ndarray:
    """(height, width) array of 0xRRGGBB values of a PNG."""
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB32)
    raw = np.frombuffer(image.constBits(), dtype=np.uint32, count=image.width() * image.height())
    return raw.reshape(image.height(), image.width()) & 0xFFFFFF


def count_colour(image: np.ndarray, hex_colour: str) -> int:
    return int((image == QColor(hex_colour).rgb() & 0xFFFFFF).sum())


def test_all_figures_are_written(qapp, tmp_path, case):
    ds, report = case
    paths = write_report_figures(tmp_path, ds, [report])
    assert sorted(p.name for p in paths) == ["landscape_noisy_method.png", "lineage_noisy_method.png",
                                             "recall_noisy_method.png"]
    for path in paths:
        assert QImage(str(path)).height() == PANEL_SIZE[1]


def test_recall_bars_have_palette_colours_and_heights_proportional_to_recall(qapp, tmp_path, case):
    ds, report = case
    image = pixels(write_report_figures(tmp_path, ds, [report])[0])
    areas = np.array([count_colour(image, well_colour(w)) for w in report.scores.wells])
    assert (areas > 0).all()
    # bars share a width, so the filled area of each well's colour is proportional to its recall
    assert np.corrcoef(areas, report.scores.recall)[0, 1] > 0.99


def test_lineage_shows_every_well_centre_in_its_colour_next_to_the_truth(qapp, tmp_path, case):
    ds, report = case
    path = [p for p in write_report_figures(tmp_path, ds, [report]) if p.name.startswith("lineage")][0]
    image = pixels(path)
    assert image.shape == (PANEL_SIZE[1], 2 * PANEL_SIZE[0])
    half = image.shape[1] // 2
    for w in report.scores.wells:
        assert count_colour(image[:, :half], well_colour(w)) > 10, w  # output panel: centre marker
        assert count_colour(image[:, half:], well_colour(w)) > 10, w  # ground-truth panel


def test_landscape_figure_shows_empty_bins_as_background(qapp, tmp_path, case):
    ds, report = case
    path = [p for p in write_report_figures(tmp_path, ds, [report]) if p.name.startswith("landscape")][0]
    image = pixels(path)
    panel = image[:, : int(0.86 * PANEL_SIZE[0])]  # the recovered map, without its colour bar
    r, g, b = (panel >> 16) & 255, (panel >> 8) & 255, panel & 255
    coloured = (np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)) > 40
    rows, cols = np.flatnonzero(coloured.any(axis=1)), np.flatnonzero(coloured.any(axis=0))
    plot = panel[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    assert len(np.unique(plot)) > 50  # a colour map, not a blank panel
    empty = np.isnan(report.landscape.free_energy).mean()
    assert empty > 0.05 and (plot == 0xFFFFFF).mean() == pytest.approx(empty, abs=0.04)


def test_occupancy_figures_1d_and_2d(qapp, tmp_path):
    one = occupancy_figure(tmp_path / "om1.png", OccupancyMap("S2_OM", np.array([1, 10, 100, 10, 1, 0, 3])), 0.6)
    two = occupancy_figure(tmp_path / "om2.png", OccupancyMap("S2_OM", np.arange(1, 401).reshape(20, 20)), 0.6)
    assert QImage(str(one)).width() == PANEL_SIZE[0] and len(np.unique(pixels(two))) > 20

"""Lineage view at 3,000,000 particles: draw, pan, zoom, recolour, lasso (issue 6: < 1 s, smooth).

Prints times in ms and ratios to a baseline measured in the same run: one
``np.histogram2d`` of the same points on 256 x 256 bins (the cheapest "look at all points once"
a numpy user would write). Figures:

- point cloud, first draw: sort by colour code + aggregate to an RGBA image + paint;
- re-aggregate after a pan or zoom (what runs once the debounce timer fires);
- pan frame: repaint with the view moved, before re-aggregation (what the user sees while
  dragging: the image moves with the view);
- zoomed in until few points are in view: pxMode scatter instead of the image;
- recolour for a new selection (linked highlight) and a 100-vertex lasso test;
- the whole lineage view (ground truth + one method, 3,000,000 particles each) from the
  loaded dataset to painted panels, through the comparison model's signals.

Run: ``.venv/bin/python bench/bench_lineage.py [n_particles]`` (default 3,000,000; off screen
when there is no display).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if not os.environ.get("DISPLAY") and not os.environ.get("QT_QPA_PLATFORM"):
    os.environ["QT_QPA_PLATFORM"] = "offscreen"

import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def timed(fn, repeat: int = 3) -> float:
    """Best wall time of ``fn()`` in ms."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return 1000 * best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000_000
    app = QApplication.instance() or QApplication([])
    from engine.formats.dataset import synthetic_ground_truth
    from engine.landscape.presets import load_preset
    from gui.comparison.point_panel import COLOUR_TABLE, well_codes
    from gui.comparison.point_cloud import PointCloudLayer
    from gui.comparison.selection import points_in_polygon

    land = load_preset("paper-3x4")
    t0 = time.perf_counter()
    gt = synthetic_ground_truth(land, n, seed=1)
    print(f"{n:,} particles (ground truth made in {time.perf_counter() - t0:.1f} s), "
          f"platform {QApplication.platformName()}")
    xy = np.stack([gt.cc1_deg, gt.cc2_deg], axis=1) + np.random.default_rng(0).normal(0, 2.0, (n, 2))
    codes = well_codes(gt.well, np.ones(n, bool))
    base = timed(lambda: np.histogram2d(xy[:, 0], xy[:, 1], bins=256))
    print(f"baseline np.histogram2d 256^2: {base:8.1f} ms")

    widget = pg.GraphicsLayoutWidget()
    widget.setBackground("w")
    widget.resize(900, 700)
    plot = widget.addPlot()
    widget.show()
    app.processEvents()
    plot.setRange(xRange=(-22, 22), yRange=(-17, 17), padding=0)
    layer = PointCloudLayer(plot, COLOUR_TABLE, n_background=2)

    def first_draw():
        layer.set_points(xy, codes)
        widget.viewport().repaint()

    report = []
    ms = timed(first_draw)
    report.append(("first draw (sort + aggregate + paint)", ms, layer.mode))
    report.append(("re-aggregate at the same range", timed(layer.render_now), layer.mode))

    def pan_frames(k=20):
        for i in range(k):
            plot.getViewBox().translateBy(x=0.3)
            widget.viewport().repaint()
    frame = timed(pan_frames, 1) / 20
    report.append(("pan frame (image moves, no re-aggregation)", frame, layer.mode))
    plot.setRange(xRange=(-30, 30), yRange=(-20, 20), padding=0)
    report.append(("re-aggregate after a zoom out", timed(layer.render_now), layer.mode))
    plot.setRange(xRange=(-0.4, 0.4), yRange=(-0.3, 0.3), padding=0)
    report.append(("zoomed in: scatter of the points in view", timed(lambda: (layer.render_now(), widget.viewport().repaint())),
                   layer.mode))
    plot.setRange(xRange=(-22, 22), yRange=(-17, 17), padding=0)
    selected = np.where(np.random.default_rng(1).random(n) < 0.1, codes, 0).astype(np.uint8)
    report.append(("recolour for a selection (set_codes)", timed(lambda: layer.set_codes(selected)), layer.mode))
    angles = np.linspace(0, 2 * np.pi, 100, endpoint=False)
    lasso = np.stack([8 * np.cos(angles) * (1 + 0.3 * np.sin(5 * angles)), 6 * np.sin(angles)], axis=1)
    report.append(("lasso, 100 vertices (points_in_polygon)", timed(lambda: points_in_polygon(xy, lasso)), "-"))
    for name, ms, mode in report:
        print(f"{name:46s} {ms:8.1f} ms  ({ms / base:5.2f} x baseline)  [{mode}]")
    print(f"pan: {1000 / max(frame, 1e-3):.0f} frames/s while dragging; the image follows at once, "
          f"re-aggregated {layer._timer.interval()} ms after the last move")
    widget.close()

    whole_view(gt, xy, base)


def whole_view(gt, xy, base) -> None:
    """Dataset and one output on disk -> model -> lineage view painted (GUI-thread time)."""
    from engine.formats.ground_truth import save_ground_truth
    from engine.landscape.io import save_landscape
    from engine.landscape.presets import load_preset
    from gui.comparison.comparison_model import ComparisonModel
    from gui.comparison.lineage_view import LineageView

    app = QApplication.instance()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ds"
        folder.mkdir()
        save_ground_truth(gt, folder / "ground_truth.npz")
        save_landscape(load_preset("paper-3x4"), folder / "landscape.json")
        np.save(Path(tmp) / "out.npy", xy)
        model = ComparisonModel()
        spans = {}
        model.sigDatasetChanged.connect(lambda _: spans.__setitem__("dataset", time.perf_counter()))
        model.sigMethodsChanged.connect(lambda: spans.setdefault("methods", time.perf_counter()))
        view = LineageView(model)
        view.resize(1300, 700)
        view.show()
        gui_ms = {}
        model.sigDatasetChanged.connect(lambda _: gui_ms.__setitem__("ground truth panel", time.perf_counter() - spans["dataset"]))
        model.sigScoresChanged.connect(lambda: gui_ms.__setitem__("scores shown", time.perf_counter()))
        ticks = []
        timer = QTimer()
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start(10)
        start = time.perf_counter()
        model.open_dataset(folder)
        model.add_output(Path(tmp) / "out.npy")
        model.wait_idle(600_000)
        deadline = time.perf_counter() + 0.5   # let the debounced redraws run too
        while time.perf_counter() < deadline:
            app.processEvents()
        timer.stop()
        freeze = max(np.diff([start] + ticks)) if ticks else float("nan")
        t = time.perf_counter()
        view.plots.viewport().repaint()
        paint = time.perf_counter() - t
        total = time.perf_counter() - start
        print(f"whole view: open + add + score + draw {total:.1f} s in all (loading and scoring run in jobs); "
              f"GUI thread: ground-truth panel {1000 * gui_ms['ground truth panel']:.0f} ms, "
              f"final repaint {1000 * paint:.0f} ms; longest GUI freeze {1000 * freeze:.0f} ms")
        for panel in view.shown_panels():
            print(f"  panel {panel.plot.titleLabel.text[:40]!r}: {panel.layer.mode}, "
                  f"last aggregation {1000 * panel.layer.last_render_s:.0f} ms "
                  f"({1000 * panel.layer.last_render_s / base:.2f} x baseline)")
        model.shutdown()
        view.close()


if __name__ == "__main__":
    main()

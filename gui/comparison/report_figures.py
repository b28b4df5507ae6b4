"""PNG figures of an evaluation report, drawn with pyqtgraph off screen (no window shown).

- ``recall_<method>.png``: recall per well as bars in the well palette, with the accuracy as a
  line (paper Fig. 2b);
- ``lineage_<method>.png``: the output's coordinates coloured by ground-truth well, with the
  well centres, next to the true (cc1, cc2) in the same colours (paper Fig. 4);
- ``landscape_<method>.png``: the recovered free energy of the two chosen dimensions next to
  the designed landscape, or the ground-truth histogram when no landscape.json is at hand
  (paper Fig. 3);
- ``occupancy_<name>.png``: the free-energy profile (or surface) of an occupancy map.

Figures are rendered with ``QWidget.grab`` (pyqtgraph's ImageExporter draws scatter points one
by one, which is slow at 10^5 points). Scatter plots show at most ``MAX_POINTS`` particles, a
seeded random subset. Call from any thread that may create Qt objects; ``ensure_app`` makes a
QApplication (platform "offscreen" when there is no display).

Example::

    paths = write_report_figures("report", dataset, reports)
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gui.widgets.palette import well_colour, well_rgba
from engine.scoring.recovered_landscape import recovered_landscape

MAX_POINTS = 200_000
PANEL_SIZE = (560, 480)


def ensure_app():
    """The running QApplication, created (off screen when there is no display) if needed."""
    if not os.environ.get("QT_QPA_PLATFORM") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def write_report_figures(folder, dataset, reports, occupancy_maps=()) -> list[Path]:
    """Write every figure for ``reports`` (engine.scoring.report.MethodReport, slugs assigned)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for r in reports:
        written.append(recall_figure(folder / f"recall_{r.slug}.png", r))
        if len(r.scores.dims) >= 2:
            written.append(lineage_figure(folder / f"lineage_{r.slug}.png", r, dataset))
            written.append(landscape_figure(folder / f"landscape_{r.slug}.png", r, dataset))
    from engine.scoring.report import slugify

    for om in occupancy_maps:
        written.append(occupancy_figure(folder / f"occupancy_{slugify(om.label)}.png", om, dataset.kT_kcal_per_mol))
    return written


def recall_figure(path, report) -> Path:
    pg = _pyqtgraph()
    s = report.scores
    widget = pg.GraphicsLayoutWidget()
    widget.resize(*PANEL_SIZE)
    plot = widget.addPlot(title=f"{report.output.label}: accuracy {100 * s.accuracy:.1f} ± "
                                f"{100 * s.recall_std:.1f} %  (dims {_dims(s.dims)})")
    brushes = [pg.mkBrush(well_colour(w)) for w in s.wells]
    plot.addItem(pg.BarGraphItem(x=np.arange(len(s.wells)), height=100 * s.recall, width=0.8,
                                 brushes=brushes, pen=pg.mkPen("k", width=0.5)))
    plot.addItem(pg.InfiniteLine(pos=100 * s.accuracy, angle=0, pen=pg.mkPen("k", style=_dash())))
    plot.getAxis("bottom").setTicks([[(i, str(w)) for i, w in enumerate(s.wells)]])
    plot.setLabel("bottom", "ground-truth well")
    plot.setLabel("left", "recall (%)")
    plot.setYRange(0, 100, padding=0.02)
    plot.setXRange(-0.6, len(s.wells) - 0.4, padding=0)
    return _save(widget, path)


def lineage_figure(path, report, dataset, max_points: int = MAX_POINTS, seed: int = 0) -> Path:
    pg = _pyqtgraph()
    gt = dataset.ground_truth
    s = report.scores
    out = report.output
    rows = _sample_rows(len(s.particle_index), max_points, seed)
    index = s.particle_index[rows]
    row_of = np.full(out.n_particles, -1, dtype=np.int64)
    row_of[out.particle_index] = np.arange(out.n_rows)
    xy = out.coords[row_of[index]][:, list(s.dims[:2])]
    labels = np.asarray(gt.well)[index]
    truth = np.stack([np.asarray(gt.cc1_deg)[index], np.asarray(gt.cc2_deg)[index]], axis=1)
    show_truth = bool(np.isfinite(truth).all())
    widget = pg.GraphicsLayoutWidget()
    widget.resize(PANEL_SIZE[0] * (2 if show_truth else 1), PANEL_SIZE[1])
    left = widget.addPlot(title=f"{out.label}: output coloured by ground-truth well")
    _scatter_by_well(pg, left, xy, labels, s.centres[:, :2], s.wells)
    left.setLabel("bottom", out.dim_names[s.dims[0]])
    left.setLabel("left", out.dim_names[s.dims[1]])
    if show_truth:
        right = widget.addPlot(title="ground truth (same colours)")
        centres = np.asarray(gt.well_centres_deg)[s.wells - 1]
        _scatter_by_well(pg, right, truth, labels, centres, s.wells)
        right.setLabel("bottom", "cc1 (deg)")
        right.setLabel("left", "cc2 (deg)")
    return _save(widget, path)


def landscape_figure(path, report, dataset) -> Path:
    pg = _pyqtgraph()
    gt = dataset.ground_truth
    s = report.scores
    out = report.output
    rl = report.landscape
    widget = pg.GraphicsLayoutWidget()
    widget.resize(PANEL_SIZE[0] * 2, PANEL_SIZE[1])
    left = widget.addPlot(title=f"{out.label}: recovered G (kcal/mol)")
    # One colour scale for both panels (paper Fig. 3): the range the histogram can show;
    # the designed landscape saturates above it.
    top = _top_level(rl.free_energy)
    _energy_image(pg, widget, left, rl.free_energy, rl.extent, top)
    _centre_labels(pg, left, s.centres[:, :2], s.wells)
    left.setLabel("bottom", out.dim_names[s.dims[0]])
    left.setLabel("left", out.dim_names[s.dims[1]])
    if dataset.landscape is not None:
        grid = dataset.landscape.grid(min(dataset.landscape.grid_size, 256))
        energy, extent, title = grid.free_energy(), grid.extent_deg, "designed landscape G (kcal/mol)"
    else:
        finite = np.isfinite(gt.cc1_deg) & np.isfinite(gt.cc2_deg)
        if not finite.any():
            return _save(widget, path)
        truth = recovered_landscape(np.stack([gt.cc1_deg[finite], gt.cc2_deg[finite]], axis=1), gt.kT_kcal_per_mol)
        energy, extent, title = truth.free_energy, truth.extent, "ground-truth histogram G (kcal/mol)"
    right = widget.addPlot(title=title)
    _energy_image(pg, widget, right, energy, extent, top)
    _centre_labels(pg, right, np.asarray(gt.well_centres_deg)[s.wells - 1], s.wells)
    right.setLabel("bottom", "cc1 (deg)")
    right.setLabel("left", "cc2 (deg)")
    return _save(widget, path)


def occupancy_figure(path, occupancy_map, kT_kcal_per_mol: float) -> Path:
    pg = _pyqtgraph()
    g = occupancy_map.free_energy(kT_kcal_per_mol)
    widget = pg.GraphicsLayoutWidget()
    widget.resize(*PANEL_SIZE)
    plot = widget.addPlot(title=f"{occupancy_map.label}: G = -kT ln(p/p_max) (kcal/mol)")
    if g.ndim == 1:
        plot.plot(np.arange(len(g)), np.nan_to_num(g, nan=np.nanmax(g)), pen=pg.mkPen("k", width=2),
                  symbol="o", symbolSize=5, symbolBrush="k", connect="finite")
        plot.setLabel("bottom", "bin of the method's coordinate")
        plot.setLabel("left", "G (kcal/mol)")
    else:
        _energy_image(pg, widget, plot, g, (0, g.shape[1], 0, g.shape[0]))
    return _save(widget, path)


def _pyqtgraph():
    ensure_app()
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    return pg


def _dash():
    from PySide6.QtCore import Qt

    return Qt.PenStyle.DashLine


def _scatter_by_well(pg, plot, xy, labels, centres, wells) -> None:
    """One scatter item per well (one brush each: fast), then the centres on top."""
    size, alpha = (4, 200) if len(xy) < 10_000 else (3, 120) if len(xy) < 100_000 else (2, 70)
    for w in wells:
        sel = labels == w
        if sel.any():
            r, g, b, _ = well_rgba(np.array([w]))[0]
            plot.addItem(pg.ScatterPlotItem(xy[sel, 0], xy[sel, 1], size=size, pen=None,
                                            brush=pg.mkBrush(int(r), int(g), int(b), alpha)))
    plot.addItem(pg.ScatterPlotItem(centres[:, 0], centres[:, 1], size=13, pen=pg.mkPen("k", width=1.5),
                                    brush=[pg.mkBrush(well_colour(w)) for w in wells]))
    _centre_labels(pg, plot, centres, wells)


def _centre_labels(pg, plot, centres, wells) -> None:
    for (x, y), w in zip(centres, wells):
        if np.isfinite(x) and np.isfinite(y):
            text = pg.TextItem(str(int(w)), color="k", anchor=(0.5, 1.3))
            text.setPos(float(x), float(y))
            plot.addItem(text)


def _top_level(energy) -> float:
    finite = energy[np.isfinite(energy)]
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def _energy_image(pg, widget, plot, energy, extent, top=None) -> None:
    """G (n2, n1) as an image over extent (x0, x1, y0, y1) with colours from 0 to ``top``
    (default: the finite maximum); NaN (empty bins) left white."""
    from PySide6.QtCore import QRectF

    top = _top_level(energy) if top is None else top
    image = pg.ImageItem(np.asarray(energy, dtype=np.float64).T)  # pyqtgraph: axis 0 is x
    image.setRect(QRectF(extent[0], extent[2], extent[1] - extent[0], extent[3] - extent[2]))
    cmap = pg.colormap.get("viridis")
    image.setColorMap(cmap)
    image.setLevels((0.0, top))
    plot.addItem(image)
    bar = pg.ColorBarItem(values=(0.0, top), colorMap=cmap, label="G (kcal/mol)", interactive=False)
    bar.setImageItem(image, insert_in=plot)
    plot.setXRange(extent[0], extent[1], padding=0)
    plot.setYRange(extent[2], extent[3], padding=0)


def _sample_rows(n: int, max_points: int, seed: int) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def _dims(dims) -> str:
    return ",".join(map(str, dims))


def _save(widget, path) -> Path:
    from PySide6.QtWidgets import QApplication

    path = Path(path)
    QApplication.processEvents()
    pixmap = widget.grab()
    ok = pixmap.save(str(path), "PNG")
    widget.close()
    widget.deleteLater()
    if not ok:
        raise OSError(f"{path}: cannot write the figure")
    return path

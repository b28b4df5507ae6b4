"""Recovered energy landscapes (paper Fig. 3): each method's beside the ground truth, one scale.

Each method's panel is the free energy G = -kT ln(p / p_max) of the 2D histogram of its two
display dimensions over the scored particles (engine.scoring.recovered_landscape, computed with the
scores). The ground-truth panel is the same estimator applied to the particles' true
(cc1, cc2) ("sampled", the like-for-like comparison), or the designed landscape's G
("designed", clipped to the common scale). Every panel shares one colour scale, 0 to the
largest G of the histograms, in the document's energy unit (kcal/mol or kT: the combo box
changes the unit application-wide). Well centres are drawn as numbered discs; a method's
title gives the rank agreement (Spearman rho) of its per-well delta-G with the truth.

Example::

    view = RecoveredLandscapeView(model, document)
    view.levels              # (0.0, G_max) in the display unit
    view.panel_energy(0)     # (n2, n1) G of method 0 as drawn
"""
from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.widgets.palette import well_colour
from engine.scoring.recovered_landscape import compare_wells
from gui.model.document import ENERGY_UNITS
from gui.widgets.figure_export import export_figure
from gui.comparison.point_panel import centre_font, centre_text_colour
from gui.comparison.chart_style import AXIS_PEN, elide, fit_canvas, style_plot
from gui.comparison.tool_buttons import export_figure_button

COLOUR_MAP = "viridis"
TRUTH_SOURCES = ("sampled", "designed")


class RecoveredLandscapeView(QWidget):
    """Grid of free-energy maps: ground truth first, then every scored method."""

    sigStatusMessage = Signal(str)

    def __init__(self, comparison, document, parent=None):
        super().__init__(parent)
        self.comparison = comparison
        self.doc = document
        self.truth_source = TRUTH_SOURCES[0]
        self.levels = (0.0, 1.0)
        self._energies: list[np.ndarray] = []
        self._build()
        for signal in (comparison.sigScoresChanged, comparison.sigMethodsChanged, comparison.sigDatasetChanged,
                       comparison.sigLabelChanged):
            signal.connect(self.refresh)
        document.sigEnergyUnitChanged.connect(self._on_unit_changed)
        self.refresh()

    def _build(self) -> None:
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("Ground truth:"))
        self.truth_combo = QComboBox()
        self.truth_combo.addItems(["sampled particles (same estimator)", "designed landscape"])
        self.truth_combo.currentIndexChanged.connect(lambda i: self.set_truth_source(TRUTH_SOURCES[i]))
        bar.addWidget(self.truth_combo)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Energy in:"))
        self.unit_combo = QComboBox()
        self.unit_combo.addItems(list(ENERGY_UNITS))
        self.unit_combo.setCurrentText(self.doc.energy_unit)
        self.unit_combo.currentTextChanged.connect(self.doc.set_energy_unit)
        bar.addWidget(self.unit_combo)
        bar.addStretch(1)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("w")
        bar.addWidget(export_figure_button(self, self.plots, "recovered_landscapes", self.comparison))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.plots, 1)
        self.colorbar = pg.ColorBarItem(colorMap=COLOUR_MAP, interactive=False, width=16)
        for name in ("left", "right"):
            axis = self.colorbar.getAxis(name)
            if axis is not None:
                axis.setPen(AXIS_PEN)
                axis.setTextPen(AXIS_PEN)

    def set_truth_source(self, source: str) -> None:
        if source not in TRUTH_SOURCES:
            raise ValueError(f"truth source: must be one of {TRUTH_SOURCES} (got {source!r})")
        self.truth_source = source
        self.truth_combo.setCurrentIndex(TRUTH_SOURCES.index(source))
        self.refresh()

    def _on_unit_changed(self, unit: str) -> None:
        if self.unit_combo.currentText() != unit:
            self.unit_combo.setCurrentText(unit)
        self.refresh()

    @property
    def unit_scale(self) -> float:
        """Multiply kcal/mol by this for the display unit (the dataset's kT for 'kT')."""
        ds = self.comparison.dataset
        if self.doc.energy_unit == "kT" and ds is not None:
            return 1.0 / ds.kT_kcal_per_mol
        return 1.0

    def panel_energy(self, position: int) -> np.ndarray | None:
        """G drawn for method ``position`` (display unit), None if it has no panel."""
        entries = self._shown_entries()
        ids = [e.id for e in entries]
        entry = self.comparison.methods[position]
        return self._energies[1 + ids.index(entry.id)] if entry.id in ids else None

    def truth_energy(self) -> np.ndarray | None:
        return self._energies[0] if self._energies else None

    def _title_room(self, n_panels: int) -> int:
        cols = max(1, math.ceil(math.sqrt(n_panels)))
        return max(60, (self.plots.viewport().width() - 80) // cols - 70)

    def _shown_entries(self):
        return [m for m in self.comparison.methods if m.landscape is not None]

    def refresh(self, *_):
        self.plots.ci.clear()
        self._energies = []
        ds = self.comparison.dataset
        if ds is None:
            return
        scale = self.unit_scale
        unit = self.doc.energy_unit
        panels = []  # (title, G display unit, extent, x label, y label, centres, wells)
        truth = self._truth_panel(scale)
        if truth is not None:
            panels.append(truth)
        kT = ds.kT_kcal_per_mol
        for entry in self._shown_entries():
            rl, s = entry.landscape, entry.scores
            rho = compare_wells(s, rl, kT).spearman_rho
            rho_text = f"ΔG rank agreement ρ = {rho:.2f}" if math.isfinite(rho) else "ΔG rank agreement: n/a"
            names = entry.output.dim_names
            name = html.escape(elide(entry.label, self._title_room(len(self._shown_entries()) + 1), bold=True))
            panels.append((f"<b>{name}</b><br><span style='font-size:9pt'>{rho_text}</span>",
                           rl.free_energy * scale, rl.extent,
                           names[s.dims[0]], names[s.dims[1]], s.centres[:, :2], s.wells))
        histograms = [p[1] for k, p in enumerate(panels) if not (k == 0 and self.truth_source == "designed")]
        finite = [float(np.nanmax(g)) for g in histograms if np.isfinite(g).any()]
        top = max(finite) if finite else 1.0
        self.levels = (0.0, top if top > 0 else 1.0)
        cols = max(1, math.ceil(math.sqrt(len(panels))))
        images = []
        for k, (title, g, extent, xl, yl, centres, wells) in enumerate(panels):
            plot = self.plots.ci.addPlot(row=k // cols, col=k % cols)
            images.append(self._draw_panel(plot, title, g, extent, xl, yl, centres, wells))
            self._energies.append(g)
        self.colorbar.setLevels(self.levels)
        self.colorbar.setImageItem(images)
        self.colorbar.axis.setLabel(f"G ({unit})")
        rows = math.ceil(len(panels) / cols)
        self.plots.ci.addItem(self.colorbar, row=0, col=cols, rowspan=max(1, rows))
        fit_canvas(self.plots)

    def _truth_panel(self, scale: float):
        ds = self.comparison.dataset
        gt = ds.ground_truth
        scored = self.comparison.scored_mask()
        wells = np.unique(np.asarray(gt.well)[scored])
        centres = np.asarray(gt.well_centres_deg)[wells - 1]
        if self.truth_source == "designed" and ds.landscape is not None:
            grid = ds.landscape.grid(min(ds.landscape.grid_size, 256))
            return ("<b>Ground truth</b><br><span style='font-size:9pt'>designed landscape</span>",
                    grid.free_energy() * scale, grid.extent_deg,
                    "cc1 (°)", "cc2 (°)", centres, wells)
        truth = self.comparison.truth_landscape
        if truth is None:
            return None
        return ("<b>Ground truth</b><br><span style='font-size:9pt'>sampled particles, true (cc1, cc2)</span>",
                truth.free_energy * scale, truth.extent,
                "cc1 (°)", "cc2 (°)", centres, wells)

    def _draw_panel(self, plot, title, g, extent, x_label, y_label, centres, wells) -> pg.ImageItem:
        style_plot(plot)
        plot.setTitle(title, color=AXIS_PEN)
        plot.titleLabel.setMinimumWidth(0)  # a long name must not widen the panel off screen
        if x_label == "cc1 (°)" and y_label == "cc2 (°)":
            plot.setAspectLocked(True)  # degrees on both axes: circular wells look circular
        plot.setLabel("bottom", x_label)
        plot.setLabel("left", y_label)
        image = pg.ImageItem(np.clip(g, None, self.levels[1]), axisOrder="row-major")
        image.setColorMap(pg.colormap.get(COLOUR_MAP))
        image.setLevels(self.levels)
        x0, x1, y0, y1 = extent
        image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        plot.addItem(image)
        centres = np.asarray(centres, dtype=float).reshape(-1, 2)
        ok = np.isfinite(centres).all(axis=1)
        plot.addItem(pg.ScatterPlotItem(centres[ok, 0], centres[ok, 1], size=15, pxMode=True,
                                        pen=pg.mkPen("w", width=1.5),
                                        brush=[pg.mkBrush(well_colour(w)) for w in np.asarray(wells)[ok]]))
        for (x, y), w in zip(centres[ok], np.asarray(wells)[ok]):
            text = pg.TextItem(str(int(w)), color=centre_text_colour(w), anchor=(0.5, 0.5))
            text.setFont(centre_font())
            text.setPos(float(x), float(y))
            plot.addItem(text)
        plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        plot.getViewBox().setBackgroundColor("#f4f4f4")
        return image

    def export_figure(self, path):
        return export_figure(self.plots, path)


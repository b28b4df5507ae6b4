"""Lineage view (paper Fig. 4): where each ground-truth well's particles land in a method's output.

Left, the ground truth: every particle at its true (cc1, cc2) over the designed landscape's
contours, coloured by its well (gui.widgets.palette). Beside it, a method's output on its two
display dimensions, each particle coloured by the same ground-truth well, with the centres the
metric computed (large numbered discs). Particles the settings do not score (transition
particles, wells left out) are grey. Next / previous method with the keyboard (Right/Left,
PageDown/PageUp, N/P), or all methods at once in a grid (G).

Selection is linked: the rectangle or lasso tool in any panel selects particles, and every
panel shows the same particles in colour and the others faded (gui.comparison.selection); the selection
exports as particle indices (.txt/.npy) or as a RELION STAR subset of the dataset.

Each panel is a gui.comparison.point_panel.PointPanel; its points are a gui.comparison.point_cloud.PointCloudLayer
(scatter when few points are in view, a screen-resolution RGBA image aggregated with bincount
when many), so 3,000,000 particles draw in a fraction of a second.

Example::

    view = LineageView(model)            # a gui.comparison.comparison_model.ComparisonModel
    view.set_grid(True)                  # all methods
    view.set_tool("lasso")
    view.export_selection("picked.star")
"""
from __future__ import annotations

import html
import math
import re
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QFileDialog, QHBoxLayout, QLabel, QMenu,
                               QMessageBox, QToolButton, QVBoxLayout, QWidget)

from gui.widgets.contours import contour_segments, nice_levels
from gui.widgets.figure_export import ask_and_export, export_figure, remember_folder, start_path
from gui.widgets.jobs import JobRunner
from gui.comparison.point_cloud import COLOUR_MODES
from gui.comparison.point_panel import AXIS_PEN, PointPanel, well_codes
from gui.comparison.recall_chart import fit_canvas
from gui.comparison.selection import SelectionError, write_indices, write_star_subset

SYNC_STAR_LIMIT = 200_000   # STAR subsets of larger datasets are written by a background job


def same_unit(name_a: str, name_b: str) -> bool:
    """True when two output dimension names differ only by their number ("z0"/"z1",
    "component 1"/"component 2", "dim 0"/"dim 3"): the same kind of coordinate."""
    stem_a, stem_b = (re.sub(r"[\s_.-]*\d+$", "", name.strip()) for name in (name_a, name_b))
    return bool(stem_a) and stem_a == stem_b


def title_font() -> QFont:
    font = QFont()
    font.setPointSizeF(9.0)
    return font


def set_panel_title(plot: pg.PlotItem, prefix: str, name: str, suffix: str, width_px: int) -> None:
    """Title "prefix **name** suffix" fitted into ``width_px``: the suffix, then the name, are
    elided ("…"); the title never widens its panel (no minimum width from the text)."""
    metrics = QFontMetrics(title_font())
    bold = QFont(title_font())
    bold.setBold(True)
    bold_metrics = QFontMetrics(bold)
    gap = metrics.horizontalAdvance("  ")
    head = metrics.horizontalAdvance(prefix) + (gap if prefix else 0)
    room = width_px - head
    if bold_metrics.horizontalAdvance(name) + gap + metrics.horizontalAdvance(suffix) > room:
        name_room = max(room // 2, room - gap - metrics.horizontalAdvance(suffix))
        name = bold_metrics.elidedText(name, Qt.TextElideMode.ElideRight, max(20, name_room))
        suffix = metrics.elidedText(suffix, Qt.TextElideMode.ElideRight,
                                    max(0, room - gap - bold_metrics.horizontalAdvance(name)))
    text = (html.escape(prefix) + "&nbsp;&nbsp;" if prefix else "") + f"<b>{html.escape(name)}</b>"
    if suffix:
        text += "&nbsp;&nbsp;" + html.escape(suffix)
    plot.setTitle(text, color=AXIS_PEN, size="9pt")
    plot.titleLabel.setMinimumWidth(0)
    plot.titleLabel.setToolTip(f"{prefix}  {name}  {suffix}".strip())


class LineagePlots(pg.GraphicsLayoutWidget):
    """The panels' canvas; turns navigation keys into signals."""

    sigStep = Signal(int)
    sigToggleGrid = Signal()
    sigResized = Signal()
    _NEXT = (Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_PageDown, Qt.Key.Key_N)
    _PREVIOUS = (Qt.Key.Key_Left, Qt.Key.Key_Up, Qt.Key.Key_PageUp, Qt.Key.Key_P)

    def keyPressEvent(self, ev):
        if ev.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            super().keyPressEvent(ev)
        elif ev.key() in self._NEXT:
            self.sigStep.emit(1)
        elif ev.key() in self._PREVIOUS:
            self.sigStep.emit(-1)
        elif ev.key() == Qt.Key.Key_G:
            self.sigToggleGrid.emit()
        else:
            super().keyPressEvent(ev)

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        self.sigResized.emit()

    def fit_canvas(self) -> None:
        """Make the panels' layout exactly the visible area (a layout that grew for more
        panels would otherwise stay too big)."""
        fit_canvas(self)


class LineageView(QWidget):
    """Ground truth beside the current method (or all methods); see the module docstring.

    Signals: sigStatusMessage(str).
    """

    sigStatusMessage = Signal(str)

    def __init__(self, comparison, parent=None):
        super().__init__(parent)
        self.comparison = comparison
        self.grid = False
        self.tool = "pan"
        self.colour_mode = COLOUR_MODES[0]
        self.truth = self._new_panel()
        self.panels: dict[int, PointPanel] = {}
        self.star_runner = JobRunner(self)
        self.star_runner.sigFinished.connect(lambda path: self.sigStatusMessage.emit(f"Wrote {path}"))
        self.star_runner.sigErrored.connect(lambda msg: QMessageBox.warning(self, "Cannot export selection", msg))
        self._build()
        comparison.sigDatasetChanged.connect(self._on_dataset)
        comparison.sigMethodsChanged.connect(self._on_methods)
        comparison.sigScoresChanged.connect(self._on_scores)
        comparison.sigCurrentChanged.connect(lambda _: self._relayout())
        comparison.sigLabelChanged.connect(lambda *_: self._update_titles())
        comparison.selection.sigChanged.connect(self._on_selection)
        if comparison.dataset is not None:
            self._on_dataset(comparison.dataset)

    # --- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        self.previous_button = self._button("◀", "Previous method (Left, PageUp, P)", lambda: self.comparison.next_method(-1))
        self.next_button = self._button("▶", "Next method (Right, PageDown, N)", lambda: self.comparison.next_method(1))
        self.grid_button = self._button("All methods", "Show every method in a grid (G)", self.set_grid, checkable=True)
        for w in (self.previous_button, self.next_button, self.grid_button):
            bar.addWidget(w)
        bar.addSpacing(12)
        self.tool_group = QButtonGroup(self)
        self.tool_buttons = {}
        for tool, text, tip in (("pan", "Pan/zoom", "Drag to pan, wheel to zoom"),
                                ("rect", "Rectangle", "Drag a rectangle to select (Shift adds, Ctrl removes)"),
                                ("lasso", "Lasso", "Draw around particles to select (Shift adds, Ctrl removes)")):
            button = self._button(text, tip, lambda _=False, t=tool: self.set_tool(t), checkable=True)
            self.tool_group.addButton(button)
            self.tool_buttons[tool] = button
            bar.addWidget(button)
        self.tool_buttons["pan"].setChecked(True)
        self.clear_button = self._button("Clear", "Clear the selection", self.comparison.selection.clear)
        bar.addWidget(self.clear_button)
        self.export_selection_button = self._button("Export selection", "Save the selected particles", None)
        menu = QMenu(self.export_selection_button)
        menu.addAction("Particle indices (.txt)…", lambda: self._ask_export_selection(".txt"))
        menu.addAction("Particle indices (.npy)…", lambda: self._ask_export_selection(".npy"))
        menu.addAction("RELION STAR subset (.star)…", lambda: self._ask_export_selection(".star"))
        self.export_selection_button.setMenu(menu)
        self.export_selection_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        bar.addWidget(self.export_selection_button)
        self.selection_label = QLabel("")
        bar.addWidget(self.selection_label)
        bar.addStretch(1)
        self.colour_combo = QComboBox()
        self.colour_combo.addItems(["mean colour", "dominant well"])
        self.colour_combo.setToolTip("Colour of a pixel holding many particles: the mean of their well "
                                     "colours, or the colour of the most frequent well")
        self.colour_combo.currentIndexChanged.connect(lambda i: self.set_colour_mode(COLOUR_MODES[i]))
        bar.addWidget(self.colour_combo)
        bar.addWidget(self._button("Export figure…", "Save this figure as PNG or SVG",
                                   lambda: ask_and_export(self, self.plots, "lineage", self._dataset_folder())))
        self.plots = LineagePlots()
        self.plots.setBackground("w")
        self.plots.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.plots.sigStep.connect(self.comparison.next_method)
        self.plots.sigToggleGrid.connect(lambda: self.set_grid(not self.grid))
        self.plots.sigResized.connect(self._update_titles)
        caption = QLabel("Colour: ground-truth well · grey: not scored (transition or well left out) · "
                         "discs: the metric's well centres (mean coordinate of each well's particles)")
        caption.setStyleSheet("color: #606060;")
        caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(caption)
        layout.addWidget(self.plots, 1)
        self._update_selection_label()

    def _button(self, text, tip, slot, checkable=False) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setCheckable(checkable)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        if slot is not None:
            button.clicked.connect(slot)
        return button

    def _new_panel(self) -> PointPanel:
        panel = PointPanel(self.colour_mode)
        panel.view_box.set_tool(self.tool)
        panel.view_box.sigRegionSelected.connect(lambda poly, mode, p=panel: self._on_region(p, poly, mode))
        panel.view_box.sigClearRequested.connect(self.comparison.selection.clear)
        return panel

    def shown_panels(self) -> list[PointPanel]:
        """Panels on screen, ground truth first."""
        methods = self.comparison.methods
        if self.grid:
            entries = methods
        else:
            entries = [methods[self.comparison.current]] if 0 <= self.comparison.current < len(methods) else []
        return [self.truth] + [self._panel_for(e) for e in entries]

    def panel_of(self, position: int) -> PointPanel:
        """The panel of method ``position`` (built if needed)."""
        return self._panel_for(self.comparison.methods[position])

    def columns(self) -> int:
        """Panels per row: 2 for one method, else about a square grid."""
        n = len(self.shown_panels()) if self.comparison.dataset is not None else 1
        return max(2, math.ceil(math.sqrt(n))) if self.grid else 2

    def _relayout(self) -> None:
        self.plots.ci.clear()
        shown = self.shown_panels()
        cols = self.columns()
        for k, panel in enumerate(shown):
            if panel.dirty:
                panel.apply_selection(self._selection_mask())
            self.plots.ci.addItem(panel.plot, row=k // cols, col=k % cols)
        self._update_titles()
        self.plots.fit_canvas()
        QTimer.singleShot(0, self.plots, self.plots.fit_canvas)  # once more after Qt settled the layout

    def set_grid(self, on: bool) -> None:
        self.grid = bool(on)
        self.grid_button.setChecked(self.grid)
        self._relayout()

    def set_tool(self, tool: str) -> None:
        self.tool = tool
        self.tool_buttons[tool].setChecked(True)
        for panel in [self.truth, *self.panels.values()]:
            panel.view_box.set_tool(tool)

    def set_colour_mode(self, mode: str) -> None:
        self.colour_mode = mode
        self.colour_combo.setCurrentIndex(COLOUR_MODES.index(mode))
        for panel in [self.truth, *self.panels.values()]:
            panel.layer.set_colour_mode(mode)

    # --- data ---------------------------------------------------------------------------
    def _selection_mask(self):
        sel = self.comparison.selection
        return sel.mask if sel.count else None

    def _on_dataset(self, dataset) -> None:
        self.panels.clear()
        gt = dataset.ground_truth
        xy = np.stack([np.asarray(gt.cc1_deg), np.asarray(gt.cc2_deg)], axis=1)
        extent = None
        if dataset.landscape is not None:
            land = dataset.landscape
            grid = land.grid(min(land.grid_size, 256))
            energy = grid.free_energy()
            x, y = contour_segments(energy, grid.cc1, grid.cc2, nice_levels(0.0, float(np.percentile(energy, 60)), 8))
            self.truth.contours.setData(x, y, connect="pairs")
            lo1, hi1, lo2, hi2 = grid.extent_deg
            extent = (lo1, hi1, lo2, hi2)
        else:
            self.truth.contours.setData([], [])
        finite = np.isfinite(xy).all(axis=1)
        if finite.all():
            index, wells, scored = np.arange(len(xy)), gt.well, self.comparison.scored_mask()
        else:  # a minimal ground truth may lack some true coordinates
            index, wells, scored = np.flatnonzero(finite), gt.well[finite], self.comparison.scored_mask()[finite]
            xy = xy[finite]
        self.truth.set_points(xy, index, well_codes(wells, scored), extent=extent)
        self.truth.plot.setLabel("bottom", "cc1 (°)")
        self.truth.plot.setLabel("left", "cc2 (°)")
        self.truth.plot.setAspectLocked(True)  # degrees on both axes: circular wells look circular
        self._update_truth_centres()
        self._relayout()

    def _update_truth_centres(self) -> None:
        gt = self.comparison.dataset.ground_truth
        scored = self.comparison.scored_mask()
        wells = np.unique(np.asarray(gt.well)[scored])
        self.truth.set_centres(np.asarray(gt.well_centres_deg)[wells - 1], wells)

    def _panel_for(self, entry) -> PointPanel:
        panel = self.panels.get(entry.id)
        if panel is None:
            panel = self._new_panel()
            self.panels[entry.id] = panel
            self._fill_method_panel(panel, entry)
        return panel

    def _fill_method_panel(self, panel: PointPanel, entry) -> None:
        out = entry.output
        dims = entry.display_dims
        if len(dims) == 2:
            xy = out.coords[:, list(dims)]
            y_label = out.dim_names[dims[1]]
        else:  # a one-dimensional output: spread the points vertically at random
            jitter = np.random.default_rng(0).random(out.n_rows)
            xy = np.column_stack([out.coords[:, dims[0]], jitter])
            y_label = "(random spread)"
        wells = np.asarray(self.comparison.dataset.ground_truth.well)[out.particle_index]
        scored = self.comparison.scored_mask()[out.particle_index]
        panel.key = (dims, entry.scored_with)
        panel.set_points(xy, out.particle_index, well_codes(wells, scored), self._selection_mask())
        panel.plot.setLabel("bottom", out.dim_names[dims[0]])
        panel.plot.setLabel("left", y_label)
        # equal aspect only where both axes are the same kind of coordinate (z0/z1, component 1/2)
        panel.plot.setAspectLocked(len(dims) == 2 and same_unit(out.dim_names[dims[0]], out.dim_names[dims[1]]))
        self._update_method_centres(panel, scored, wells)

    def _update_method_centres(self, panel: PointPanel, scored, wells) -> None:
        """Centres = mean display coordinates of each well's scored particles (the metric's
        centres when the display dimensions are the scored ones)."""
        if not scored.any():
            panel.set_centres(np.zeros((0, 2)), [])
            return
        w = np.asarray(wells)[scored]
        xy = panel.xy[scored].astype(np.float64)
        n = np.bincount(w)
        present = np.flatnonzero(n)
        centres = np.stack([np.bincount(w, weights=xy[:, d])[present] / n[present] for d in range(2)], axis=1)
        panel.set_centres(centres, present)

    def _on_methods(self) -> None:
        alive = {m.id for m in self.comparison.methods}
        for key in [k for k in self.panels if k not in alive]:
            del self.panels[key]
        self._relayout()

    def _on_scores(self) -> None:
        gt = self.comparison.dataset.ground_truth
        scored_all = self.comparison.scored_mask()
        mask = self._selection_mask()
        finite = self.truth.particle_index
        self.truth.set_base_codes(well_codes(np.asarray(gt.well)[finite], scored_all[finite]), mask)
        self._update_truth_centres()
        for entry in self.comparison.methods:
            panel = self.panels.get(entry.id)
            if panel is None:
                continue
            if panel.key[0] != entry.display_dims:
                self._fill_method_panel(panel, entry)
                continue
            out = entry.output
            wells = np.asarray(gt.well)[out.particle_index]
            scored = scored_all[out.particle_index]
            panel.key = (entry.display_dims, entry.scored_with)
            panel.set_base_codes(well_codes(wells, scored), mask)
            self._update_method_centres(panel, scored, wells)
        self._update_titles()

    def _on_selection(self) -> None:
        mask = self._selection_mask()
        shown = self.shown_panels() if self.comparison.dataset is not None else []
        for panel in [self.truth, *self.panels.values()]:
            if any(panel is p for p in shown):
                panel.apply_selection(mask)
            else:
                panel.dirty = True
        self._update_selection_label()

    def _on_region(self, panel: PointPanel, polygon, mode: str) -> None:
        if self.comparison.dataset is None:
            return
        self.comparison.selection.select(panel.particles_in(polygon, self.tool), mode)

    def _title_width(self) -> int:
        """Pixels a panel's title may take (its share of the canvas, less the axis)."""
        return max(60, self.plots.viewport().width() // self.columns() - 70)

    def _update_titles(self) -> None:
        width = self._title_width()
        set_panel_title(self.truth.plot, "", "Ground truth", "(true cc1, cc2)", width)
        for k, entry in enumerate(self.comparison.methods):
            panel = self.panels.get(entry.id)
            if panel is None:
                continue
            s = entry.scores
            score_text = f"accuracy {100 * s.accuracy:.1f} ± {100 * s.recall_std:.1f} %" if s is not None else "not scored"
            position = f"{k + 1}/{len(self.comparison.methods)}"
            set_panel_title(panel.plot, position, entry.label, score_text, width)

    def _update_selection_label(self) -> None:
        n = self.comparison.selection.count
        self.selection_label.setText(f"{n:,} selected" if n else "no selection")
        self.clear_button.setEnabled(n > 0)
        self.export_selection_button.setEnabled(n > 0)

    # --- export -------------------------------------------------------------------------
    def export_figure(self, path) -> Path:
        return export_figure(self.plots, path)

    def export_selection(self, path) -> Path | None:
        """Save the selection: .npy / .txt particle indices, or .star (a RELION subset of the
        dataset's particles.star; by a background job for big datasets, then None). Errors
        are shown in a message box (None)."""
        path = Path(path)
        indices = self.comparison.selection.indices()
        try:
            if path.suffix.lower() == ".star":
                dataset = self.comparison.dataset
                if dataset.n_particles > SYNC_STAR_LIMIT:
                    self.sigStatusMessage.emit(f"Writing {path.name}…")
                    self.star_runner.start(write_star_subset, path, dataset, indices, name="star subset")
                    return None
                write_star_subset(path, dataset, indices)
            else:
                write_indices(path, indices)
        except SelectionError as exc:
            QMessageBox.warning(self, "Cannot export selection", str(exc))
            return None
        self.sigStatusMessage.emit(f"Wrote {len(indices):,} particles to {path}")
        return path

    def _dataset_folder(self):
        dataset = self.comparison.dataset
        return dataset.root if dataset is not None else None

    def _ask_export_selection(self, suffix: str) -> None:
        filters = {".txt": "Text, one index a line (*.txt)", ".npy": "NumPy array (*.npy)",
                   ".star": "RELION STAR (*.star)"}
        path, _ = QFileDialog.getSaveFileName(self, "Export selection",
                                              start_path(f"selection{suffix}", self._dataset_folder()),
                                              filters[suffix])
        if path:
            remember_folder(path)
            self.export_selection(path if Path(path).suffix else path + suffix)

    def shutdown(self) -> None:
        self.star_runner.shutdown()


"""Lineage view (paper Fig. 4): where each ground-truth well's particles land in a method's output.

Left, the ground truth: every particle at its true (cc1, cc2) over the designed landscape's
contours, coloured by its well (gui.widgets.palette). Beside it, a method's output on its two
display dimensions, each particle coloured by the same ground-truth well, with the centres the
metric computed (large numbered discs). Particles the settings do not score (transition
particles, wells left out) are grey. Next / previous method with the keyboard (Right/Left,
PageDown/PageUp, N/P), or all methods at once in a grid (G); the canvas and the panel titles
are gui.comparison.lineage_plots.

Selection is linked: the rectangle or lasso tool in any panel selects particles, and every
panel shows the same particles in colour and the others faded (gui.comparison.selection); the
selection exports as particle indices (.txt/.npy) or as a RELION STAR subset of the dataset
(gui.comparison.selection_export).

Over the current method's panel, its minimum-energy path between two wells (magenta, barrier
tops in red) and over the ground truth the truth's (dashed), with a line comparing wells
visited, barriers and path agreement, and "Play in 3D" (``sigPlayPath`` for the Structure
tab's motion player); the wells are the Landscape tab's path's once ``follow_document`` is
called, else the first neighbouring pair (gui.comparison.lineage_path_view).

Each panel is a gui.comparison.point_panel.PointPanel; its points are a
gui.comparison.point_cloud.PointCloudLayer (scatter when few points are in view, a
screen-resolution RGBA image aggregated with bincount when many), so 3,000,000 particles draw
in a fraction of a second.

Example::

    view = LineageView(model)            # a gui.comparison.comparison_model.ComparisonModel
    view.set_grid(True)                  # all methods
    view.set_tool("lasso")
    view.export_selection("picked.star")
    view.follow_document(doc)            # the path between the designer path's wells
    view.sigPlayPath.connect(structure_tab.player.play_path)
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QButtonGroup, QComboBox, QHBoxLayout, QLabel, QMenu, QToolButton, QVBoxLayout, QWidget

from gui.comparison.lineage_path_view import LineagePath
from gui.comparison.lineage_plots import LineagePlots, same_unit, set_panel_title
from gui.comparison.point_cloud import COLOUR_MODES
from gui.comparison.point_panel import PointPanel, well_codes
from gui.comparison.selection_export import SelectionExport
from gui.comparison.tool_buttons import export_figure_button, tool_button
from gui.widgets.contours import contour_segments, nice_levels
from gui.widgets.figure_export import export_figure


class LineageView(QWidget):
    """Ground truth beside the current method (or all methods); see the module docstring.

    Signals: sigStatusMessage(str); sigPlayPath(object, str): the method's path as true
    (cc1, cc2) degrees (N, 2) and a label, for MotionPlayer.play_path.
    """

    sigStatusMessage = Signal(str)
    sigPlayPath = Signal(object, str)

    def __init__(self, comparison, parent=None):
        super().__init__(parent)
        self.comparison = comparison
        self.grid = False
        self.tool = "pan"
        self.colour_mode = COLOUR_MODES[0]
        self.truth = self._new_panel()
        self.panels: dict[int, PointPanel] = {}
        self.selection_export = SelectionExport(comparison, self)
        self.selection_export.sigStatusMessage.connect(self.sigStatusMessage)
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
        self.previous_button = tool_button("◀", "Previous method (Left, PageUp, P)", lambda: self.comparison.next_method(-1))
        self.next_button = tool_button("▶", "Next method (Right, PageDown, N)", lambda: self.comparison.next_method(1))
        self.grid_button = tool_button("All methods", "Show every method in a grid (G)", self.set_grid, checkable=True)
        for w in (self.previous_button, self.next_button, self.grid_button):
            bar.addWidget(w)
        bar.addSpacing(12)
        self.tool_group = QButtonGroup(self)
        self.tool_buttons = {}
        for tool, text, tip in (("pan", "Pan/zoom", "Drag to pan, wheel to zoom"),
                                ("rect", "Rectangle", "Drag a rectangle to select (Shift adds, Ctrl removes)"),
                                ("lasso", "Lasso", "Draw around particles to select (Shift adds, Ctrl removes)")):
            button = tool_button(text, tip, lambda _=False, t=tool: self.set_tool(t), checkable=True)
            self.tool_group.addButton(button)
            self.tool_buttons[tool] = button
            bar.addWidget(button)
        self.tool_buttons["pan"].setChecked(True)
        self.clear_button = tool_button("Clear", "Clear the selection", self.comparison.selection.clear)
        bar.addWidget(self.clear_button)
        self.export_selection_button = tool_button("Export selection", "Save the selected particles", None)
        menu = QMenu(self.export_selection_button)
        for text, suffix in (("Particle indices (.txt)…", ".txt"), ("Particle indices (.npy)…", ".npy"),
                             ("RELION STAR subset (.star)…", ".star")):
            menu.addAction(text, lambda _=False, s=suffix: self.selection_export.ask(s))
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
        self.plots = LineagePlots()
        bar.addWidget(export_figure_button(self, self.plots, "lineage", self.comparison))
        self.plots.setBackground("w")
        self.plots.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.plots.sigStep.connect(self.comparison.next_method)
        self.plots.sigToggleGrid.connect(lambda: self.set_grid(not self.grid))
        self.plots.sigResized.connect(self._update_titles)
        caption = QLabel("Colour: ground-truth well · grey: not scored (transition or well left out) · "
                         "discs: the metric's well centres (mean coordinate of each well's particles) · "
                         "magenta: the method's minimum-energy path between two wells (dashed: the truth's)")
        caption.setStyleSheet("color: #606060;")
        caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        self.path_overlay = LineagePath(self)
        self.path_overlay.sigPlayPath.connect(self.sigPlayPath)
        layout.addWidget(caption)
        layout.addWidget(self.path_overlay)
        layout.addWidget(self.plots, 1)
        self._update_selection_label()

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
        self.path_overlay.refresh()
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

    def follow_document(self, document) -> None:
        """Draw the path between the end wells of ``document``'s designer path (gui.model.document)."""
        self.path_overlay.follow_document(document)

    def set_path_wells(self, wells) -> None:
        """Draw the path between ``wells`` (1-based pair), None: the first neighbouring pair."""
        self.path_overlay.set_wells(wells)

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
        wells, scored = self._wells_and_scored(out.particle_index)
        panel.key = (dims, entry.scored_with)
        panel.set_points(xy, out.particle_index, well_codes(wells, scored), self._selection_mask())
        panel.plot.setLabel("bottom", out.dim_names[dims[0]])
        panel.plot.setLabel("left", y_label)
        # equal aspect only where both axes are the same kind of coordinate (z0/z1, component 1/2)
        panel.plot.setAspectLocked(len(dims) == 2 and same_unit(out.dim_names[dims[0]], out.dim_names[dims[1]]))
        self._update_method_centres(panel, scored, wells)

    def _wells_and_scored(self, particle_index):
        """Ground-truth well and scored flag of the dataset particles ``particle_index``."""
        well = np.asarray(self.comparison.dataset.ground_truth.well)
        return well[particle_index], self.comparison.scored_mask()[particle_index]

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
        mask = self._selection_mask()
        self.truth.set_base_codes(well_codes(*self._wells_and_scored(self.truth.particle_index)), mask)
        self._update_truth_centres()
        for entry in self.comparison.methods:
            panel = self.panels.get(entry.id)
            if panel is None:
                continue
            if panel.key[0] != entry.display_dims:
                self._fill_method_panel(panel, entry)
                continue
            wells, scored = self._wells_and_scored(entry.output.particle_index)
            panel.key = (entry.display_dims, entry.scored_with)
            panel.set_base_codes(well_codes(wells, scored), mask)
            self._update_method_centres(panel, scored, wells)
        self._update_titles()
        self.path_overlay.refresh()

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
        """Save the selection (gui.comparison.selection_export): .npy / .txt particle indices,
        or .star, a RELION subset of the dataset's particles.star. The path, or None while a
        background job writes it (big datasets) or when it was refused (a warning says why)."""
        return self.selection_export.export(path)

    def shutdown(self) -> None:
        self.selection_export.shutdown()
        self.path_overlay.shutdown()


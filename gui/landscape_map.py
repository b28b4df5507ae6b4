"""The energy map of a landscape document: image, colour bar, contours, wells, live sample,
marginal densities along cc1 (top) and cc2 (right).

One widget serves both uses:

* the designer (``editable=True``): drag a well's handle to move it (live preview, one undo
  step on release; right click or Esc cancels), double-click or context menu to add a well,
  context menu on a handle to delete it, click to select;
* a small read-only map in another tab (``editable=False, marginals=False``): clicking or
  dragging the cross-hair sets the document's conformation (``pick_conformation=True``).

Everything is redrawn from the document's signals; nothing here edits the landscape except
through the document's edit methods. Drawing reuses its items (``setImage(autoLevels=False)``,
``setData``) so a drag redraws at mouse rate.

Example (another tab picking a conformation)::

    picker = LandscapeMapWidget(doc, editable=False, marginals=False, show_sample=False)
    doc.sigConformationChanged.connect(lambda cc1, cc2: render(cc1, cc2))
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QTransform
from PySide6.QtWidgets import QMenu

from engine.palette import well_colour
from engine.sampling import sample_conformations
from gui.contours import contour_segments, nice_levels
from gui.well_handles import WellOverlay

COLOUR_MAP = "viridis"
SAMPLE_SEED = 0
CONTOUR_GRID_MAX = 256  # contours are traced on at most this many cells per axis
MARGINAL_SIZE_PX = 110
AXIS_LEFT_PX = 52
AXIS_BOTTOM_PX = 42
_AXIS_PEN = "#303030"
DIMMED_OPACITY = 0.5
CONTOUR_RGBA = (255, 255, 255, 110)
CONTOUR_RGBA_DIMMED = (40, 40, 40, 70)


class _MapViewBox(pg.ViewBox):
    """A ViewBox that reports clicks (single, double, right) instead of showing its menu."""

    sigClicked = Signal(object)  # pyqtgraph MouseClickEvent

    def mouseClickEvent(self, ev):
        ev.accept()
        self.sigClicked.emit(ev)


def _style_axes(plot: pg.PlotItem) -> None:
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(_AXIS_PEN)
        axis.setTextPen(_AXIS_PEN)


class LandscapeMapWidget(pg.GraphicsLayoutWidget):
    """Energy map of ``document`` (a gui.document.LandscapeDocument).

    Signals: sigCursorMoved(cc1, cc2) degrees while the mouse is over the domain,
    sigCursorLeft(), sigMapClicked(cc1, cc2) on a left click away from the handles.
    """

    sigCursorMoved = Signal(float, float)
    sigCursorLeft = Signal()
    sigMapClicked = Signal(float, float)

    def __init__(self, document, *, editable: bool = True, marginals: bool = True,
                 colorbar: bool = True, show_sample: bool = True,
                 pick_conformation: bool | None = None, parent=None):
        super().__init__(parent)
        self.doc = document
        self.editable = editable
        self.pick_conformation = (not editable) if pick_conformation is None else pick_conformation
        self._sample_size = 0
        self._show_sample = show_sample
        self._show_contours = True
        self._extent = None
        self.setBackground("w")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.ci.layout.setSpacing(4)
        self.ci.layout.setContentsMargins(4, 4, 4, 4)

        self.map_plot = pg.PlotItem(viewBox=_MapViewBox(lockAspect=True))
        self.map_plot.setMenuEnabled(False)
        self.map_plot.hideButtons()
        self.map_plot.setLabel("bottom", "cc1 (°)")
        self.map_plot.setLabel("left", "cc2 (°)")
        self.map_plot.getAxis("left").setWidth(AXIS_LEFT_PX)
        self.map_plot.getAxis("bottom").setHeight(AXIS_BOTTOM_PX)
        _style_axes(self.map_plot)
        self.addItem(self.map_plot, row=1, col=0)
        self.view_box: _MapViewBox = self.map_plot.getViewBox()

        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(-10)
        self.map_plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(colorMap=COLOUR_MAP, interactive=False, width=16,
                                        label=self._energy_label())
        self.colorbar.setImageItem(self.image)
        _style_axes(self.colorbar)
        if colorbar:
            self.addItem(self.colorbar, row=1, col=2)
        self.contours = pg.PlotCurveItem(pen=pg.mkPen(*CONTOUR_RGBA, width=1), antialias=False)
        self.contours.setZValue(-5)
        self.map_plot.addItem(self.contours)
        self._sample_items: list[pg.ScatterPlotItem] = []
        self.overlay = WellOverlay(self.map_plot, movable=editable, parent=self)
        self.marker = pg.TargetItem(size=18, movable=self.pick_conformation,
                                    pen=pg.mkPen("#ff2d2d", width=2.5))
        self.marker.setZValue(40)
        self.marker.setVisible(self.pick_conformation)
        self.map_plot.addItem(self.marker)

        self.top_plot = self.right_plot = None
        if marginals:
            self._build_marginals()

        handles = self.overlay.handles
        handles.sigDragStarted.connect(self.doc.select_well)
        handles.sigDragMoved.connect(self.doc.preview_move_well)
        handles.sigDragFinished.connect(self.doc.move_well)
        handles.sigDragCancelled.connect(lambda _i: self.doc.cancel_preview())
        handles.sigWellClicked.connect(self.doc.select_well)
        handles.sigWellContextMenu.connect(self._well_menu)
        self.view_box.sigClicked.connect(self._on_view_clicked)
        self.marker.sigPositionChanged.connect(self._on_marker_dragged)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.doc.sigLandscapeChanged.connect(self.refresh)
        self.doc.sigSelectionChanged.connect(self._refresh_wells)
        self.doc.sigEnergyUnitChanged.connect(self._on_unit_changed)
        self.doc.sigConformationChanged.connect(self._move_marker)
        self.refresh()
        self._move_marker(*self.doc.conformation)

    # --- public -----------------------------------------------------------------------
    @property
    def sample_size(self) -> int:
        return self._sample_size

    def set_sample_size(self, n: int) -> None:
        """Draw ``n`` conformations sampled from the landscape, coloured by their well."""
        self._sample_size = max(0, int(n))
        self._refresh_samples()

    def set_contours_visible(self, visible: bool) -> None:
        self._show_contours = bool(visible)
        self.contours.setVisible(self._show_contours)
        self._refresh_energy()

    def reset_view(self) -> None:
        lo1, hi1, lo2, hi2 = self.doc.grid.extent_deg
        self.view_box.setRange(xRange=(lo1, hi1), yRange=(lo2, hi2), padding=0.02)

    def map_to_widget(self, cc1_deg: float, cc2_deg: float) -> QPoint:
        """Viewport pixel of (cc1, cc2): where a mouse event must go to hit that point."""
        scene = self.view_box.mapViewToScene(QPointF(cc1_deg, cc2_deg))
        return self.mapFromScene(scene)

    def widget_to_map(self, pos: QPoint) -> tuple[float, float]:
        p = self.view_box.mapSceneToView(self.mapToScene(pos))
        return p.x(), p.y()

    def shown_samples(self) -> dict[int, np.ndarray]:
        """Well number (1-based) -> (n, 2) positions of the sample points drawn in its colour."""
        out = {}
        for k, item in enumerate(self._sample_items, start=1):
            if item.isVisible() and len(item.data):
                out[k] = np.column_stack([item.data["x"], item.data["y"]])
        return out

    # --- redraw -----------------------------------------------------------------------
    def refresh(self, *_):
        self._refresh_energy()
        self._refresh_wells()
        self._refresh_samples()
        self._refresh_marginals()

    def _refresh_energy(self) -> None:
        grid = self.doc.grid
        energy = grid.energy * self.doc.energy_scale
        lo, hi = float(energy.min()), float(energy.max())
        self.image.setImage(energy, autoLevels=False)
        if (grid.extent_deg, energy.shape) != self._extent:  # setRect needs the image's size
            self._extent = (grid.extent_deg, energy.shape)
            lo1, hi1, lo2, hi2 = grid.extent_deg
            self.image.setRect(QRectF(lo1, lo2, hi1 - lo1, hi2 - lo2))
            self.reset_view()
        self.colorbar.setLevels((lo, hi if hi > lo else lo + 1e-6))
        if self._show_contours:
            stride = max(1, -(-energy.shape[0] // CONTOUR_GRID_MAX))
            x, y = contour_segments(energy[::stride, ::stride], grid.cc1[::stride],
                                    grid.cc2[::stride], nice_levels(lo, hi, 12))
            self.contours.setData(x, y, connect="pairs")

    def _refresh_wells(self, *_):
        merged = self.doc.live_grid.basins.merged_into
        self.overlay.update(self.doc.landscape, merged, self.doc.selected_well)

    def _refresh_samples(self) -> None:
        n = self._sample_size if self._show_sample else 0
        grid = self.doc.live_grid
        self._set_dimmed(n > 0)
        if n == 0 or not self.doc.landscape.wells:
            for item in self._sample_items:
                item.hide()
            return
        sample = sample_conformations(grid, n, SAMPLE_SEED)
        n_wells = len(self.doc.landscape.wells)
        while len(self._sample_items) < n_wells:
            colour = pg.mkColor(well_colour(len(self._sample_items) + 1))
            colour.setAlpha(235)
            item = pg.ScatterPlotItem(pxMode=True, size=3.5, pen=None, brush=pg.mkBrush(colour),
                                      antialias=False)
            item.setZValue(10)
            self.map_plot.addItem(item)
            self._sample_items.append(item)
        order = np.argsort(sample.well, kind="stable")
        bounds = np.searchsorted(sample.well[order], np.arange(1, len(self._sample_items) + 2))
        for k, item in enumerate(self._sample_items):
            idx = order[bounds[k]:bounds[k + 1]]
            item.setData(sample.cc1_deg[idx], sample.cc2_deg[idx])
            item.setVisible(k < n_wells and idx.size > 0)

    def _set_dimmed(self, dimmed: bool) -> None:
        """Fade the energy map (and its colour bar alike) behind a sample, so that points of
        every well colour stand out."""
        opacity = DIMMED_OPACITY if dimmed else 1.0
        if self.image.opacity() != opacity:
            self.image.setOpacity(opacity)
            self.colorbar.bar.setOpacity(opacity)
            self.contours.setPen(pg.mkPen(*(CONTOUR_RGBA_DIMMED if dimmed else CONTOUR_RGBA), width=1))

    # --- marginals --------------------------------------------------------------------
    def _build_marginals(self) -> None:
        self.top_plot = self.addPlot(row=0, col=0)
        self.right_plot = self.addPlot(row=1, col=1)
        for plot in (self.top_plot, self.right_plot):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(False, False)
            _style_axes(plot)
        self.top_plot.setXLink(self.map_plot)
        self.right_plot.setYLink(self.map_plot)
        self.top_plot.getAxis("left").setWidth(AXIS_LEFT_PX)
        self.top_plot.getAxis("bottom").setStyle(showValues=False)
        self.top_plot.setLabel("left", "p(cc1)")
        self.right_plot.getAxis("bottom").setHeight(AXIS_BOTTOM_PX)
        self.right_plot.getAxis("left").setStyle(showValues=False)
        self.right_plot.setLabel("bottom", "p(cc2)")
        for axis in (self.top_plot.getAxis("left"), self.right_plot.getAxis("bottom")):
            axis.setTicks([])
            axis.enableAutoSIPrefix(False)
        self.ci.layout.setRowFixedHeight(0, MARGINAL_SIZE_PX)
        self.ci.layout.setColumnFixedWidth(1, MARGINAL_SIZE_PX)
        swap = QTransform(0, 1, 1, 0, 0, 0)  # the right plot draws (cc2, p) as (p, cc2)
        self._total_curves = []
        self._well_curves: list[list[pg.PlotCurveItem]] = [[], []]
        for plot in (self.top_plot, self.right_plot):
            curve = pg.PlotCurveItem(pen=pg.mkPen("#202020", width=1.5), fillLevel=0.0,
                                     brush=pg.mkBrush(0, 0, 0, 28), antialias=True)
            curve.setZValue(5)
            if plot is self.right_plot:
                curve.setTransform(swap)
            plot.addItem(curve)
            self._total_curves.append(curve)
        self._swap = swap

    def _refresh_marginals(self) -> None:
        if self.top_plot is None:
            return
        grid, live = self.doc.grid, self.doc.live_grid
        total = grid.marginals()
        per_well = _basin_marginals(live, len(self.doc.landscape.wells))
        merged = live.basins.merged_into
        for axis, plot in enumerate((self.top_plot, self.right_plot)):
            coords = (grid.cc1, grid.cc2)[axis]
            self._total_curves[axis].setData(coords, total[axis])
            curves = self._well_curves[axis]
            while len(curves) < len(per_well[axis]):
                curve = pg.PlotCurveItem(pen=pg.mkPen(well_colour(len(curves) + 1), width=2),
                                         antialias=True)
                if axis == 1:
                    curve.setTransform(self._swap)
                plot.addItem(curve)
                curves.append(curve)
            live_coords = (live.cc1, live.cc2)[axis]
            for k, curve in enumerate(curves):
                visible = k < len(per_well[axis]) and merged[k] is None
                if visible:
                    curve.setData(live_coords, per_well[axis][k])
                curve.setVisible(visible)
            top = 1.08 * float(total[axis].max())
            if axis == 0:
                plot.setYRange(0, top, padding=0)
            else:
                plot.setXRange(0, top, padding=0)

    # --- document and mouse events ----------------------------------------------------
    def _energy_label(self) -> str:
        return f"E ({self.doc.energy_unit})"

    def _on_unit_changed(self, _unit: str) -> None:
        self.colorbar.axis.setLabel(self._energy_label())
        self._refresh_energy()

    def _move_marker(self, cc1: float, cc2: float) -> None:
        if self.marker.pos() != QPointF(cc1, cc2):
            self.marker.blockSignals(True)
            self.marker.setPos(cc1, cc2)
            self.marker.blockSignals(False)

    def _on_marker_dragged(self, *_):
        p = self.marker.pos()
        self.doc.set_conformation(p.x(), p.y())

    def _on_view_clicked(self, ev) -> None:
        p = self.view_box.mapSceneToView(ev.scenePos())
        x, y = p.x(), p.y()
        if ev.button() == Qt.MouseButton.LeftButton:
            if ev.double():
                if self.editable:
                    self.doc.add_well(self.doc.new_well_at(x, y))
                return
            if self.editable:
                self.doc.select_well(-1)
            if self.pick_conformation:
                self.doc.set_conformation(x, y)
            self.sigMapClicked.emit(*self.doc.clamp_to_domain(x, y))
        elif ev.button() == Qt.MouseButton.RightButton:
            self._map_menu(x, y, ev.screenPos().toPoint())

    def _popup(self, actions: list[tuple[str, object]], screen_pos: QPoint) -> QMenu:
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        for text, slot in actions:
            action = QAction(text, menu)
            action.triggered.connect(slot)
            menu.addAction(action)
        menu.popup(screen_pos)
        return menu

    def _map_menu(self, x: float, y: float, screen_pos: QPoint) -> None:
        actions = []
        if self.editable:
            actions.append((f"Add well at ({x:.1f}°, {y:.1f}°)",
                            lambda: self.doc.add_well(self.doc.new_well_at(x, y))))
        if self.pick_conformation:
            actions.append(("Set conformation here", lambda: self.doc.set_conformation(x, y)))
        actions.append(("Reset view", self.reset_view))
        self._popup(actions, screen_pos)

    def _well_menu(self, index: int, screen_pos: QPoint) -> None:
        self.doc.select_well(index)
        if self.editable:
            self._popup([(f"Delete well {index + 1}", lambda: self.doc.remove_well(index))], screen_pos)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self.view_box.sceneBoundingRect().contains(scene_pos):
            p = self.view_box.mapSceneToView(scene_pos)
            lo1, hi1, lo2, hi2 = self.doc.grid.extent_deg
            if lo1 <= p.x() <= hi1 and lo2 <= p.y() <= hi2:
                self.sigCursorMoved.emit(p.x(), p.y())
                return
        self.sigCursorLeft.emit()

    def keyPressEvent(self, ev):
        if ev.key() == Qt.Key.Key_Escape and self.overlay.handles.cancel_drag():
            ev.accept()
            return
        super().keyPressEvent(ev)


def _basin_marginals(grid, n_wells: int) -> tuple[np.ndarray, np.ndarray]:
    """Each basin's share of the marginal densities: ((n_wells, n1), (n_wells, n2)) per
    degree, summing over wells to ``grid.marginals()``."""
    label = grid.basins.label.astype(np.int64)
    occ = grid.occupancy
    n2, n1 = label.shape
    step1, step2 = grid.step_deg
    m1 = np.bincount((label * n1 + np.arange(n1)[None, :]).ravel(), occ.ravel(),
                     (n_wells + 1) * n1).reshape(n_wells + 1, n1)[1:] / step1
    m2 = np.bincount((label * n2 + np.arange(n2)[:, None]).ravel(), occ.ravel(),
                     (n_wells + 1) * n2).reshape(n_wells + 1, n2)[1:] / step2
    return m1, m2

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
``setData``). During a drag preview the image, colour levels, handles and total marginals
follow every mouse move; the slower layers are redrawn from the latest preview at most every
``SLOW_REFRESH_MS`` (a throttle: the latest state wins, nothing queues up) in two groups on
separate event-loop passes, so no pass pays for both: the contours (traced on a coarser grid
while dragging), then everything derived from basins and sampling (merged flags, live sample,
per-well marginals). All of them are redrawn at once, at full resolution, when the drag ends.
The marginal plots live in gui.landscape.marginal_plots, the mouse and keyboard handling in
gui.landscape.map_interaction, the plots' shared look in gui.landscape.map_style.

Example (another tab picking a conformation)::

    picker = LandscapeMapWidget(doc, editable=False, marginals=False, show_sample=False)
    doc.sigConformationChanged.connect(lambda cc1, cc2: render(cc1, cc2))
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, QTimer, Signal

from engine.landscape.sampling import sample_conformations
from gui.widgets.contours import contour_segments, nice_levels
from gui.landscape.map_interaction import MapInteractionMixin, MapViewBox
from gui.landscape.map_style import AXIS_BOTTOM_PX, AXIS_LEFT_PX, CACHED, style_axes
from gui.landscape.marginal_plots import MarginalPlotsMixin
from gui.landscape.well_handles import WellOverlay, WellPointsItem

COLOUR_MAP = "viridis"
SAMPLE_SEED = 0
CONTOUR_GRID_MAX = 256  # contours are traced on at most this many cells per axis
CONTOUR_GRID_MAX_DRAG = 128  # ... and on at most this many while dragging
SLOW_REFRESH_MS = 40  # during a drag: contours, basins, sample at most this often (0: always)
# During a drag the colour levels (the colour bar's axis is slow to redraw) get slack so that
# they stay put: they are widened by this fraction of the energy range on each side and kept
# while the energy range stays inside them and covers most of them.
DRAG_LEVELS_SLACK = 0.03
DIMMED_OPACITY = 0.5
CONTOUR_RGBA = (255, 255, 255, 110)
CONTOUR_RGBA_DIMMED = (40, 40, 40, 70)


class LandscapeMapWidget(MapInteractionMixin, MarginalPlotsMixin, pg.GraphicsLayoutWidget):
    """Energy map of ``document`` (a gui.model.document.LandscapeDocument).

    Signals: sigCursorMoved(cc1, cc2) degrees while the mouse is over the domain,
    sigCursorLeft(), sigMapClicked(cc1, cc2) on a left click away from the handles.
    Mouse and keys: gui.landscape.map_interaction; marginal plots: gui.landscape.marginal_plots.
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
        self._image_shape = None
        self._merged: tuple = ()
        self._slow_timer = QTimer(self)
        self._slow_timer.setSingleShot(True)
        self._slow_timer.timeout.connect(self._on_slow_timer)
        # method names, not bound methods: those would make a reference cycle through self,
        # leaving the widget to the garbage collector (which tears Qt objects down badly)
        self._slow_groups = ("_refresh_contours", "_refresh_basin_layers")
        self._slow_phase = 0  # the group the timer redraws next
        self._slow_dirty = False  # a preview arrived since the current round began
        self.setBackground("w")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.ci.layout.setSpacing(4)
        self.ci.layout.setContentsMargins(4, 4, 4, 4)

        self.map_plot = pg.PlotItem(viewBox=MapViewBox(lockAspect=True))
        self.map_plot.setMenuEnabled(False)
        self.map_plot.hideButtons()
        self.map_plot.setLabel("bottom", "cc1 (°)")
        self.map_plot.setLabel("left", "cc2 (°)")
        self.map_plot.getAxis("left").setWidth(AXIS_LEFT_PX)
        self.map_plot.getAxis("bottom").setHeight(AXIS_BOTTOM_PX)
        style_axes(self.map_plot)
        self.addItem(self.map_plot, row=1, col=0)
        self.view_box: MapViewBox = self.map_plot.getViewBox()

        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(-10)
        self.map_plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(colorMap=COLOUR_MAP, interactive=False, width=16,
                                        label=self._energy_label())
        self.colorbar.setImageItem(self.image)
        style_axes(self.colorbar)
        if colorbar:
            self.addItem(self.colorbar, row=1, col=2)
        self.contours = pg.PlotCurveItem(pen=pg.mkPen(*CONTOUR_RGBA, width=1), antialias=False)
        self.contours.setZValue(-5)
        # layers redrawn only by the throttled refresh are cached as pixmaps, so the image
        # changing under them on every mouse move does not repaint them
        self.contours.setCacheMode(CACHED)
        self.map_plot.addItem(self.contours)
        self.samples = WellPointsItem()
        self.samples.setZValue(10)
        self.samples.setCacheMode(CACHED)
        self.samples.hide()
        self.map_plot.addItem(self.samples)
        self.overlay = WellOverlay(self.map_plot, movable=editable, parent=self)
        self.marker = pg.TargetItem(size=18, movable=self.pick_conformation,
                                    pen=pg.mkPen("#ff2d2d", width=2.5))
        self.marker.setZValue(40)
        self.marker.setVisible(self.pick_conformation)
        self.map_plot.addItem(self.marker)

        self.top_plot = self.right_plot = None
        if marginals:
            self._build_marginals()

        self._connect_interaction()
        self.doc.sigLandscapeChanged.connect(self.refresh)
        self.doc.sigSelectionChanged.connect(self._refresh_wells)
        self.doc.sigEnergyUnitChanged.connect(self._on_unit_changed)
        self.doc.sigConformationChanged.connect(self._move_marker)
        self._stale = False
        self._redraw()
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
        self._refresh_contours()

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
        if not self.samples.isVisible():
            return {}
        return self.samples.points_by_well()

    @property
    def slow_refresh_pending(self) -> bool:
        """True while a drag's throttled layers wait for their next redraw."""
        return self._slow_timer.isActive()

    # --- redraw -----------------------------------------------------------------------
    def refresh(self, *_):
        """Redraw for the document's landscape: all layers, or during a drag preview the
        cheap ones now and the rest throttled (see the module docstring). A hidden map (in
        another tab) only notes that it is stale and redraws when it is shown."""
        if not self.isVisible():
            self._stale = True
            self._slow_timer.stop()
            return
        self._stale = False
        self._redraw()

    def showEvent(self, ev):
        super().showEvent(ev)
        if self._stale:
            self.refresh()

    def _redraw(self) -> None:
        self._refresh_energy()
        self._refresh_handles()
        self._refresh_total_marginals()
        if self.doc.is_previewing and SLOW_REFRESH_MS > 0:
            self._slow_dirty = True
            if not self._slow_timer.isActive():
                self._slow_timer.start(self._slow_step_ms())
        else:
            self._slow_timer.stop()
            self._slow_phase, self._slow_dirty = 0, False
            self._refresh_slow()

    def _slow_step_ms(self) -> int:
        return SLOW_REFRESH_MS // len(self._slow_groups)

    def _on_slow_timer(self) -> None:
        """Redraw the next group of a round; start another round if the drag went on."""
        if self._slow_phase == 0:
            self._slow_dirty = False
        getattr(self, self._slow_groups[self._slow_phase])()
        self._slow_phase = (self._slow_phase + 1) % len(self._slow_groups)
        if self._slow_phase or self._slow_dirty:
            self._slow_timer.start(self._slow_step_ms())

    def _refresh_slow(self) -> None:
        """Every layer derived from contours, basins and the sample."""
        for group in self._slow_groups:
            getattr(self, group)()

    def _refresh_basin_layers(self) -> None:
        self._refresh_wells()
        self._refresh_samples()
        self._refresh_well_marginals()

    def _refresh_energy(self) -> None:
        grid = self.doc.grid
        energy = self._energy_shown(grid)
        lo, hi = float(energy.min()), float(energy.max())
        self.image.setImage(energy, autoLevels=False)
        if energy.shape != self._image_shape or grid.extent_deg != self._extent:
            self._image_shape = energy.shape  # setRect needs the image's size
            lo1, hi1, lo2, hi2 = grid.extent_deg
            self.image.setRect(QRectF(lo1, lo2, hi1 - lo1, hi2 - lo2))
        if grid.extent_deg != self._extent:
            self._extent = grid.extent_deg
            self.reset_view()
        hi = hi if hi > lo else lo + 1e-6
        old_lo, old_hi = self.colorbar.levels()
        if self.doc.is_previewing:
            if old_lo <= lo and hi <= old_hi and hi - lo >= (1 - 4 * DRAG_LEVELS_SLACK) * (old_hi - old_lo):
                return  # the image keeps its levels
            slack = DRAG_LEVELS_SLACK * (hi - lo)
            lo, hi = lo - slack, hi + slack
        if (lo, hi) != (old_lo, old_hi):
            self.colorbar.setLevels((lo, hi))

    def _energy_shown(self, grid) -> np.ndarray:
        """The grid's energy in the display unit (the grid's own array for kcal/mol: the
        grids are never modified, and a copy per mouse move costs page faults)."""
        scale = self.doc.energy_scale
        return grid.energy if scale == 1.0 else grid.energy * scale

    def _refresh_contours(self) -> None:
        if not self._show_contours:
            return
        grid = self.doc.grid
        energy = self._energy_shown(grid)
        cells = CONTOUR_GRID_MAX_DRAG if self.doc.is_previewing else CONTOUR_GRID_MAX
        stride = max(1, -(-energy.shape[0] // cells))
        x, y = contour_segments(energy[::stride, ::stride], grid.cc1[::stride],
                                grid.cc2[::stride], nice_levels(float(energy.min()), float(energy.max()), 12))
        self.contours.setData(x, y, connect="pairs", skipFiniteCheck=True)

    def _refresh_handles(self) -> None:
        """Handles, numbers and the selected well's ellipse at the wells' positions, with the
        merged flags of the last basin computation (it runs in ``_refresh_wells``)."""
        land = self.doc.landscape
        if len(self._merged) != len(land.wells):
            self._merged = self.doc.live_grid.basins.merged_into
        self.overlay.update(land, self._merged, self.doc.selected_well)

    def _refresh_wells(self, *_):
        self._merged = self.doc.live_grid.basins.merged_into
        self.overlay.update(self.doc.landscape, self._merged, self.doc.selected_well)

    def _refresh_samples(self) -> None:
        n = self._sample_size if self._show_sample else 0
        grid = self.doc.live_grid
        self._set_dimmed(n > 0)
        if n == 0 or not self.doc.landscape.wells:
            self.samples.hide()
            return
        sample = sample_conformations(grid, n, SAMPLE_SEED)
        self.samples.set_points(sample.cc1_deg, sample.cc2_deg, sample.well)
        self.samples.show()

    def _set_dimmed(self, dimmed: bool) -> None:
        """Fade the energy map (and its colour bar alike) behind a sample, so that points of
        every well colour stand out."""
        opacity = DIMMED_OPACITY if dimmed else 1.0
        if self.image.opacity() != opacity:
            self.image.setOpacity(opacity)
            self.colorbar.bar.setOpacity(opacity)
            self.contours.setPen(pg.mkPen(*(CONTOUR_RGBA_DIMMED if dimmed else CONTOUR_RGBA), width=1))

    # --- document events --------------------------------------------------------------
    def _energy_label(self) -> str:
        return f"E ({self.doc.energy_unit})"

    def _on_unit_changed(self, _unit: str) -> None:
        self.colorbar.axis.setLabel(self._energy_label())
        self._refresh_energy()
        self._refresh_contours()

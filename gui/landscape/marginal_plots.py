"""The marginal densities beside the landscape map: p(cc1) above it and p(cc2) to its right,
the landscape's total as a filled curve and each basin's share in its well colour.

``MarginalPlotsMixin`` is mixed into gui.landscape.landscape_map.LandscapeMapWidget (a
pg.GraphicsLayoutWidget) and uses its ``doc`` (gui.model.document.LandscapeDocument) and
``map_plot`` (the energy map's PlotItem, at row 1, column 0 of the layout), and its
``top_plot`` (None for a map without marginals: the refreshes then do nothing).
``_build_marginals`` sets ``top_plot`` / ``right_plot``, ``_total_curves`` (cc1, cc2) and
``_well_curves`` (per axis, one curve per well).

Example::

    class Map(MarginalPlotsMixin, pg.GraphicsLayoutWidget):
        def __init__(self, doc):
            super().__init__()
            self.doc, self.map_plot = doc, self.addPlot(row=1, col=0)
            self.top_plot = self.right_plot = None
            self._build_marginals()
            self._refresh_total_marginals()   # total curves and plot ranges
            self._refresh_well_marginals()    # each basin's share
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QTransform

from gui.widgets.palette import well_colour
from gui.landscape.map_style import AXIS_BOTTOM_PX, AXIS_LEFT_PX, CACHED, style_axes

MARGINAL_SIZE_PX = 110
MARGINAL_HEADROOM = 1.08  # the marginal plots' top is this times the highest density
# During a drag the marginal plots get this much more headroom and keep it while the curve
# fits and fills half, so that their axes (slow to redraw) stay put.
DRAG_MARGINAL_HEADROOM = 1.25


class MarginalPlotsMixin:
    """p(cc1) and p(cc2) plots linked to the map's axes (see the module docstring)."""

    def _build_marginals(self) -> None:
        self.top_plot = self.addPlot(row=0, col=0)
        self.right_plot = self.addPlot(row=1, col=1)
        for plot in (self.top_plot, self.right_plot):
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setMouseEnabled(False, False)
            style_axes(plot)
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
        # the right plot draws its filled total (cc2, p) as (p, cc2) through a swap transform;
        # the per-well curves are given (p, cc2) directly, since Qt caches no rotated item
        swap = QTransform(0, 1, 1, 0, 0, 0)
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

    def _refresh_total_marginals(self) -> None:
        """The landscape's marginal densities along cc1 and cc2 (full grid) and the plots'
        ranges; during a drag a range only changes when the curve outgrows it or falls
        below half of it, so the axes are not redrawn on every move."""
        if self.top_plot is None:
            return
        grid = self.doc.grid
        total = grid.marginals()
        for axis, plot in enumerate((self.top_plot, self.right_plot)):
            self._total_curves[axis].setData((grid.cc1, grid.cc2)[axis], total[axis],
                                             skipFiniteCheck=True)
            top = MARGINAL_HEADROOM * float(total[axis].max())
            (_, x1), (_, y1) = plot.getViewBox().viewRange()
            shown = y1 if axis == 0 else x1
            if self.doc.is_previewing:
                if 0.5 * shown <= top <= shown:
                    continue
                top *= DRAG_MARGINAL_HEADROOM / MARGINAL_HEADROOM
            if axis == 0:
                plot.setYRange(0, top, padding=0)
            else:
                plot.setXRange(0, top, padding=0)

    def _refresh_well_marginals(self) -> None:
        """Each basin's share of the marginals (preview grid during a drag)."""
        if self.top_plot is None:
            return
        live = self.doc.live_grid
        per_well = basin_marginals(live, len(self.doc.landscape.wells))
        merged = live.basins.merged_into
        for axis, plot in enumerate((self.top_plot, self.right_plot)):
            curves = self._well_curves[axis]
            while len(curves) < len(per_well[axis]):
                curve = pg.PlotCurveItem(pen=pg.mkPen(well_colour(len(curves) + 1), width=2),
                                         antialias=True)
                curve.setCacheMode(CACHED)
                plot.addItem(curve)
                curves.append(curve)
            live_coords = (live.cc1, live.cc2)[axis]
            for k, curve in enumerate(curves):
                visible = k < len(per_well[axis]) and merged[k] is None
                if visible:
                    xy = (live_coords, per_well[axis][k])
                    curve.setData(*(xy if axis == 0 else xy[::-1]), skipFiniteCheck=True)
                curve.setVisible(visible)


def basin_marginals(grid, n_wells: int) -> tuple[np.ndarray, np.ndarray]:
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

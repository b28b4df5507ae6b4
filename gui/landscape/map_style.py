"""The shared look of the landscape map's plots (gui.landscape.landscape_map and its marginal plots in
gui.landscape.marginal_plots): axis pens, the fixed axis sizes that keep the map and the marginals
aligned, and the pixmap cache mode of the layers redrawn only by the throttled refresh.

Example::

    plot = pg.PlotItem()
    style_axes(plot)
    plot.getAxis("left").setWidth(AXIS_LEFT_PX)
"""
from __future__ import annotations

import pyqtgraph as pg

CACHED = pg.GraphicsObject.CacheMode.DeviceCoordinateCache
AXIS_LEFT_PX = 52
AXIS_BOTTOM_PX = 42
AXIS_PEN = "#303030"


def style_axes(plot: pg.PlotItem) -> None:
    """Give the four axes of ``plot`` (a PlotItem or ColorBarItem) the map's pen and text pen."""
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(AXIS_PEN)
        axis.setTextPen(AXIS_PEN)

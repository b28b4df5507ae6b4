"""The Comparison tab's plot style, in one place: the axis colour, the 9 pt chart font, plot
titles elided to their room, and a canvas fitted back to its visible area.

Example::

    style_plot(plot)                                    # dark grey axes, no menu or "A" button
    set_fitted_title(plot, "Recall per well (dims 0,1)", width_px=300)
    fit_canvas(graphics_layout_widget)                  # after a title or legend changed size
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFont, QFontMetrics

AXIS_PEN = "#303030"
CHART_FONT_PT = 9.0


def chart_font(bold: bool = False) -> QFont:
    """The charts' title and legend font (9 pt)."""
    font = QFont()
    font.setPointSizeF(CHART_FONT_PT)
    font.setBold(bold)
    return font


def style_plot(plot: pg.PlotItem) -> None:
    """Axes in AXIS_PEN, and no context menu or auto-range button (a figure, not a tool)."""
    for name in ("left", "bottom"):
        plot.getAxis(name).setPen(AXIS_PEN)
        plot.getAxis(name).setTextPen(AXIS_PEN)
    plot.setMenuEnabled(False)
    plot.hideButtons()


def elide(text: str, width_px: int, bold: bool = False) -> str:
    """``text`` cut with "…" to fit ``width_px`` in the charts' 9 pt font."""
    return QFontMetrics(chart_font(bold)).elidedText(text, Qt.TextElideMode.ElideRight, max(30, int(width_px)))


def set_fitted_title(plot: pg.PlotItem, text: str, width_px: int) -> None:
    """A plot title elided to ``width_px`` that never widens the plot (no minimum width)."""
    plot.setTitle(elide(text, width_px), color=AXIS_PEN, size="9pt")
    plot.titleLabel.setMinimumWidth(0)
    plot.titleLabel.setToolTip(text)


def fit_canvas(view: pg.GraphicsLayoutWidget) -> None:
    """Make the layout exactly the visible area again (pyqtgraph only does so on a resize, so
    a layout that grew for a long title or legend would otherwise stay cut off)."""
    if view.closed:
        return
    view.ci.layout.activate()
    view.ci.setGeometry(QRectF(0, 0, view.viewport().width(), view.viewport().height()))

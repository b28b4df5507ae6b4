"""The lineage view's canvas and panel titles.

:class:`LineagePlots` is the pyqtgraph canvas holding the panels; it turns navigation keys
into signals (next / previous method, grid). :func:`set_panel_title` fits "prefix **name**
suffix" into a panel's width, eliding the suffix, then the name. :func:`same_unit` tells
whether two output dimensions are the same kind of coordinate (then the panel locks its
aspect ratio).

Example::

    plots = LineagePlots()
    plots.sigStep.connect(model.next_method)
    set_panel_title(panel.plot, "2/3", "cryoDRGN", "accuracy 91.2 ± 3.1 %", width_px=380)
    same_unit("z0", "z1")        # True
"""
from __future__ import annotations

import html
import re

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontMetrics

from gui.comparison.chart_style import AXIS_PEN, chart_font, fit_canvas


def same_unit(name_a: str, name_b: str) -> bool:
    """True when two output dimension names differ only by their number ("z0"/"z1",
    "component 1"/"component 2", "dim 0"/"dim 3"): the same kind of coordinate."""
    stem_a, stem_b = (re.sub(r"[\s_.-]*\d+$", "", name.strip()) for name in (name_a, name_b))
    return bool(stem_a) and stem_a == stem_b


def set_panel_title(plot: pg.PlotItem, prefix: str, name: str, suffix: str, width_px: int) -> None:
    """Title "prefix **name** suffix" fitted into ``width_px``: the suffix, then the name, are
    elided ("…"); the title never widens its panel (no minimum width from the text)."""
    metrics = QFontMetrics(chart_font())
    bold_metrics = QFontMetrics(chart_font(bold=True))
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

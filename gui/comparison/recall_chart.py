"""Recall per well for every method (paper Fig. 2b) and the confusion matrix of the current one.

``RecallChart``: grouped bars, one group per ground-truth well, one bar per method. Wells keep
their palette colour (gui.widgets.palette) in a strip under each group, so methods are drawn in
shades of grey (a colour here would collide with a well's colour elsewhere in the tab). The
current method's bars are outlined in black; the legend under the chart gives each method's
accuracy ± standard deviation of recall.

``ConfusionMatrixView``: rows = ground-truth well, columns = assigned well, each row as a
percentage of that well's particles (so the diagonal is the recall), numbers in the cells.

Both redraw from the comparison model's signals.

Example::

    chart = RecallChart(model)
    chart.bar_heights()          # {method label: {well: recall %}}
    confusion = ConfusionMatrixView(model)
    confusion.shown_matrix()     # (W, W) row percentages of the current method
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QTimer
from PySide6.QtGui import QFont, QFontMetrics

from gui.comparison.chart_style import AXIS_PEN, elide, fit_canvas, set_fitted_title, style_plot
from gui.widgets.palette import well_colour

STRIP = (-7.0, -2.0)        # y range (recall %) of the well-colour strip under the bars
GROUP_WIDTH = 0.82
CONFUSION_MAP = pg.ColorMap([0.0, 1.0], [(255, 255, 255), (8, 48, 107)])


def method_greys(n: int) -> list[str]:
    """``n`` distinguishable greys, darkest first ('#rrggbb')."""
    if n <= 1:
        return ["#3a3a3a"]
    levels = np.linspace(0x30, 0xc4, n).round().astype(int)
    return [f"#{v:02x}{v:02x}{v:02x}" for v in levels]


def set_empty(plot: pg.PlotItem, message: str, width_px: int) -> None:
    """Empty state: the message instead of meaningless axes."""
    for name in ("left", "bottom"):
        plot.hideAxis(name)
    plot.showGrid(y=False)
    set_fitted_title(plot, message, width_px)


def _show_axes(plot: pg.PlotItem) -> None:
    for name in ("left", "bottom"):
        plot.showAxis(name)


class _ModelChart(pg.GraphicsLayoutWidget):
    """A white chart of the comparison model: ``refresh`` redraws it on the model's signals
    and after a resize or show (titles and legend re-elided for the new width)."""

    def __init__(self, comparison, parent=None):
        super().__init__(parent)
        self.comparison = comparison
        self.setBackground("w")

    def _follow_model(self) -> None:
        """Connect ``refresh`` to the model and draw once (the end of a subclass's __init__)."""
        c = self.comparison
        for signal in (c.sigScoresChanged, c.sigMethodsChanged, c.sigCurrentChanged, c.sigLabelChanged,
                       c.sigDatasetChanged):
            signal.connect(self.refresh)
        self.refresh()

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        if not self.closed:
            QTimer.singleShot(0, self, self.refresh)

    def showEvent(self, ev):
        super().showEvent(ev)
        QTimer.singleShot(0, self, self.refresh)


class RecallChart(_ModelChart):
    """Grouped recall bars of every scored method (see the module docstring)."""

    def __init__(self, comparison, parent=None):
        super().__init__(comparison, parent)
        self.plot = self.addPlot(row=0, col=0)
        style_plot(self.plot)
        self.plot.setLabel("left", "recall (%)")
        self.plot.setLabel("bottom", "ground-truth well")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.showGrid(y=True, alpha=0.15)
        # one column: two columns of "name: accuracy ± std" did not fit a narrow pane
        self.legend = pg.LegendItem(colCount=1, labelTextColor=AXIS_PEN, labelTextSize="9pt")
        self.addItem(self.legend, row=1, col=0)
        self._bars: list[pg.BarGraphItem] = []
        self._heights: dict[str, dict[int, float]] = {}
        self._follow_model()

    def bar_heights(self) -> dict[str, dict[int, float]]:
        """{method label: {well: recall %}} as drawn."""
        return self._heights

    def refresh(self, *_):
        for item in self._bars:
            self.plot.removeItem(item)
        self._bars = []
        self.legend.clear()
        self._heights = {}
        scored = [(k, m) for k, m in enumerate(self.comparison.methods) if m.scores is not None]
        room = self.viewport().width() - 20
        if not scored:
            set_empty(self.plot, "Recall per well: no method scored yet — add method outputs"
                      if self.comparison.dataset is not None else "Recall per well: open a dataset and add method outputs",
                      room)
            fit_canvas(self)
            return
        _show_axes(self.plot)
        self.plot.showGrid(y=True, alpha=0.15)
        wells = sorted({int(w) for _, m in scored for w in m.scores.wells})
        position = {w: i for i, w in enumerate(wells)}
        greys = method_greys(len(scored))
        width = GROUP_WIDTH / len(scored)
        for j, (k, entry) in enumerate(scored):
            s = entry.scores
            x = np.array([position[int(w)] for w in s.wells]) - GROUP_WIDTH / 2 + (j + 0.5) * width
            current = k == self.comparison.current
            pen = pg.mkPen("k", width=1.6) if current else pg.mkPen("#505050", width=0.6)
            bars = pg.BarGraphItem(x=x, height=100 * s.recall, width=width * 0.92, brush=greys[j], pen=pen)
            self.plot.addItem(bars)
            self._bars.append(bars)
            self._heights[entry.label] = {int(w): float(100 * r) for w, r in zip(s.wells, s.recall)}
            numbers = f": {100 * s.accuracy:.1f} ± {100 * s.recall_std:.1f} %" + ("  ◀" if current else "")
            self.legend.addItem(bars, elide(entry.label, room - 40 - QFontMetrics(QFont()).horizontalAdvance(numbers))
                                + numbers)
        strip = pg.BarGraphItem(x=np.arange(len(wells)), y0=STRIP[0], height=STRIP[1] - STRIP[0],
                                width=GROUP_WIDTH, brushes=[pg.mkBrush(well_colour(w)) for w in wells],
                                pen=pg.mkPen(None))
        self.plot.addItem(strip)
        self._bars.append(strip)
        self.plot.getAxis("bottom").setTicks([[(i, str(w)) for i, w in enumerate(wells)]])
        self.plot.getAxis("left").setTicks([[(v, str(v)) for v in range(0, 101, 20)]])
        self.plot.setXRange(-0.6, len(wells) - 0.4, padding=0)
        self.plot.setYRange(STRIP[0] - 1, 104, padding=0)
        set_fitted_title(self.plot, f"Recall per well (dims {self.comparison.settings.dims_text}"
                         + (", core only" if self.comparison.settings.core_only else "") + ")", room)
        for _, label in self.legend.items:
            label.setMinimumWidth(0)
        fit_canvas(self)


class ConfusionMatrixView(_ModelChart):
    """Row-normalised confusion matrix of the current method (see the module docstring)."""

    def __init__(self, comparison, parent=None):
        super().__init__(comparison, parent)
        self.plot = self.addPlot()
        style_plot(self.plot)
        self.plot.setLabel("left", "ground-truth well")
        self.plot.setLabel("bottom", "assigned well")
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.setMouseEnabled(x=False, y=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(CONFUSION_MAP)
        self.plot.addItem(self.image)
        self._texts: list[pg.TextItem] = []
        self._strips: list[pg.BarGraphItem] = []
        self._matrix = np.zeros((0, 0))
        self._follow_model()

    def shown_matrix(self) -> np.ndarray:
        """(W, W) percentages drawn: row = ground-truth well, column = assigned well."""
        return self._matrix

    def refresh(self, *_):
        for item in self._texts + self._strips:
            self.plot.removeItem(item)
        self._texts, self._strips = [], []
        entry = self.comparison.current_method
        if entry is None or entry.scores is None:
            self._matrix = np.zeros((0, 0))
            self.image.clear()
            set_empty(self.plot, "Confusion matrix" + (f": {entry.label} not scored" if entry is not None
                                                      else ": no method scored yet"), self.viewport().width() - 20)
            fit_canvas(self)
            return
        _show_axes(self.plot)
        s = entry.scores
        confusion = np.asarray(s.confusion, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            self._matrix = np.nan_to_num(100 * confusion / confusion.sum(axis=1, keepdims=True))
        w = len(s.wells)
        self.image.setImage(self._matrix, autoLevels=False, levels=(0, 100))
        self.image.setRect(QRectF(0, 0, w, w))
        if w <= 20:
            font = QFont()
            font.setPointSizeF(8.0 if w <= 8 else 7.0)
            for i in range(w):
                for j in range(w):
                    value = self._matrix[i, j]
                    if round(value) == 0:
                        continue  # blank cells read faster than a wall of zeros
                    text = pg.TextItem(f"{value:.0f}", color="w" if value > 55 else "#202020", anchor=(0.5, 0.5))
                    text.setFont(font)
                    text.setPos(j + 0.5, i + 0.5)
                    self.plot.addItem(text)
                    self._texts.append(text)
        brushes = [pg.mkBrush(well_colour(int(v))) for v in s.wells]
        centres = np.arange(w) + 0.5
        for item in (pg.BarGraphItem(x0=-0.45, x1=-0.1, y=centres, height=0.9, brushes=brushes, pen=pg.mkPen(None)),
                     pg.BarGraphItem(x=centres, y0=w + 0.1, y1=w + 0.45, width=0.9, brushes=brushes, pen=pg.mkPen(None))):
            self.plot.addItem(item)
            self._strips.append(item)
        ticks = [[(c, str(int(v))) for c, v in zip(centres, s.wells)]]
        self.plot.getAxis("bottom").setTicks(ticks)
        self.plot.getAxis("left").setTicks(ticks)
        self.plot.setRange(xRange=(-0.5, w), yRange=(0, w + 0.5), padding=0.02)
        set_fitted_title(self.plot, f"Confusion matrix: {entry.label} (% of each true well)",
                         self.viewport().width() - 20)
        fit_canvas(self)

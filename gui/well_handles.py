"""Well markers on the landscape map: draggable handles, numbers, merged-well flags.

``WellHandlesItem`` is one scatter item holding a handle per well, hit-tested with
``pointsAt``; it turns mouse gestures into signals with a start / moved / finished (or
cancelled) drag lifecycle and knows nothing about documents. A right click during a drag
(or ``cancel_drag()``, e.g. on Esc) cancels it. ``WellOverlay`` owns the handles and the
decorations drawn with them (well numbers, red rings and "merged into N" labels for wells
that have no minimum of their own, the selected well's 1-sigma ellipse) and redraws them from
a landscape.

Example::

    overlay = WellOverlay(plot_item, movable=True)
    overlay.handles.sigDragMoved.connect(lambda i, x, y: doc.preview_move_well(i, x, y))
    overlay.update(landscape, basins.merged_into, selected=2)
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QFont

from engine.palette import well_colour

HANDLE_SIZE_PX = 15
MERGED_COLOUR = "#e8112d"
LABEL_FILL = (0, 0, 0, 150)


class WellHandlesItem(pg.ScatterPlotItem):
    """A handle per well (pixel-sized discs in the well palette), in data coordinates.

    Signals (well indices are 0-based, positions in degrees):
        sigDragStarted(int), sigDragMoved(int, float, float), sigDragFinished(int, float, float),
        sigDragCancelled(int), sigWellClicked(int), sigWellContextMenu(int, QPoint screen pos).
    """

    sigDragStarted = Signal(int)
    sigDragMoved = Signal(int, float, float)
    sigDragFinished = Signal(int, float, float)
    sigDragCancelled = Signal(int)
    sigWellClicked = Signal(int)
    sigWellContextMenu = Signal(int, object)

    def __init__(self, movable: bool = True):
        super().__init__(pxMode=True, size=HANDLE_SIZE_PX, antialias=True, tip=None,
                         hoverable=movable, hoverSize=HANDLE_SIZE_PX + 5,
                         hoverPen=pg.mkPen("w", width=3))
        self.movable = movable
        self._drag: tuple[int, QPointF] | None = None  # (well index, handle minus grab point)
        self.setZValue(30)

    @property
    def is_dragging(self) -> bool:
        return self._drag is not None

    def set_wells(self, xy: np.ndarray, selected: int = -1) -> None:
        """Show handles at ``xy`` (n_wells, 2) degrees; ``selected`` gets a thicker rim."""
        n = len(xy)
        brushes = [pg.mkBrush(well_colour(i + 1)) for i in range(n)]
        pens = [pg.mkPen("w", width=3.5) if i == selected else pg.mkPen("#202020", width=1.5)
                for i in range(n)]
        sizes = [HANDLE_SIZE_PX + 4 if i == selected else HANDLE_SIZE_PX for i in range(n)]
        self.setData(pos=np.asarray(xy, dtype=float).reshape(-1, 2), brush=brushes, pen=pens,
                     size=sizes, data=np.arange(n))

    def well_at(self, pos: QPointF) -> int:
        """Index of the topmost handle under ``pos`` (item coordinates), -1 for none."""
        points = self.pointsAt(pos)
        return int(points[0].data()) if len(points) else -1

    def cancel_drag(self) -> bool:
        """Abandon the drag in progress (True if there was one)."""
        if self._drag is None:
            return False
        index, self._drag = self._drag[0], None
        self.sigDragCancelled.emit(index)
        return True

    # --- mouse ------------------------------------------------------------------------
    def hoverEvent(self, ev):
        super().hoverEvent(ev)
        if self.movable and not ev.isExit() and self.well_at(ev.pos()) >= 0:
            ev.acceptDrags(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.RightButton)
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif self._drag is None:
            self.unsetCursor()

    def mouseDragEvent(self, ev):
        if not self.movable or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            index = self.well_at(ev.buttonDownPos())
            if index < 0:
                ev.ignore()
                return
            x, y = self.data["x"][index], self.data["y"][index]
            self._drag = (index, QPointF(x, y) - ev.buttonDownPos())
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            self.sigDragStarted.emit(index)
        ev.accept()
        if self._drag is None:  # cancelled: swallow the rest of this gesture
            return
        index, offset = self._drag
        pos = ev.pos() + offset
        if ev.isFinish():
            self._drag = None
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            self.sigDragFinished.emit(index, pos.x(), pos.y())
        else:
            self.sigDragMoved.emit(index, pos.x(), pos.y())

    def mouseClickEvent(self, ev):
        if not self.movable:  # read-only map: clicks go through to the map underneath
            ev.ignore()
            return
        if ev.button() == Qt.MouseButton.RightButton and self.cancel_drag():
            ev.accept()
            return
        index = self.well_at(ev.pos())
        if index < 0 or ev.double():
            ev.ignore()
            return
        ev.accept()
        if ev.button() == Qt.MouseButton.LeftButton:
            self.sigWellClicked.emit(index)
        elif ev.button() == Qt.MouseButton.RightButton:
            self.sigWellContextMenu.emit(index, ev.screenPos().toPoint())


class WellOverlay(QObject):
    """Handles, numbers, merged flags and the selected well's ellipse on a PlotItem."""

    def __init__(self, plot: pg.PlotItem, movable: bool = True, parent=None):
        super().__init__(parent)
        self.plot = plot
        self.handles = WellHandlesItem(movable)
        self.merged_rings = pg.ScatterPlotItem(pxMode=True, size=HANDLE_SIZE_PX + 14, brush=None,
                                               pen=pg.mkPen(MERGED_COLOUR, width=3), antialias=True)
        self.merged_rings.setZValue(29)
        self.ellipse = pg.PlotCurveItem(pen=pg.mkPen("w", width=1.5, style=Qt.PenStyle.DashLine),
                                        antialias=True)
        self.ellipse.setZValue(28)
        for item in (self.ellipse, self.merged_rings, self.handles):
            plot.addItem(item)
        self.labels: list[pg.TextItem] = []
        self._font = QFont()
        self._font.setBold(True)
        self._font.setPointSize(10)

    def update(self, landscape, merged_into, selected: int = -1) -> None:
        """Redraw for ``landscape``; ``merged_into`` per well: None or the 1-based owner."""
        xy = landscape.centres_deg
        n = len(xy)
        if self.handles.is_dragging and n <= self.handles._drag[0]:
            self.handles.cancel_drag()
        self.handles.set_wells(xy, selected)
        merged = [i for i in range(n) if i < len(merged_into) and merged_into[i] is not None]
        self.merged_rings.setData(pos=xy[merged].reshape(-1, 2))
        self._update_labels(xy, merged_into)
        if 0 <= selected < n:
            ex, ey = _ellipse(landscape.wells[selected])
            self.ellipse.setData(ex, ey)
            self.ellipse.show()
        else:
            self.ellipse.hide()

    def _update_labels(self, xy: np.ndarray, merged_into) -> None:
        while len(self.labels) < len(xy):
            label = pg.TextItem(anchor=(-0.25, 1.05))
            label.setFont(self._font)
            label.setZValue(31)
            self.plot.addItem(label)
            self.labels.append(label)
        for i, label in enumerate(self.labels):
            if i >= len(xy):
                label.hide()
                continue
            owner = merged_into[i] if i < len(merged_into) else None
            text = str(i + 1) if owner is None else f"{i + 1}: merged into {owner}"
            if label.toPlainText() != text:  # re-laying out text is the slow part
                label.setText(text, color="w")
                label.fill = pg.mkBrush(LABEL_FILL if owner is None else QColor(MERGED_COLOUR))
                label.update()
            label.setPos(float(xy[i, 0]), float(xy[i, 1]))
            label.show()


def _ellipse(well, n: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """Points of the well's 1-sigma ellipse in degrees."""
    t = np.linspace(0.0, 2.0 * math.pi, n)
    u, v = well.sigma1_deg * np.cos(t), well.sigma2_deg * np.sin(t)
    a = math.radians(well.angle_deg)
    return (well.cc1_deg + u * math.cos(a) - v * math.sin(a),
            well.cc2_deg + u * math.sin(a) + v * math.cos(a))

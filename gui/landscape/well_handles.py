"""Well markers on the landscape map: draggable handles, numbers, merged-well flags, and
the live sample's points in their wells' colours.

``WellHandlesItem`` is one scatter item holding a handle per well, hit-tested with
``pointsAt``; it turns mouse gestures into signals with a start / moved / finished (or
cancelled) drag lifecycle and knows nothing about documents. A right click during a drag
(or ``cancel_drag()``, e.g. on Esc) cancels it. ``WellOverlay`` owns the handles and the
decorations drawn with them (well numbers, red rings and "merged into N" labels for wells
that have no minimum of their own, the selected well's 1-sigma ellipse) and redraws them from
a landscape. ``WellPointsItem`` draws thousands of points coloured by well number in one
``drawPixmapFragments`` call (a sprite per colour), so replacing them on every mouse move
costs a sort rather than pyqtgraph's per-point styling.

Example::

    overlay = WellOverlay(plot_item, movable=True)
    overlay.handles.sigDragMoved.connect(lambda i, x, y: doc.preview_move_well(i, x, y))
    overlay.update(landscape, basins.merged_into, selected=2)
    points = WellPointsItem(); plot_item.addItem(points)
    points.set_points(sample.cc1_deg, sample.cc2_deg, sample.well)
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPixmap

from gui.widgets.palette import well_colour

HANDLE_SIZE_PX = 15
MERGED_COLOUR = "#e8112d"
LABEL_FILL = (0, 0, 0, 150)
POINT_SIZE_PX = 3.5
POINT_ALPHA = 235


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
        # brushes, pens and sizes of the last (n_wells, selected): reusing the same QPen and
        # QBrush objects lets pyqtgraph reuse its rendered symbols on every mouse move
        self._styles: tuple[int, int, list, list, list] | None = None
        self.setZValue(30)

    @property
    def is_dragging(self) -> bool:
        return self._drag is not None

    def set_wells(self, xy: np.ndarray, selected: int = -1) -> None:
        """Show handles at ``xy`` (n_wells, 2) degrees; ``selected`` gets a thicker rim."""
        n = len(xy)
        if self._styles is None or self._styles[:2] != (n, selected):
            normal, bold = pg.mkPen("#202020", width=1.5), pg.mkPen("w", width=3.5)
            brushes = [pg.mkBrush(well_colour(i + 1)) for i in range(n)]
            pens = [bold if i == selected else normal for i in range(n)]
            sizes = [HANDLE_SIZE_PX + 4 if i == selected else HANDLE_SIZE_PX for i in range(n)]
            self._styles = (n, selected, brushes, pens, sizes)
        _, _, brushes, pens, sizes = self._styles
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


class WellPointsItem(pg.GraphicsObject):
    """Pixel-sized discs at (x, y) in data coordinates, each in the palette colour of its well
    number (1-based). Points are kept sorted by well so ``points_by_well`` is a slice."""

    def __init__(self, size_px: float = POINT_SIZE_PX, alpha: int = POINT_ALPHA):
        super().__init__()
        self.size_px, self.alpha = float(size_px), int(alpha)
        self._xy = np.zeros((0, 2))
        self._well = np.zeros(0, np.int64)
        self._bounds = QRectF()
        self._atlas: tuple[float, int, QPixmap] | None = None  # (dpr, colours, pixmap)

    def set_points(self, x: np.ndarray, y: np.ndarray, well: np.ndarray) -> None:
        """Show points ``x``, ``y`` (N,) degrees with well numbers ``well`` (N,) >= 1."""
        well = np.asarray(well, dtype=np.int64)
        order = np.argsort(well, kind="stable")
        self._xy = np.column_stack([np.asarray(x, float)[order], np.asarray(y, float)[order]])
        self._well = well[order]
        self.prepareGeometryChange()
        if len(self._xy):
            (x0, y0), (x1, y1) = self._xy.min(axis=0), self._xy.max(axis=0)
            self._bounds = QRectF(x0, y0, x1 - x0, y1 - y0)
        else:
            self._bounds = QRectF()
        self.update()

    def __len__(self) -> int:
        return len(self._xy)

    def points_by_well(self) -> dict[int, np.ndarray]:
        """Well number -> (n, 2) positions of its points."""
        numbers, starts = np.unique(self._well, return_index=True)
        stops = np.r_[starts[1:], len(self._well)]
        return {int(k): self._xy[a:b] for k, a, b in zip(numbers, starts, stops)}

    def colour(self, number: int) -> QColor:
        colour = QColor(well_colour(number))
        colour.setAlpha(self.alpha)
        return colour

    def boundingRect(self) -> QRectF:
        if self._bounds.isNull() and not len(self._xy):
            return QRectF()
        pad_x, pad_y = self.pixelWidth() * self.size_px, self.pixelHeight() * self.size_px
        return self._bounds.adjusted(-pad_x, -pad_y, pad_x, pad_y)

    def viewTransformChanged(self):
        self.prepareGeometryChange()  # the pixel padding of boundingRect changed

    def _sprites(self, dpr: float, colours: int) -> tuple[QPixmap, int]:
        """One disc per palette colour side by side; returns (pixmap, cell size in px)."""
        cell = math.ceil(self.size_px * dpr) + 2
        if self._atlas is None or self._atlas[:2] != (dpr, colours):
            pixmap = QPixmap(cell * colours, cell)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            d = self.size_px * dpr
            for k in range(colours):
                painter.setBrush(self.colour(k + 1))
                painter.drawEllipse(QRectF(k * cell + 0.5 * (cell - d), 0.5 * (cell - d), d, d))
            painter.end()
            self._atlas = (dpr, colours, pixmap)
        return self._atlas[2], cell

    def paint(self, painter, option, widget=None):
        n = len(self._xy)
        if n == 0:
            return
        dpr = float(widget.devicePixelRatioF()) if widget is not None else 1.0
        colours = int(self._well.max())
        pixmap, cell = self._sprites(dpr, colours)
        t = painter.transform()
        x, y = self._xy[:, 0], self._xy[:, 1]
        # PixmapFragment: x, y (centre, device px), source left, top, width, height,
        # scaleX, scaleY, rotation, opacity; a C array of them is a (n, 10) float64 block
        fragments = np.empty((n, 10))
        fragments[:, 0] = t.m11() * x + t.m21() * y + t.dx()
        fragments[:, 1] = t.m12() * x + t.m22() * y + t.dy()
        fragments[:, 2] = (self._well - 1) * cell
        fragments[:, 3:6] = (0.0, cell, cell)
        fragments[:, 6:10] = (1.0 / dpr, 1.0 / dpr, 0.0, 1.0)
        np.clip(fragments[:, :2], -2.0**30, 2.0**30, out=fragments[:, :2])
        painter.resetTransform()
        first = shiboken6.wrapInstance(fragments.ctypes.data, QPainter.PixmapFragment)
        painter.drawPixmapFragments(first, n, pixmap)

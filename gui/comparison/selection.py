"""Linked particle selection: lasso and rectangle tools, the shared selection, its export.

* ``SelectableViewBox``: a pyqtgraph ViewBox whose left drag pans (tool "pan"), draws a
  rectangle (tool "rect") or a free-hand lasso (tool "lasso"). On release it emits
  ``sigRegionSelected(polygon, mode)``: polygon (K, 2) in data coordinates (a rectangle gives
  its 4 corners), mode "replace", "add" (Shift held) or "subtract" (Ctrl held). A click without
  drag in a selection tool emits ``sigClearRequested``; Esc or a right click cancels a drag.
* ``points_in_polygon`` / ``points_in_rect``: which points a region holds (even-odd rule,
  exact; the polygon test sorts the candidates by y once and visits, per edge, only the
  points in that edge's y band, so a lasso over 3,000,000 points takes a fraction of a second).
* ``SelectionModel``: the selected particles as an (N,) bool mask over the dataset's
  particles (``particles.star`` order), shared by every view; ``sigChanged`` on each change.
* ``write_indices`` (.txt one 0-based index a line, or .npy int64) and ``write_star_subset``
  (the rows of the dataset's ``particles.star`` for those particles, optics block kept,
  written with the ``starfile`` library; a job function for gui.widgets.jobs).

Example::

    sel = SelectionModel(dataset.n_particles)
    inside = points_in_polygon(xy, lasso)              # xy (M, 2) of one view
    sel.select(particle_index[inside], "add")
    write_indices("picked.npy", sel.indices())
    write_star_subset("picked.star", dataset, sel.indices())
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from engine.formats.dataset import DatasetError

TOOLS = ("pan", "rect", "lasso")
MODES = ("replace", "add", "subtract")
OUTLINE_COLOUR = "#d81b60"


class SelectionError(ValueError):
    """A selection that cannot be exported; the message names the file and the problem."""


# --- geometry --------------------------------------------------------------------------------
def points_in_rect(xy: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    """(M,) bool: points of xy (M, 2) with min(x0,x1) <= x <= max(x0,x1), same for y."""
    xy = np.asarray(xy)
    lo_x, hi_x = sorted((x0, x1))
    lo_y, hi_y = sorted((y0, y1))
    x, y = xy[:, 0], xy[:, 1]
    return (x >= lo_x) & (x <= hi_x) & (y >= lo_y) & (y <= hi_y)


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(M,) bool: points of xy (M, 2) inside the closed polygon (K, 2), even-odd rule.

    Crossing number of a ray towards +x: an edge from (xa, ya) to (xb, yb) counts for a point
    (x, y) when y lies in [min(ya, yb), max(ya, yb)) and x is left of the edge at that y
    (so a point on a shared vertex is counted once, as in Qt's and matplotlib's tests).
    """
    xy = np.asarray(xy)
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    inside = np.zeros(len(xy), bool)
    if len(poly) < 3 or not len(xy):
        return inside
    (px0, py0), (px1, py1) = poly.min(axis=0), poly.max(axis=0)
    x, y = xy[:, 0], xy[:, 1]
    candidates = np.flatnonzero((x >= px0) & (x <= px1) & (y >= py0) & (y <= py1))
    if not candidates.size:
        return inside
    cx = x[candidates].astype(np.float64)
    cy = y[candidates].astype(np.float64)
    order = np.argsort(cy, kind="stable")
    cy_sorted = cy[order]
    parity = np.zeros(len(candidates), bool)
    for (xa, ya), (xb, yb) in zip(poly, np.roll(poly, -1, axis=0)):
        if ya == yb:
            continue
        lo, hi = (ya, yb) if ya < yb else (yb, ya)
        rows = order[np.searchsorted(cy_sorted, lo, "left"):np.searchsorted(cy_sorted, hi, "left")]
        if not rows.size:
            continue
        x_cross = xa + (cy[rows] - ya) * ((xb - xa) / (yb - ya))
        hit = rows[cx[rows] < x_cross]
        parity[hit] = ~parity[hit]
    inside[candidates[parity]] = True
    return inside


# --- the view box with selection tools --------------------------------------------------------
class SelectableViewBox(pg.ViewBox):
    """A ViewBox with rectangle and lasso selection (see the module docstring)."""

    sigRegionSelected = Signal(object, str)   # polygon (K, 2) data coordinates, mode
    sigClearRequested = Signal()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tool = "pan"
        self._points: list[tuple[float, float]] = []
        self._dragging = False
        self.outline = QGraphicsPathItem()
        pen = QPen(pg.mkColor(OUTLINE_COLOUR), 1.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.outline.setPen(pen)
        self.outline.setBrush(pg.mkBrush(216, 27, 96, 30))
        self.outline.setZValue(1e6)
        self.outline.setVisible(False)
        self.addItem(self.outline, ignoreBounds=True)

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"tool: must be one of {TOOLS} (got {tool!r})")
        self.cancel_drag()
        self.tool = tool

    def mouseDragEvent(self, ev, axis=None):
        if self.tool == "pan" or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            self._dragging = True
            start = self.mapSceneToView(ev.buttonDownScenePos())
            self._points = [(start.x(), start.y())]
        if not self._dragging:
            return
        here = self.mapSceneToView(ev.scenePos())
        if self.tool == "lasso":
            self._points.append((here.x(), here.y()))
        else:
            self._points = self._points[:1] + [(here.x(), here.y())]
        self._draw_outline()
        if ev.isFinish():
            polygon = self.current_polygon()
            self.cancel_drag()
            if polygon is not None:
                self.sigRegionSelected.emit(polygon, _mode_of(ev.modifiers()))

    def mouseClickEvent(self, ev):
        if self.tool != "pan" and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.sigClearRequested.emit()
            return
        if ev.button() == Qt.MouseButton.RightButton and self._dragging:
            ev.accept()
            self.cancel_drag()
            return
        super().mouseClickEvent(ev)

    def keyPressEvent(self, ev):
        if ev.key() == Qt.Key.Key_Escape and self._dragging:
            ev.accept()
            self.cancel_drag()
            return
        super().keyPressEvent(ev)

    def current_polygon(self) -> np.ndarray | None:
        """(K, 2) polygon of the drag in progress (4 corners for a rectangle), or None."""
        if len(self._points) < 2:
            return None
        if self.tool == "rect":
            (xa, ya), (xb, yb) = self._points[0], self._points[-1]
            if xa == xb or ya == yb:
                return None
            return np.array([(xa, ya), (xb, ya), (xb, yb), (xa, yb)], dtype=np.float64)
        poly = np.array(self._points, dtype=np.float64)
        return poly if len(poly) >= 3 else None

    def cancel_drag(self) -> None:
        self._dragging = False
        self._points = []
        self.outline.setVisible(False)

    def _draw_outline(self) -> None:
        poly = self.current_polygon()
        if poly is None:
            self.outline.setVisible(False)
            return
        path = QPainterPath(QPointF(*poly[0]))
        for x, y in poly[1:]:
            path.lineTo(QPointF(x, y))
        path.closeSubpath()
        self.outline.setPath(path)
        self.outline.setVisible(True)


def _mode_of(modifiers) -> str:
    if modifiers & Qt.KeyboardModifier.ShiftModifier:
        return "add"
    if modifiers & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.MetaModifier):
        return "subtract"
    return "replace"


# --- the shared selection ---------------------------------------------------------------------
class SelectionModel(QObject):
    """Selected particles of a dataset: ``mask`` (N,) bool in particles.star order.

    Signals: sigChanged() after every change (including a reset to a new dataset size).
    """

    sigChanged = Signal()

    def __init__(self, n_particles: int = 0, parent=None):
        super().__init__(parent)
        self._mask = np.zeros(int(n_particles), bool)
        self._count = 0

    @property
    def mask(self) -> np.ndarray:
        """(N,) bool, read-only view."""
        view = self._mask.view()
        view.flags.writeable = False
        return view

    @property
    def count(self) -> int:
        return self._count

    @property
    def n_particles(self) -> int:
        return len(self._mask)

    def indices(self) -> np.ndarray:
        """Sorted 0-based indices of the selected particles, int64."""
        return np.flatnonzero(self._mask).astype(np.int64)

    def reset(self, n_particles: int) -> None:
        """Empty selection over a dataset of ``n_particles`` (a new dataset)."""
        self._mask = np.zeros(int(n_particles), bool)
        self._count = 0
        self.sigChanged.emit()

    def select(self, indices, mode: str = "replace") -> None:
        """Replace the selection with ``indices``, or add them, or take them away."""
        if mode not in MODES:
            raise ValueError(f"mode: must be one of {MODES} (got {mode!r})")
        indices = np.asarray(indices, dtype=np.int64).ravel()
        if indices.size and (indices.min() < 0 or indices.max() >= len(self._mask)):
            raise ValueError(f"indices: must lie in 0..{len(self._mask) - 1}")
        if mode == "replace":
            self._mask[:] = False
        self._mask[indices] = mode != "subtract"
        self._count = int(np.count_nonzero(self._mask))
        self.sigChanged.emit()

    def clear(self) -> None:
        if self._count:
            self._mask[:] = False
            self._count = 0
            self.sigChanged.emit()


# --- export ------------------------------------------------------------------------------------
def write_indices(path, indices) -> Path:
    """Particle indices (0-based, particles.star order): ``.npy`` int64 array, or text with
    one index a line (any other suffix, ``.txt`` by convention)."""
    path = Path(path)
    indices = np.asarray(indices, dtype=np.int64).ravel()
    try:
        if path.suffix.lower() == ".npy":
            np.save(path, indices)
        else:
            path.write_text("".join(f"{i}\n" for i in indices.tolist()), encoding="utf-8")
    except OSError as exc:
        raise SelectionError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


def rebase_image_names(names, from_folder, to_folder) -> np.ndarray:
    """RELION image names "000001@stack.mrcs" whose relative stack paths are relative to
    ``from_folder``, rewritten relative to ``to_folder`` (where the new STAR file lies), so
    RELION run from the new file's folder finds the stacks. Absolute paths stay; a stack on
    another drive than ``to_folder`` (Windows) is written absolute. (M,) str array."""
    names = np.asarray(names).astype(str)
    from_folder = Path(from_folder).resolve()
    to_folder = Path(to_folder).resolve()
    if from_folder == to_folder:
        return names
    parts = np.char.partition(names, "@")
    has_at = parts[:, 1] == "@"
    prefix = np.where(has_at, parts[:, 0], "")
    stacks = np.where(has_at, parts[:, 2], parts[:, 0])
    unique, inverse = np.unique(stacks, return_inverse=True)
    rebased = []
    for stack in unique.tolist():
        if not stack or os.path.isabs(stack):
            rebased.append(stack)
            continue
        target = os.path.normpath(from_folder / stack)
        try:
            rebased.append(Path(os.path.relpath(target, to_folder)).as_posix())
        except ValueError:  # another drive: no relative path exists
            rebased.append(Path(target).as_posix())
    new_stacks = np.asarray(rebased, dtype=object)[inverse.ravel()].astype(str)
    return np.where(has_at, np.char.add(np.char.add(prefix, "@"), new_stacks), new_stacks)


def write_star_subset(path, dataset, indices, *, progress=None, should_stop=None, log=None) -> Path:
    """Write the rows ``indices`` of ``dataset``'s particles.star (optics block kept) to
    ``path``. Checks that the STAR has one row per particle and that the rows' image names
    are the dataset's. A job function (progress/should_stop/log as gui.widgets.jobs passes them)."""
    import starfile

    path = Path(path)
    indices = np.asarray(indices, dtype=np.int64).ravel()
    if log:
        log("reading the dataset's particles.star")
    try:
        star, blocks = dataset.read_star()
    except DatasetError as exc:
        raise SelectionError(f"{exc} (a STAR subset takes its rows from it)") from None
    particles = blocks["particles"]
    if indices.size and (indices.min() < 0 or indices.max() >= len(particles)):
        raise SelectionError(f"{path}: particle index out of range 0..{len(particles) - 1}")
    if should_stop is not None and should_stop():
        return path
    subset = particles.iloc[indices].reset_index(drop=True)
    known = np.asarray(dataset.ground_truth.image_name).astype(str)
    if known.size and np.all(known[indices] != ""):
        names = subset["rlnImageName"].to_numpy().astype(str)
        wrong = np.flatnonzero(names != known[indices])
        if wrong.size:
            raise SelectionError(f"{star}: row {indices[wrong[0]] + 1} is {names[wrong[0]]!r}, but the ground truth "
                                 f"names {known[indices[wrong[0]]]!r}: the STAR file is not in dataset order")
    subset["rlnImageName"] = rebase_image_names(subset["rlnImageName"].to_numpy().astype(str), star.parent, path.parent)
    out = {name: block for name, block in blocks.items() if name != "particles"}
    out["particles"] = subset
    try:
        starfile.write(out, path)
    except OSError as exc:
        raise SelectionError(f"{path}: cannot write ({exc.strerror or exc})") from None
    if progress:
        progress(1.0)
    if log:
        log(f"wrote {len(subset)} particles to {path}")
    return path

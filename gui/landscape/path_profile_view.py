"""A path on the designed landscape and its energy profile along arc length.

``PathProfilePanel`` (in the designer's side panel) offers two wells in combo boxes and shows
the minimum-energy path between their basin minima (engine.landscape.path_profile); with
"Draw" checked, clicks on the map (``add_vertex``, wired by the designer to the map's
sigMapClicked) lay a polyline instead, and the profile follows it. The plot shows G along the
path in the document's energy unit, each segment's barrier (a red triangle at its top, its
height above the higher of the two wells it joins) and the wells visited (a dot in the well's
colour at each visit's lowest point, with its number); the line under it gives the visits,
the path's barrier and both path integrals (engine.landscape.path_profile says which).
``PathOverlay`` draws the path and its barrier tops on the map's plot. The panel recomputes
on every landscape change except drag previews (a path on the full grid takes a fraction of
a second), and on a change of energy unit only redraws.

Each new path is published on the document (``set_designer_path``, a
gui.model.designer_path.DesignerPath, None when there is none): the Structure tab's motion
player plays the SSU along it, the lineage view starts from its wells. While the document's
conformation lies on the path (the player walking it), a white dot marks it on the profile.

Example::

    panel = PathProfilePanel(doc)
    overlay = PathOverlay(designer.map.map_plot)
    panel.sigPathChanged.connect(overlay.set_path)
    designer.map.sigMapClicked.connect(panel.add_vertex)
    panel.set_wells(1, 2)
    panel.profile.barrier_kcal_per_mol
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from engine.landscape.path_profile import drawn_path_profile, well_path_profile
from gui.landscape.map_style import style_axes
from gui.model.designer_path import DesignerPath
from gui.widgets.palette import well_colour

PATH_PEN = pg.mkPen("#e6007e", width=2.5)
BARRIER_BRUSH = "#d7191c"
PROFILE_HEIGHT_PX = 190
PATH_Z = 25  # above the contours and the live sample, below the well handles
# a conformation this close to the path (in grid cells) is on it: the player's frames lie on
# the polyline up to rounding, a click elsewhere on the map does not
ON_PATH_CELLS = 0.5


def position_on_path(points, point) -> tuple[float, float]:
    """(arc length of the nearest point of the polyline ``points`` (N, 2) to ``point`` (2,),
    distance to it), both in the points' units (degrees)."""
    points = np.asarray(points, float).reshape(-1, 2)
    point = np.asarray(point, float)
    if len(points) == 1:
        return 0.0, float(np.hypot(*(point - points[0])))
    a, d = points[:-1], np.diff(points, axis=0)
    length2 = np.maximum((d ** 2).sum(axis=1), 1e-300)
    t = np.clip(((point - a) * d).sum(axis=1) / length2, 0.0, 1.0)
    distance = np.hypot(*(a + t[:, None] * d - point).T)
    k = int(np.argmin(distance))
    arc = np.concatenate([[0.0], np.cumsum(np.sqrt((d ** 2).sum(axis=1)))])
    return float(arc[k] + t[k] * (arc[k + 1] - arc[k])), float(distance[k])


class PathOverlay:
    """The path (a line, its vertices while drawing) and its barrier tops on ``plot``."""

    def __init__(self, plot: pg.PlotItem):
        self.plot = plot
        self.line = pg.PlotCurveItem(pen=PATH_PEN, antialias=True)
        self.tops = pg.ScatterPlotItem(symbol="t1", size=11, brush=BARRIER_BRUSH, pen=pg.mkPen("w", width=1))
        for item in (self.line, self.tops):
            item.setZValue(PATH_Z)
            plot.addItem(item)

    def set_path(self, points, tops) -> None:
        """``points`` (N, 2) and barrier tops (K, 2) in (cc1, cc2) degrees; empty arrays hide them."""
        points, tops = np.asarray(points, float).reshape(-1, 2), np.asarray(tops, float).reshape(-1, 2)
        self.line.setData(points[:, 0], points[:, 1])
        self.tops.setData(pos=tops)

    def close(self) -> None:
        for item in (self.line, self.tops):
            self.plot.removeItem(item)


class PathProfilePanel(QWidget):
    """Well pickers, Draw / Clear, the profile plot and its numbers, for one LandscapeDocument.

    Signals: sigPathChanged(points (N, 2), barrier tops (K, 2)) in degrees, after every change.
    """

    sigPathChanged = Signal(object, object)

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.doc = document
        self.profile = None  # the PathProfile shown, or None
        self.vertices: list[tuple[float, float]] = []  # a drawn path's corners (degrees)
        self._message = ""  # shown instead of the numbers when there is no profile
        self.well_a, self.well_b = QComboBox(), QComboBox()
        self.draw_button = QPushButton("Draw")
        self.draw_button.setCheckable(True)
        self.draw_button.setToolTip("Click on the map to lay a path point by point; "
                                    "the profile follows it")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Forget the drawn path and show the path between the wells again")
        row = QHBoxLayout()
        row.addWidget(QLabel("From well"))
        row.addWidget(self.well_a)
        row.addWidget(QLabel("to"))
        row.addWidget(self.well_b)
        row.addStretch(1)
        row.addWidget(self.draw_button)
        row.addWidget(self.clear_button)

        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(PROFILE_HEIGHT_PX)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        style_axes(self.plot.getPlotItem())
        self.plot.setLabel("bottom", "arc length (°)")
        self.curve = self.plot.plot(pen=pg.mkPen("#202020", width=2))
        self.barriers = pg.ScatterPlotItem(symbol="t1", size=12, brush=BARRIER_BRUSH, pen=None)
        self.wells = pg.ScatterPlotItem(size=10, pen=pg.mkPen("#202020", width=1))
        self.position = pg.ScatterPlotItem(size=11, brush="w", pen=pg.mkPen("#202020", width=2))
        self.position.setZValue(10)
        for item in (self.barriers, self.wells, self.position):
            self.plot.addItem(item)
        self._labels: list[pg.TextItem] = []
        self.info = QLabel()
        self.info.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.plot)
        layout.addWidget(self.info)

        self.well_a.activated.connect(self._on_wells_picked)
        self.well_b.activated.connect(self._on_wells_picked)
        self.draw_button.toggled.connect(self._on_draw_toggled)
        self.clear_button.clicked.connect(self.clear_path)
        document.sigLandscapeChanged.connect(self._on_landscape)
        document.sigEnergyUnitChanged.connect(lambda _unit: self._redraw())
        document.sigConformationChanged.connect(self._show_position)
        self._fill_wells()
        self._recompute()

    # --- public -----------------------------------------------------------------------
    @property
    def is_drawing(self) -> bool:
        return self.draw_button.isChecked()

    def set_wells(self, well_a: int, well_b: int) -> None:
        """Show the minimum-energy path from well ``well_a`` to ``well_b`` (1-based)."""
        self.well_a.setCurrentIndex(well_a - 1)
        self.well_b.setCurrentIndex(well_b - 1)
        self._on_wells_picked()

    def path_shown(self) -> tuple[np.ndarray, np.ndarray]:
        """(points (N, 2), barrier tops (K, 2)) in degrees: the drawn corners or the path found,
        as sigPathChanged sends them."""
        drawn = np.array(self.vertices, float).reshape(-1, 2)
        if self.profile is None:
            return drawn, np.zeros((0, 2))
        tops = self.profile.points_deg[[s.peak_index for s in self.profile.segments]].reshape(-1, 2)
        return (drawn if len(drawn) else self.profile.points_deg), tops

    def add_vertex(self, cc1_deg: float, cc2_deg: float) -> None:
        """Add a corner to the drawn path (ignored unless Draw is checked)."""
        if self.is_drawing:
            self.vertices.append((float(cc1_deg), float(cc2_deg)))
            self._recompute()

    def clear_path(self) -> None:
        self.vertices = []
        self.draw_button.setChecked(False)
        self._recompute()

    # --- events -------------------------------------------------------------------------
    def _on_wells_picked(self, *_):
        self.vertices = []
        self.draw_button.setChecked(False)
        self._recompute()

    def _on_draw_toggled(self, drawing: bool) -> None:
        if drawing:  # a new drawing starts from nothing
            self.vertices = []
            self._recompute()

    def _on_landscape(self, *_):
        if self.doc.is_previewing:  # a path per mouse move would stall the drag; the drop redoes it
            return
        self._fill_wells()
        self._recompute()

    def _fill_wells(self) -> None:
        n = len(self.doc.landscape.wells)
        if self.well_a.count() == n:
            return
        for box, default in ((self.well_a, 0), (self.well_b, 1)):
            keep = box.currentIndex()
            box.clear()
            box.addItems([str(k + 1) for k in range(n)])
            box.setCurrentIndex(keep if 0 <= keep < n else min(default, n - 1))

    def _recompute(self) -> None:
        grid = self.doc.grid
        self.profile, message = None, ""
        try:
            if self.is_drawing or self.vertices:
                if len(self.vertices) >= 2:
                    self.profile = drawn_path_profile(grid, self.vertices)
                else:
                    message = "Click on the map to lay the path's points."
            elif self.well_a.count() >= 2:
                a, b = self.well_a.currentIndex() + 1, self.well_b.currentIndex() + 1
                if a == b:
                    message = "Pick two different wells."
                else:
                    self.profile = well_path_profile(grid, a, b)
            else:
                message = "A path needs two wells."
        except ValueError as error:
            message = str(error)
        self._message = message
        self._redraw()
        self._publish()

    def _publish(self) -> None:
        """Put the path on the document for the other tabs (None without a profile)."""
        prof = self.profile
        path = None
        if prof is not None and len(prof.points_deg) >= 2:
            wells = None if self.vertices else (self.well_a.currentIndex() + 1, self.well_b.currentIndex() + 1)
            path = DesignerPath(prof.points_deg, wells, prof.visits)
        self.doc.set_designer_path(path)

    def _show_position(self, cc1: float, cc2: float) -> None:
        """The white dot on the profile where the conformation lies on the path (else none)."""
        prof = self.profile
        if prof is not None:
            arc, distance = position_on_path(prof.points_deg, (cc1, cc2))
            if distance <= ON_PATH_CELLS * max(self.doc.grid.step_deg):
                g = np.interp(arc, prof.arc_deg, prof.free_energy_kcal_per_mol) * self.doc.energy_scale
                self.position.setData([arc], [g])
                return
        self.position.setData([], [])

    def _redraw(self) -> None:
        for label in self._labels:
            self.plot.removeItem(label)
        self._labels = []
        scale, unit = self.doc.energy_scale, self.doc.energy_unit
        self.plot.setLabel("left", f"G ({unit})")
        prof = self.profile
        if prof is None:
            self.curve.setData([], [])
            self.barriers.setData([], [])
            self.wells.setData([], [])
            self.position.setData([], [])
            self.info.setText(self._message)
            self.sigPathChanged.emit(*self.path_shown())
            return
        g = prof.free_energy_kcal_per_mol * scale
        self.curve.setData(prof.arc_deg, g)
        peaks = [s.peak_index for s in prof.segments]
        self.barriers.setData(prof.arc_deg[peaks], g[peaks])
        lows = list(prof.visit_low_index)
        self.wells.setData(prof.arc_deg[lows], g[lows], brush=[well_colour(w) for w in prof.visits])
        for s in prof.segments:
            self._label(f"{s.height_kcal_per_mol * scale:.2f}", prof.arc_deg[s.peak_index], g[s.peak_index], 1.0)
        for w, k in zip(prof.visits, lows):
            self._label(str(w), prof.arc_deg[k], g[k], 0.0)
        self.info.setText(
            f"Wells visited {' → '.join(map(str, prof.visits))}; barrier "
            f"{prof.barrier_kcal_per_mol * scale:.2f} {unit}; length {prof.length_deg:.1f}°<br>"
            f"path integral ∫G ds = {prof.energy_integral_kcal_deg * scale:.1f} {unit}·° "
            f"(ManifoldEM's); Boltzmann-weighted G of the path "
            f"{prof.boltzmann_free_energy_kcal_per_mol * scale:.2f} {unit}")
        self.sigPathChanged.emit(*self.path_shown())
        self._show_position(*self.doc.conformation)

    def _label(self, text: str, x: float, y: float, anchor_y: float) -> None:
        label = pg.TextItem(text, color="#202020", anchor=(0.5, anchor_y))
        label.setPos(x, y)
        self.plot.addItem(label)
        self._labels.append(label)

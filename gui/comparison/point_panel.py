"""One scatter panel of particles (lineage view, paper Fig. 4): selection tools, a point cloud
coloured by ground-truth well, and the well centres as numbered discs.

Colour codes (index into ``COLOUR_TABLE``): ``CODE_DIMMED`` particles outside a selection,
``CODE_UNSCORED`` particles the settings leave out (transition particles, wells not scored),
``CODE_FIRST_WELL + (well - 1)`` the well's colour from gui.widgets.palette. The first
``N_BACKGROUND`` codes are drawn beneath the wells (gui.comparison.point_cloud tiers).

Example::

    panel = PointPanel()
    panel.set_points(xy, particle_index, well_codes(wells, scored))
    panel.set_centres(centres, wells)
    panel.apply_selection(selection.mask)          # or None: no selection
    panel.particles_in(polygon, "lasso")           # dataset indices inside a drawn region
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont

from gui.comparison.chart_style import style_plot
from gui.widgets.palette import TRANSITION_COLOUR, WELL_COLOURS, well_colour
from gui.comparison.point_cloud import PassiveScatter, PointCloudLayer, robust_bounds
from gui.comparison.selection import SelectableViewBox, points_in_polygon, points_in_rect

CODE_DIMMED, CODE_UNSCORED, CODE_FIRST_WELL = 0, 1, 2
N_BACKGROUND = 2
CONTOUR_PEN = (120, 120, 120, 120)


def _rgba(hex_colour: str, alpha: int) -> list[int]:
    return [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)] + [alpha]


COLOUR_TABLE = np.array([_rgba("#c4c4c4", 70), _rgba(TRANSITION_COLOUR, 120)]
                        + [_rgba(c, 230) for c in WELL_COLOURS], dtype=np.uint8)


def centre_font() -> QFont:
    """Font of the well numbers on the centre discs (made on demand: a QFont needs the app)."""
    font = QFont()
    font.setPointSizeF(8.0)
    font.setBold(True)
    return font


def centre_text_colour(well: int) -> str:
    """Black or white, whichever reads better on the well's colour."""
    r, g, b = (int(well_colour(well)[i:i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 120 else "#ffffff"


def well_codes(wells: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """(M,) uint8 colour codes: the well's colour where scored, grey elsewhere."""
    wells = np.asarray(wells, dtype=np.int64)
    codes = (CODE_FIRST_WELL + (wells - 1) % len(WELL_COLOURS)).astype(np.uint8)
    codes[~np.asarray(scored, bool)] = CODE_UNSCORED
    return codes


class PointPanel:
    """One plot of particles: selection tools, a point cloud, the well centres."""

    def __init__(self, colour_mode: str = "mean"):
        self.view_box = SelectableViewBox()
        self.plot = pg.PlotItem(viewBox=self.view_box)
        style_plot(self.plot)
        self.contours = pg.PlotCurveItem(pen=pg.mkPen(*CONTOUR_PEN, width=1), antialias=False)
        self.contours.setZValue(-20)
        self.plot.addItem(self.contours, ignoreBounds=True)
        self.layer = PointCloudLayer(self.plot, COLOUR_TABLE, n_background=N_BACKGROUND)
        self.layer.colour_mode = colour_mode
        self.centres = PassiveScatter(pxMode=True, size=17, pen=pg.mkPen("k", width=1.6))
        self.centres.setZValue(50)
        self.plot.addItem(self.centres, ignoreBounds=True)
        self._labels: list[pg.TextItem] = []
        self.xy = np.zeros((0, 2), np.float32)
        self.particle_index = np.zeros(0, np.int64)
        self.base_codes = np.zeros(0, np.uint8)
        self.key = None
        self.dirty = False

    def set_points(self, xy, particle_index, base_codes, selection_mask=None, extent=None) -> None:
        """xy (M, 2) display coordinates of dataset particles ``particle_index`` (M,)."""
        self.xy = np.ascontiguousarray(xy, dtype=np.float32)
        self.particle_index = np.asarray(particle_index, dtype=np.int64)
        self.base_codes = base_codes
        if len(self.xy):  # the range first, so that the points are aggregated once, for it
            x0, x1, y0, y1 = extent or robust_bounds(self.xy)
            self.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.04)
        self.layer.set_points(self.xy, self._codes(selection_mask))
        self.dirty = False

    def set_base_codes(self, base_codes, selection_mask=None) -> None:
        if np.array_equal(base_codes, self.base_codes) and not self.dirty:
            return  # same colours (e.g. a method was added): no re-sort, no redraw
        self.base_codes = base_codes
        self.apply_selection(selection_mask)

    def apply_selection(self, selection_mask) -> None:
        """Show the particles of the (N,) mask in colour, the others faded (None: no selection)."""
        self.layer.set_codes(self._codes(selection_mask))
        self.dirty = False

    def _codes(self, selection_mask) -> np.ndarray:
        if selection_mask is None:
            return self.base_codes
        return np.where(selection_mask[self.particle_index], self.base_codes, CODE_DIMMED).astype(np.uint8)

    def selected_codes(self) -> np.ndarray:
        """(M,) colour codes drawn now (for tests: which particles are highlighted)."""
        return self.layer.codes

    def set_centres(self, centres: np.ndarray, wells) -> None:
        for item in self._labels:
            self.plot.removeItem(item)
        self._labels = []
        centres = np.asarray(centres, dtype=float).reshape(-1, 2)
        ok = np.isfinite(centres).all(axis=1)
        wells = np.asarray(wells)[ok]
        centres = centres[ok]
        self.centres.setData(centres[:, 0], centres[:, 1], brush=[pg.mkBrush(well_colour(w)) for w in wells])
        for (x, y), w in zip(centres, wells):
            text = pg.TextItem(str(int(w)), color=centre_text_colour(w), anchor=(0.5, 0.5))
            text.setFont(centre_font())
            text.setZValue(51)
            text.setPos(float(x), float(y))
            self.plot.addItem(text, ignoreBounds=True)
            self._labels.append(text)

    def particles_in(self, polygon: np.ndarray, tool: str) -> np.ndarray:
        """Dataset indices of this panel's particles inside the region the user drew."""
        if tool == "rect":
            (x0, y0), (x1, y1) = polygon.min(axis=0), polygon.max(axis=0)
            inside = points_in_rect(self.xy, x0, x1, y0, y1)
        else:
            inside = points_in_polygon(self.xy, polygon)
        return self.particle_index[inside]

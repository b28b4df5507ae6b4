"""The left column of the Structure tab: where the object is on the landscape.

A small read-only landscape map (click or drag to set the document's conformation, or draw a
path), cc1 / cc2 sliders, a line naming the basin and the energy there, and the motion player.
Everything follows the document's conformation and landscape.

Example::

    panel = ConformationPanel(document, grab_frame=tab.grab_frame)
    document.set_conformation(5.0, -3.0)     # sliders, marker and basin line follow
    panel.draw_path_box.setChecked(True)     # clicks on the map now add path points
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QVBoxLayout

from gui.landscape.landscape_map import LandscapeMapWidget
from gui.structure.motion_player import MotionPlayer
from gui.structure.projection_preview import SliderSpin, wrapped_label


class ConformationPanel(QGroupBox):
    """Map, sliders, basin line and motion player (see the module docstring). ``grab_frame``
    renders one frame of the 3D view (for the player's movie export)."""

    def __init__(self, document, grab_frame, parent=None):
        super().__init__("Conformation", parent)
        self.doc = document
        layout = QVBoxLayout(self)
        self.picker = LandscapeMapWidget(document, editable=False, marginals=False, colorbar=False,
                                         show_sample=False, pick_conformation=True)
        self.picker.setMinimumSize(260, 220)
        self.picker.setMaximumHeight(330)
        self.path_curve = pg.PlotDataItem(pen=pg.mkPen("#ffffff", width=2.5), symbol="o",
                                          symbolSize=7, symbolBrush="#ff2d2d", symbolPen="w")
        self.path_curve.setZValue(30)
        self.picker.map_plot.addItem(self.path_curve)
        self.picker.sigMapClicked.connect(self._on_map_clicked)
        layout.addWidget(self.picker, 1)
        form = QFormLayout()
        self.cc1 = SliderSpin(-20.0, 20.0)
        self.cc2 = SliderSpin(-15.0, 15.0)
        for control in (self.cc1, self.cc2):
            control.valueChanged.connect(self._on_slider)
        form.addRow("cc1", self.cc1)
        form.addRow("cc2", self.cc2)
        layout.addLayout(form)
        self.info_label = wrapped_label(lines=2)
        layout.addWidget(self.info_label)

        motion = QGroupBox("Motion")
        motion_layout = QVBoxLayout(motion)
        self.draw_path_box = QCheckBox("Draw path: clicks on the map add points")
        self.draw_path_box.toggled.connect(self._on_draw_toggled)
        motion_layout.addWidget(self.draw_path_box)
        self.player = MotionPlayer(document, grab_frame=grab_frame)
        self.player.sigPathChanged.connect(self._show_path)
        motion_layout.addWidget(self.player)
        layout.addWidget(motion)
        layout.addStretch(1)
        document.sigConformationChanged.connect(self._on_conformation)
        document.sigLandscapeChanged.connect(self._on_landscape)
        self._on_landscape()
        self._on_conformation(*document.conformation)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._describe_conformation()

    def _on_landscape(self, *_) -> None:
        land = self.doc.landscape
        self.cc1.set_range(*land.cc1_range_deg)
        self.cc2.set_range(*land.cc2_range_deg)
        self._describe_conformation()

    def _on_conformation(self, cc1: float, cc2: float) -> None:
        self.cc1.set_value(cc1)
        self.cc2.set_value(cc2)
        self._describe_conformation()

    def _describe_conformation(self) -> None:
        """Which basin the conformation is in and its energy above the global minimum.
        Skipped while the panel is hidden (showEvent catches up): during a drag in the
        designer it would cost a full-grid basin search per mouse move."""
        if not self.isVisible():
            return
        cc1, cc2 = self.doc.conformation
        grid = self.doc.live_grid
        land = grid.landscape
        # the grid minimum sits on a cell centre, so a point can lie a hair below it
        rise = max(0.0, float(land.energy(cc1, cc2) - grid.energy.min()))
        text = f"ΔE = {rise:.2f} kcal/mol ({rise / land.kT_kcal_per_mol:.1f} kT) above the minimum"
        if land.wells:
            text = f"In the basin of well {int(grid.basins.label[grid.cell_index(cc1, cc2)])} · " + text
        self.info_label.setText(text)

    def _on_slider(self, *_) -> None:
        self.doc.set_conformation(self.cc1.value(), self.cc2.value())

    def _on_draw_toggled(self, drawing: bool) -> None:
        # while drawing, clicks add path points instead of moving the conformation
        self.picker.pick_conformation = not drawing

    def _on_map_clicked(self, cc1: float, cc2: float) -> None:
        if self.draw_path_box.isChecked():
            self.player.add_point(cc1, cc2)

    def _show_path(self, points) -> None:
        points = np.asarray(points, float).reshape(-1, 2)
        self.path_curve.setData(points[:, 0], points[:, 1])

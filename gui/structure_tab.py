"""The "Structure & projections" tab: the two-body object in 3D, its motion over the
landscape, and the image the simulator would make of it.

Left: a small read-only landscape map (click or drag to set the conformation, or draw a
path), cc1 / cc2 sliders and the motion player. Middle: the 3D view (LSU and SSU
isosurfaces, pivot, axes, beam and projection image). Right: the projection preview.
Everything follows the document's conformation; the object itself belongs to this tab
(``sigObjectChanged`` tells others when the user builds or loads a new one).

Example::

    tab = StructureTab(document)                 # builds the built-in object when first shown
    tab.set_object(build_ribosome_like(box_size=64))
    document.set_conformation(5.0, -3.0)         # SSU moves, sliders and map follow
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFileDialog, QFormLayout, QFrame, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QRadioButton, QScrollArea, QSlider,
                               QSplitter, QVBoxLayout, QWidget)

from engine.maps import MapFileError, object_from_map_and_mask, object_from_maps
from engine.object_model import build_ribosome_like
from gui.landscape_map import LandscapeMapWidget
from gui.motion_player import MotionPlayer
from gui.object_view import (AXIS1_COLOUR, AXIS2_COLOUR, BEAM_COLOUR, LSU_COLOUR, PIVOT_COLOUR,
                             SSU_COLOUR, VispyObjectView)
from gui.projection_preview import ProjectionPreview, SliderSpin, wrapped_label

# Box 128 meshes in ~0.2 s and draws in ~25 ms under Mesa's software GL (see the tests'
# timings), so the default object is built at the simulator's default box.
DEFAULT_BOX_SIZE = 128
BUILTIN_BOX_SIZES = (64, 96, 128, 160)
MAP_FILTER = "MRC maps (*.mrc *.map *.mrcs);;All files (*)"
KIND_MAPS, KIND_MASK = "lsu+ssu", "map+mask"


@dataclass(frozen=True)
class MapsRequest:
    """What the Load maps dialog asks for: two files, pivot (x, y, z) in Angstrom from the box
    centre, and the two rotation axes (x, y, z) (any length; normalised by the engine).
    ``kind`` is KIND_MAPS (LSU map, SSU map) or KIND_MASK (full map, SSU mask)."""

    kind: str
    first_path: str
    second_path: str
    pivot_A: tuple[float, float, float] = (0.0, 0.0, 0.0)
    axis1: tuple[float, float, float] = (0.0, 1.0, 0.0)
    axis2: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def __post_init__(self):
        if self.kind not in (KIND_MAPS, KIND_MASK):
            raise ValueError(f"kind: must be {KIND_MAPS!r} or {KIND_MASK!r} (got {self.kind!r})")

    def load(self):
        """The TwoBodyObject (engine.maps); raises MapFileError / ValueError with the reason."""
        build = object_from_maps if self.kind == KIND_MAPS else object_from_map_and_mask
        return build(self.first_path, self.second_path, self.pivot_A, self.axis1, self.axis2)


def _scrolling(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setMinimumWidth(widget.minimumSizeHint().width() + area.verticalScrollBar().sizeHint().width())
    return area


def _colour_hex(rgba) -> str:
    return "#" + "".join(f"{round(255 * c):02x}" for c in rgba[:3])


class LoadMapsDialog(QDialog):
    """Files, pivot and axes for a user object. OK loads it; a file that cannot be used keeps
    the dialog open with the engine's message (which names the file) in red."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Load maps")
        self.loaded_object = None
        layout = QVBoxLayout(self)
        self.maps_radio = QRadioButton("LSU map + SSU map")
        self.mask_radio = QRadioButton("Full map + SSU mask (binary or soft)")
        self.maps_radio.setChecked(True)
        for b in (self.maps_radio, self.mask_radio):
            b.toggled.connect(self._relabel)
            layout.addWidget(b)
        form = QFormLayout()
        self.first_edit, self.second_edit = QLineEdit(), QLineEdit()
        self._first_label, self._second_label = QLabel(), QLabel()
        for label, edit in ((self._first_label, self.first_edit), (self._second_label, self.second_edit)):
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            browse = QPushButton("Browse...")
            browse.clicked.connect(lambda _=False, e=edit, l=label: self._browse(e, l.text()))
            row.addWidget(browse)
            form.addRow(label, row)
        self.pivot = self._vector_row(form, "Pivot (x, y, z) Å", (0.0, 0.0, 0.0), 10000.0)
        self.axis1 = self._vector_row(form, "Axis 1, cc1 (x, y, z)", (0.0, 1.0, 0.0), 1000.0)
        self.axis2 = self._vector_row(form, "Axis 2, cc2 (x, y, z)", (0.0, 0.0, 1.0), 1000.0)
        layout.addLayout(form)
        hint = QLabel("Pivot and axes in the map frame, origin at the box centre (voxel D//2). "
                      "The axes must be orthogonal; cc1 turns the SSU about axis 1 first.")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._relabel()

    @staticmethod
    def _vector_row(form, label, values, limit):
        row, spins = QHBoxLayout(), []
        for v in values:
            spin = QDoubleSpinBox(decimals=3, minimum=-limit, maximum=limit, value=v)
            row.addWidget(spin)
            spins.append(spin)
        form.addRow(label, row)
        return spins

    def _relabel(self, *_):
        maps = self.maps_radio.isChecked()
        self._first_label.setText("LSU map" if maps else "Full map")
        self._second_label.setText("SSU map" if maps else "SSU mask")

    def _browse(self, edit: QLineEdit, what: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Choose the {what}", edit.text(), MAP_FILTER)
        if path:
            edit.setText(path)

    def request(self) -> MapsRequest:
        vec = lambda spins: tuple(s.value() for s in spins)  # noqa: E731
        return MapsRequest(KIND_MAPS if self.maps_radio.isChecked() else KIND_MASK,
                           self.first_edit.text().strip(), self.second_edit.text().strip(),
                           vec(self.pivot), vec(self.axis1), vec(self.axis2))

    def accept(self) -> None:
        try:
            self.loaded_object = self.request().load()
        except (MapFileError, ValueError) as err:
            self.error_label.setText(f"Could not load: {err}")
            return
        super().accept()


class StructureTab(QWidget):
    """See the module docstring. Signals: sigObjectChanged(TwoBodyObject)."""

    sigObjectChanged = Signal(object)

    def __init__(self, document, obj=None, box_size: int = DEFAULT_BOX_SIZE, parent=None):
        super().__init__(parent)
        self.doc = document
        self._obj = None
        self._box_size = box_size
        self._build()
        document.sigConformationChanged.connect(self._on_conformation)
        document.sigLandscapeChanged.connect(self._on_landscape)
        self._on_landscape()
        self._on_conformation(*document.conformation)
        if obj is not None:
            self.set_object(obj)

    # --- public API ---------------------------------------------------------------------
    @property
    def object(self):
        """The current TwoBodyObject (None until the built-in one is built on first show)."""
        return self._obj

    def set_object(self, obj) -> None:
        """Show ``obj`` everywhere in the tab and emit sigObjectChanged."""
        self._obj = obj
        self.view.set_object(obj)
        self.view.set_conformation(*self.doc.conformation)
        self.preview.set_object(obj)
        self._object_label.setText(
            f"<b>{obj.name}</b> · box {obj.box_size} · {obj.apix_A:.2f} Å/px · "
            f"diameter {obj.diameter_A:.0f} Å · pivot ({', '.join(f'{v:.1f}' for v in obj.pivot_A)}) Å")
        self.sigObjectChanged.emit(obj)

    def build_builtin_object(self, box_size: int | None = None) -> None:
        """Build and show the built-in ribosome-like object at ``box_size`` (default: chosen)."""
        box = int(box_size or self.box_combo.currentText())
        self.set_object(build_ribosome_like(box_size=box))

    def open_load_maps_dialog(self) -> LoadMapsDialog:
        """Show the Load maps dialog (non-blocking); an accepted dialog replaces the object."""
        dialog = LoadMapsDialog(self)
        dialog.accepted.connect(lambda: self.set_object(dialog.loaded_object))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def grab_frame(self) -> np.ndarray:
        """The 3D view with the current conformation and projection, (H, W, 3) uint8."""
        self.preview.refresh()
        return self.view.render_image()

    def close_view(self) -> None:
        """Release the GL canvas (call before the tab is destroyed)."""
        self.view.close()

    # --- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        top = QHBoxLayout()
        self._object_label = QLabel("Object: (building the built-in object...)")
        top.addWidget(self._object_label, 1)
        top.addWidget(QLabel("Built-in object, box"))
        self.box_combo = QComboBox()
        self.box_combo.addItems([str(b) for b in BUILTIN_BOX_SIZES])
        self.box_combo.setCurrentText(str(self._box_size))
        self.box_combo.setToolTip("Box size (pixels) of the built-in ribosome-like object")
        top.addWidget(self.box_combo)
        self.builtin_button = QPushButton("Build")
        self.builtin_button.clicked.connect(lambda: self.build_builtin_object())
        top.addWidget(self.builtin_button)
        self.load_button = QPushButton("Load maps...")
        self.load_button.clicked.connect(self.open_load_maps_dialog)
        top.addWidget(self.load_button)
        outer.addLayout(top)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        # side columns scroll, so the tab (and the window) can be made small
        splitter.addWidget(_scrolling(self._build_left()))
        splitter.addWidget(self._build_middle())
        splitter.addWidget(_scrolling(self._build_right()))
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 0)
        splitter.setSizes([330, 700, 370])
        outer.addWidget(splitter, 1)

    def _build_left(self) -> QWidget:
        box = QGroupBox("Conformation")
        layout = QVBoxLayout(box)
        self.picker = LandscapeMapWidget(self.doc, editable=False, marginals=False, colorbar=False,
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
        self.player = MotionPlayer(self.doc, grab_frame=self.grab_frame)
        self.player.sigPathChanged.connect(self._show_path)
        motion_layout.addWidget(self.player)
        layout.addWidget(motion)
        layout.addStretch(1)
        return box

    def _build_middle(self) -> QWidget:
        box = QGroupBox("3D view: drag to orbit, scroll to zoom")
        layout = QVBoxLayout(box)
        self.view = VispyObjectView()
        self.view.native.setMinimumSize(300, 300)
        layout.addWidget(self.view.native, 1)
        legend = QLabel(" &nbsp; ".join(
            f"<span style='color:{_colour_hex(c)}; font-size:15px'>■</span> {name}"
            for c, name in ((LSU_COLOUR, "LSU"), (SSU_COLOUR, "SSU (moves)"),
                            (PIVOT_COLOUR, "pivot"), (AXIS1_COLOUR, "axis 1 (cc1)"),
                            (AXIS2_COLOUR, "axis 2 (cc2)"),
                            (BEAM_COLOUR, "beam and projection image"))))
        legend.setTextFormat(Qt.TextFormat.RichText)
        legend.setWordWrap(True)
        layout.addWidget(legend)
        row = QHBoxLayout()
        row.addWidget(QLabel("Threshold"))
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(2, 90)
        self.threshold_slider.setValue(round(100 * self.view.threshold))
        self.threshold_slider.setToolTip("Isosurface level, % of the maximum density")
        self._threshold_label = QLabel()
        self._threshold_timer = QTimer(self, singleShot=True, interval=120)
        self._threshold_timer.timeout.connect(self._apply_threshold)
        self.threshold_slider.valueChanged.connect(self._on_threshold_moved)
        self._on_threshold_moved(self.threshold_slider.value())
        row.addWidget(self.threshold_slider, 1)
        row.addWidget(self._threshold_label)
        self.show_projection_box = QCheckBox("Projection")
        self.show_projection_box.setChecked(True)
        self.show_projection_box.toggled.connect(self.view.set_projection_visible)
        row.addWidget(self.show_projection_box)
        self.beam_button = QPushButton("Look along beam")
        self.beam_button.setToolTip("Turn the camera so the 3D view matches the projection image")
        self.beam_button.clicked.connect(self.view.look_along_beam)
        row.addWidget(self.beam_button)
        layout.addLayout(row)
        return box

    def _build_right(self) -> QWidget:
        box = QGroupBox("Projection preview")
        layout = QVBoxLayout(box)
        self.preview = ProjectionPreview(self.doc)
        self.preview.sigProjectionChanged.connect(self.view.set_projection)
        layout.addWidget(self.preview)
        return box

    # --- reactions ----------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._obj is None:
            QTimer.singleShot(0, lambda: self._obj is None and self.build_builtin_object())

    def _on_landscape(self, *_) -> None:
        land = self.doc.landscape
        self.cc1.set_range(*land.cc1_range_deg)
        self.cc2.set_range(*land.cc2_range_deg)
        self._describe_conformation()

    def _on_conformation(self, cc1: float, cc2: float) -> None:
        self.cc1.set_value(cc1)
        self.cc2.set_value(cc2)
        self.view.set_conformation(cc1, cc2)
        self._describe_conformation()

    def _describe_conformation(self) -> None:
        """Which basin the conformation is in and its energy above the global minimum."""
        cc1, cc2 = self.doc.conformation
        grid = self.doc.grid
        land = grid.landscape
        lo1, _, lo2, _ = grid.extent_deg
        step1, step2 = grid.step_deg
        i1 = int(np.clip((cc1 - lo1) // step1, 0, len(grid.cc1) - 1))   # the cell holding cc
        i2 = int(np.clip((cc2 - lo2) // step2, 0, len(grid.cc2) - 1))
        # the grid minimum sits on a cell centre, so a point can lie a hair below it
        rise = max(0.0, float(land.energy(cc1, cc2) - grid.energy.min()))
        text = f"ΔE = {rise:.2f} kcal/mol ({rise / land.kT_kcal_per_mol:.1f} kT) above the minimum"
        if land.wells:
            text = f"In the basin of well {int(grid.basins.label[i2, i1])} · " + text
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

    def _on_threshold_moved(self, value: int) -> None:
        self._threshold_label.setText(f"{value} %")
        self._threshold_timer.start()

    def _apply_threshold(self) -> None:
        self.view.set_threshold(self.threshold_slider.value() / 100.0)

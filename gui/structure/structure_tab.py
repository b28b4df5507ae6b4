"""The "Structure & projections" tab: the two-body object in 3D, its motion over the
landscape, and the image the simulator would make of it.

Left: a small read-only landscape map (click or drag to set the conformation, or draw a
path), cc1 / cc2 sliders and the motion player. Middle: the 3D view (LSU and SSU
isosurfaces, pivot, axes, beam and projection image). Right: the projection preview.
Everything follows the document's conformation; the object itself belongs to this tab
(``sigObjectChanged`` tells others when the user builds or loads a new one).

New objects are prepared off the GUI thread, through the tab's job runner (gui.widgets.jobs):
building or reading the maps, the projector's padded 3D FFTs and the isosurfaces
(:func:`prepare_object`). Meanwhile a busy bar and a status line say what is happening and
the old object stays on screen and usable; errors name the file. Maps larger than
MAX_PREVIEW_BOX (gui.structure.load_maps_dialog) are Fourier-cropped to it for the preview and the 3D
view (``max_preview_box``; the status line says so and gives the cropped pixel size); simulations read the maps
the plan names, unchanged.

Example::

    tab = StructureTab(document)                 # builds the built-in object when first shown
    tab.set_object(build_ribosome_like(box_size=64))   # prepared in the job runner; shown,
                                                 # and sigObjectChanged emitted, when ready
    document.set_conformation(5.0, -3.0)         # SSU moves, sliders and map follow
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QFrame, QGroupBox, QHBoxLayout,
                               QLabel, QProgressBar, QPushButton, QScrollArea, QSlider, QSplitter,
                               QVBoxLayout, QWidget)

from engine.structure.maps import MapFileError, map_frame
from engine.structure.object_model import TwoBodyObject, build_ribosome_like
from engine.imaging.projector import TwoBodyProjector
from gui.widgets.jobs import JobRunner
from gui.landscape.landscape_map import LandscapeMapWidget
from gui.structure.load_maps_dialog import (ERROR_COLOUR, MAX_PREVIEW_BOX, WARNING_COLOUR, LoadMapsDialog,
                                  MapsRequest, cropped_note)
from gui.structure.motion_player import MotionPlayer
from gui.structure.object_view import (AXIS1_COLOUR, AXIS2_COLOUR, BEAM_COLOUR, LSU_COLOUR, PIVOT_COLOUR,
                             SSU_COLOUR, ObjectSurfaces, VispyObjectView, object_surfaces)
from gui.structure.projection_preview import ProjectionPreview, SliderSpin, wrapped_label

# Box 128 meshes in ~0.2 s and draws in ~25 ms under Mesa's software GL (see the tests'
# timings), so the default object is built at the simulator's default box.
DEFAULT_BOX_SIZE = 128
BUILTIN_BOX_SIZES = (64, 96, 128, 160)


@dataclass(frozen=True, eq=False)
class PreparedObject:
    """What a preparation job hands to the GUI thread: the object to show, its projector and
    isosurfaces, and a note for the user ("" or why the maps were cropped)."""

    obj: TwoBodyObject
    projector: TwoBodyProjector
    surfaces: ObjectSurfaces
    note: str = ""


def prepare_object(make: Callable[[], TwoBodyObject], what: str, threshold: float, note: str = "",
                   *, progress, should_stop, log) -> PreparedObject | None:
    """Job (gui.widgets.jobs): ``make()`` the object (build it or read the maps), measure it, build
    its projector and mesh it at ``threshold``. progress((step, steps, text)); returns None
    when stopped between steps."""
    steps = ((what, make),
             ("measuring the object", lambda o: (o.mask_diameter_A, o.extent_A)),
             ("preparing the projector (padded 3D FFTs)", TwoBodyProjector),
             ("meshing the isosurfaces", lambda o: object_surfaces(o, threshold)))
    results = []
    for k, (text, step) in enumerate(steps):
        if should_stop():
            return None
        progress((k, len(steps), text))
        results.append(step() if k == 0 else step(results[0]))
    if note:
        log(note)
    return PreparedObject(results[0], results[2], results[3], note)


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


class StructureTab(QWidget):
    """See the module docstring. Signals: sigObjectChanged(TwoBodyObject) once a new object
    is on screen. ``loader`` is the tab's job runner."""

    sigObjectChanged = Signal(object)

    def __init__(self, document, obj=None, box_size: int = DEFAULT_BOX_SIZE, parent=None):
        super().__init__(parent)
        self.doc = document
        self._obj = None
        self._box_size = box_size
        self._waiting_dialog: LoadMapsDialog | None = None
        # The MapsRequest behind the object on screen (None for the built-in object), so that
        # other tabs (the simulation plan) can name the files; set when the object is shown.
        self.maps_request: MapsRequest | None = None
        self._pending_request: MapsRequest | None = None
        self.max_preview_box = MAX_PREVIEW_BOX   # larger maps are cropped to this for display
        self.loader = JobRunner(self)
        self._build()
        self.loader.sigStarted.connect(self._on_job_started)
        self.loader.sigProgress.connect(self._on_job_progress)
        self.loader.sigFinished.connect(self._on_job_finished)
        self.loader.sigErrored.connect(self._on_job_errored)
        self.loader.sigCancelled.connect(self._on_job_cancelled)
        self.loader.sigRunningChanged.connect(self._on_running_changed)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        document.sigConformationChanged.connect(self._on_conformation)
        document.sigLandscapeChanged.connect(self._on_landscape)
        self._on_landscape()
        self._on_conformation(*document.conformation)
        if obj is not None:
            self.set_object(obj)

    # --- public API ---------------------------------------------------------------------
    @property
    def object(self):
        """The TwoBodyObject on screen (None until the first one is ready). While a new one is
        prepared this is still the old one. Maps larger than max_preview_box appear cropped."""
        return self._obj

    def set_object(self, obj) -> None:
        """Show ``obj``: its projector and meshes are prepared in the job runner, then it
        replaces the current object and sigObjectChanged is emitted."""
        self._pending_request = None
        self._start(lambda: obj, f"preparing {obj.name}")

    def build_builtin_object(self, box_size: int | None = None) -> None:
        """Build the built-in ribosome-like object at ``box_size`` (default: chosen) in the
        job runner and show it when ready."""
        box = int(box_size or self.box_combo.currentText())
        self._pending_request = None
        self._start(lambda: build_ribosome_like(box_size=box), f"building the built-in object (box {box})")

    def load_maps(self, request: MapsRequest) -> None:
        """Read user maps in the job runner (Fourier-cropped to ``max_preview_box`` for
        display; the status line then says so)."""
        note = ""
        try:
            frame = map_frame(request.first_path)   # header only: cheap
            note = cropped_note(frame.box_size, frame.apix_A, self.max_preview_box)
        except MapFileError:
            pass  # the job reads the file again and reports the problem
        self._pending_request = request
        self._start(partial(request.load, max_box=self.max_preview_box),
                    f"reading {Path(request.first_path).name} and {Path(request.second_path).name}",
                    note)

    def open_load_maps_dialog(self) -> LoadMapsDialog:
        """Show the Load maps dialog (non-blocking); loaded maps replace the object."""
        dialog = LoadMapsDialog(self, max_box=self.max_preview_box)
        dialog.sigLoadRequested.connect(lambda request: self._load_from_dialog(dialog, request))
        dialog.rejected.connect(lambda: self._dialog_closed(dialog))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def show_prepared(self, prepared: PreparedObject) -> None:
        """Put a prepared object on screen (GUI thread; fast: no FFTs, no meshing)."""
        obj = prepared.obj
        self._obj = obj
        self.maps_request = self._pending_request
        self.view.set_object(obj, prepared.surfaces)
        self.view.set_conformation(*self.doc.conformation)
        self.preview.set_object(obj, prepared.projector)
        self._object_label.setText(
            f"<b>{obj.name}</b> · box {obj.box_size} · {obj.apix_A:.2f} Å/px · "
            f"SNR mask diameter {obj.mask_diameter_A:.0f} Å; object extent "
            f"~{obj.extent_A:.0f} Å · pivot ({', '.join(f'{v:.1f}' for v in obj.pivot_A)}) Å")
        self._object_label.setToolTip(
            "SNR mask diameter: the circle, centred on the box, that holds every voxel above "
            "5 % of the maximum density; the SNR of the images is measured inside it.\n"
            "Object extent: the largest distance across that density (maximum Feret diameter).")
        self._show_status(prepared.note, WARNING_COLOUR)
        self.sigObjectChanged.emit(obj)

    def grab_frame(self) -> np.ndarray:
        """The 3D view with the current conformation and projection, (H, W, 3) uint8."""
        self.preview.refresh()
        return self.view.render_image()

    def shutdown(self) -> None:
        """Cancel a preparation in progress and wait for its thread."""
        self.loader.shutdown()

    def close_view(self) -> None:
        """Stop the job runner and release the GL canvas (call before the tab is destroyed)."""
        self.shutdown()
        self.view.close()

    # --- background preparation ---------------------------------------------------------
    def _start(self, make, what: str, note: str = "") -> None:
        dialog, self._waiting_dialog = self._waiting_dialog, None
        if dialog is not None:   # starting a job cancels the one the dialog waits for
            dialog.show_error(f"cancelled: {what} instead.")
        self.loader.start(prepare_object, make, what, self.view.threshold, note, name=what)

    def _load_from_dialog(self, dialog: LoadMapsDialog, request: MapsRequest) -> None:
        self.load_maps(request)
        self._waiting_dialog = dialog

    def _dialog_closed(self, dialog: LoadMapsDialog) -> None:
        if self._waiting_dialog is dialog:
            self._waiting_dialog = None
            self.loader.cancel()

    def _show_status(self, text: str, colour: str | None = None) -> None:
        self.status_label.setStyleSheet(f"color: {colour};" if colour and text else "")
        self.status_label.setText(text)
        self.status_label.setVisible(bool(text))

    def _on_job_started(self, what: str) -> None:
        self._show_status(what[:1].upper() + what[1:] + "...")

    def _on_job_progress(self, value) -> None:
        step, steps, text = value
        self._show_status(f"Step {step + 1} of {steps}: {text}... (the current object stays usable)")

    def _on_job_finished(self, prepared) -> None:
        dialog, self._waiting_dialog = self._waiting_dialog, None
        if prepared is None:
            return
        self.show_prepared(prepared)
        if dialog is not None:
            dialog.finish(prepared.obj)

    def _on_job_errored(self, message: str) -> None:
        dialog, self._waiting_dialog = self._waiting_dialog, None
        self._show_status(f"Could not load: {message}", ERROR_COLOUR)
        if dialog is not None:
            dialog.show_error(message)

    def _on_job_cancelled(self, _result) -> None:
        self._show_status("")

    def _on_running_changed(self, running: bool) -> None:
        self.busy_bar.setVisible(running)
        if running:
            self.setCursor(Qt.CursorShape.BusyCursor)
        else:
            self.unsetCursor()

    # --- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        top = QHBoxLayout()
        self._object_label = QLabel("Object: (building the built-in object...)")
        self._object_label.setWordWrap(True)
        top.addWidget(self._object_label, 1)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)          # busy: the steps are long single calls
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setVisible(False)
        top.addWidget(self.busy_bar)
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
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setVisible(False)
        outer.addWidget(self.status_label)

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
        self._describe_conformation()
        if self._obj is None and not self.loader.is_running():
            QTimer.singleShot(0, self._build_first_object)

    def _build_first_object(self) -> None:
        if self._obj is None and not self.loader.is_running():
            self.build_builtin_object()

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
        """Which basin the conformation is in and its energy above the global minimum.
        Skipped while the tab is hidden (showEvent catches up): during a drag in the designer
        it would cost a full-grid basin search per mouse move."""
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

    def _on_threshold_moved(self, value: int) -> None:
        self._threshold_label.setText(f"{value} %")
        self._threshold_timer.start()

    def _apply_threshold(self) -> None:
        self.view.set_threshold(self.threshold_slider.value() / 100.0)

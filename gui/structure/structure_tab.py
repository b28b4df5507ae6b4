"""The "Structure & projections" tab: the two-body object in 3D, its motion over the
landscape, and the image the simulator would make of it.

Left: the conformation panel (gui.structure.conformation_panel: a small landscape map, cc1 /
cc2 sliders, the motion player). Middle: the 3D view (LSU and SSU isosurfaces, pivot, axes,
beam and projection image). Right: the projection preview. Everything follows the document's
conformation, and the tab shows the document's current object
(``document.current_object``, gui.model.object_state): when the user builds the built-in
object or loads maps here, the tab prepares it and, once it is on screen, makes it the
document's object (one undo step); when the object changes in the document (undo, redo, a
simulation plan), the tab prepares and shows that one.

New objects are prepared off the GUI thread, through the tab's job runner (gui.widgets.jobs;
gui.structure.object_preparation): building or reading the maps, the projector's padded 3D
FFTs and the isosurfaces. Meanwhile a busy bar and a status line say what is happening and the
old object stays on screen and usable; errors name the file. Maps larger than MAX_PREVIEW_BOX
(gui.model.object_state) are Fourier-cropped to it for the preview and the 3D view
(``max_preview_box``; the status line says so and gives the cropped pixel size); simulations
read the maps the plan names, unchanged.

Example::

    tab = StructureTab(document)                 # builds the document's object when first shown
    tab.build_builtin_object(box_size=64)        # prepared in the job runner; shown, then the
                                                 # document's object (sigObjectChanged on both)
    document.undo_stack.undo()                   # the tab shows the object from before
    document.set_conformation(5.0, -3.0)         # SSU moves, sliders and map follow
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFrame, QGroupBox, QHBoxLayout, QLabel,
                               QProgressBar, QPushButton, QScrollArea, QSlider, QSplitter,
                               QVBoxLayout, QWidget)

from engine.structure.maps import MapFileError, map_frame
from engine.structure.object_model import build_ribosome_like
from gui.model.object_state import CurrentObject
from gui.widgets.jobs import JobRunner
from gui.structure.conformation_panel import ConformationPanel
from gui.structure.load_maps_dialog import (ERROR_COLOUR, MAX_PREVIEW_BOX, WARNING_COLOUR, LoadMapsDialog,
                                            MapsRequest, cropped_note)
from gui.structure.object_preparation import PreparedObject, prepare_object
from gui.structure.object_view import (AXIS1_COLOUR, AXIS2_COLOUR, BEAM_COLOUR, LSU_COLOUR, PIVOT_COLOUR,
                                       SSU_COLOUR, VispyObjectView)
from gui.structure.projection_preview import ProjectionPreview

# Box 128 meshes in ~0.2 s and draws in ~25 ms under Mesa's software GL (see the tests'
# timings), so the default object is built at the simulator's default box.
DEFAULT_BOX_SIZE = 128
BUILTIN_BOX_SIZES = (64, 96, 128, 160)


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
    is on screen. ``loader`` is the tab's job runner. The left column's widgets are also
    attributes of the tab (``picker``, ``cc1``, ``cc2``, ``info_label``, ``draw_path_box``,
    ``path_curve``, ``player``)."""

    sigObjectChanged = Signal(object)

    def __init__(self, document, obj=None, box_size: int = DEFAULT_BOX_SIZE, parent=None):
        super().__init__(parent)
        self.doc = document
        self._obj = None
        self._on_screen: CurrentObject | None = None   # the document object the 3D view shows
        self._describe = None       # prepared obj -> the CurrentObject it is, for the job in flight
        self._box_size = box_size
        self._waiting_dialog: LoadMapsDialog | None = None
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
        document.sigConformationChanged.connect(self.view.set_conformation)
        document.sigObjectChanged.connect(self._on_document_object)
        self.view.set_conformation(*document.conformation)
        if obj is not None:
            self.set_object(obj)

    # --- public API ---------------------------------------------------------------------
    @property
    def object(self):
        """The TwoBodyObject on screen (None until the first one is ready). While a new one is
        prepared this is still the old one. Maps larger than max_preview_box appear cropped."""
        return self._obj

    def set_object(self, obj) -> None:
        """Show ``obj`` (a TwoBodyObject in memory): its projector and meshes are prepared in
        the job runner, then it replaces the current object (in the document too) and
        sigObjectChanged is emitted."""
        self._prepare(CurrentObject.given(obj))

    def build_builtin_object(self, box_size: int | None = None) -> None:
        """Build the built-in ribosome-like object at ``box_size`` (default: chosen) in the
        job runner and show it when ready (the document's seed when its object is the
        built-in one, else seed 0)."""
        current = self.doc.current_object
        self._prepare(current if current.is_builtin else CurrentObject.builtin(), box_size)

    def load_maps(self, request: MapsRequest) -> None:
        """Read user maps in the job runner (Fourier-cropped to ``max_preview_box`` for
        display; the status line then says so); once they are on screen they are the
        document's object, with the pivot and axes they were loaded with."""
        # the request says what to read; the document's object also takes the pivot (box
        # centred) and the axes from the maps once they are read
        self._prepare(CurrentObject(maps=request), describe=partial(CurrentObject.from_loaded_maps, request))

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
    def _prepare(self, current: CurrentObject, box_size: int | None = None, describe=None) -> None:
        """Prepare ``current`` in the job runner (a built-in object at ``box_size``, default:
        chosen); once it is on screen the document's object becomes ``describe(obj)``
        (default: ``current``)."""
        note = ""
        if current.obj is not None:
            obj = current.obj
            make, what = (lambda: obj), f"preparing {obj.name}"
        elif current.maps is not None:
            request = current.maps
            try:
                frame = map_frame(request.first_path)   # header only: cheap
                note = cropped_note(frame.box_size, frame.apix_A, self.max_preview_box)
            except MapFileError:
                pass  # the job reads the file again and reports the problem
            make = partial(request.load, max_box=self.max_preview_box)
            what = f"reading {Path(request.first_path).name} and {Path(request.second_path).name}"
        else:
            box, seed = int(box_size or self.box_combo.currentText()), current.seed
            make = partial(build_ribosome_like, box_size=box, seed=seed)
            what = f"building the built-in object (box {box}{f', seed {seed}' if seed else ''})"
        dialog, self._waiting_dialog = self._waiting_dialog, None
        if dialog is not None:   # starting a job cancels the one the dialog waits for
            dialog.show_error(f"cancelled: {what} instead.")
        self._describe = describe or (lambda _obj: current)
        self.loader.start(prepare_object, make, what, self.view.threshold, note, name=what)

    def _on_document_object(self, current: CurrentObject) -> None:
        if current == self._on_screen:
            self.loader.cancel()   # whatever is being prepared is no longer the document's object
        elif self._obj is not None or self.isVisible():
            self._prepare(current)
        # else: nothing shown yet; showEvent prepares the document's object

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
        # on screen first, so that the document's signal finds this object already shown
        self._on_screen = self._describe(prepared.obj)
        self.show_prepared(prepared)
        self.doc.set_current_object(self._on_screen)
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
        self.conformation = ConformationPanel(self.doc, grab_frame=self.grab_frame)
        panel = self.conformation
        self.picker, self.path_curve, self.cc1, self.cc2 = panel.picker, panel.path_curve, panel.cc1, panel.cc2
        self.info_label, self.draw_path_box, self.player = panel.info_label, panel.draw_path_box, panel.player
        return panel

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
        self.preview.set_plan(self.doc.simulation_plan)
        self.doc.sigSimulationPlanChanged.connect(self.preview.set_plan)
        layout.addWidget(self.preview)
        return box

    # --- reactions ----------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._obj is None and not self.loader.is_running():
            QTimer.singleShot(0, self._build_first_object)

    def _build_first_object(self) -> None:
        if self._obj is None and not self.loader.is_running():
            self._prepare(self.doc.current_object)

    def _on_threshold_moved(self, value: int) -> None:
        self._threshold_label.setText(f"{value} %")
        self._threshold_timer.start()

    def _apply_threshold(self) -> None:
        self.view.set_threshold(self.threshold_slider.value() / 100.0)

"""The Load maps dialog of the Structure tab: which user maps, the pivot and the frame it is
given in, and the rotation axes.

:class:`MapsRequest` (gui.model.object_state, re-exported here) holds the answer and loads it
with engine.structure.maps (cropped to MAX_PREVIEW_BOX for display). The dialog never reads
the maps itself, apart from the first map's header (to show its size, where its box centre is
in its own frame, and whether it will be cropped): OK emits ``sigLoadRequested`` and the Structure tab loads the maps in its job
runner, then calls ``finish`` or ``show_error`` (a message box with the engine's message, which
names the file).

Example::

    dialog = LoadMapsDialog(parent)
    dialog.sigLoadRequested.connect(lambda request: runner.start(job, request.load))
    dialog.open()
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (QButtonGroup, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton,
                               QRadioButton, QVBoxLayout)

from engine.structure.maps import PIVOT_FRAME_BOX, PIVOT_FRAME_MAP, MapFileError, map_frame
from gui.model.object_state import KIND_MAPS, KIND_MASK, MAX_PREVIEW_BOX, MapsRequest

__all__ = ["LoadMapsDialog", "MapsRequest", "KIND_MAPS", "KIND_MASK", "MAX_PREVIEW_BOX", "MAP_FILTER",
           "ERROR_COLOUR", "WARNING_COLOUR", "cropped_note"]

MAP_FILTER = "MRC maps (*.mrc *.map *.mrcs);;All files (*)"
ERROR_COLOUR, WARNING_COLOUR = "#b00020", "#a15c00"


def cropped_note(box_size: int, apix_A: float, max_box: int = MAX_PREVIEW_BOX) -> str:
    """What the user is told about a map of ``box_size`` px shown at most ``max_box`` px
    ("" when it is not cropped)."""
    if box_size <= max_box:
        return ""
    return (f"Maps of {box_size} px are Fourier-cropped to {max_box} px for the preview and "
            f"3D view ({apix_A * box_size / max_box:.3f} Å/px instead of {apix_A:.3f}); "
            f"simulations use the maps the plan names, at full size.")


class LoadMapsDialog(QDialog):
    """Files, pivot (and the frame it is given in) and axes for a user object.

    OK emits ``sigLoadRequested(MapsRequest)``; the Structure tab loads the maps in its job
    runner and calls :meth:`finish` with the object (the dialog closes) or :meth:`show_error`
    with the engine's message, which names the file (the dialog stays open). Cancel while
    loading cancels the job."""

    sigLoadRequested = Signal(object)

    def __init__(self, parent=None, max_box: int = MAX_PREVIEW_BOX):
        super().__init__(parent)
        self.setWindowTitle("Load maps")
        self.max_box = max_box   # for the note on cropping (the loader does the cropping)
        self.loaded_object = None
        self.loading = False
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
        self.pivot = self._vector_row(form, "Pivot (x, y, z) Å", (0.0, 0.0, 0.0), 100000.0)
        frame_row = QHBoxLayout()
        self.box_frame_radio = QRadioButton("box-centred frame (RELION)")
        self.map_frame_radio = QRadioButton("map's own frame (ChimeraX: uses the header origin "
                                            "and voxel size)")
        self.box_frame_radio.setChecked(True)
        self._frame_group = QButtonGroup(self)
        for b in (self.box_frame_radio, self.map_frame_radio):
            self._frame_group.addButton(b)
            frame_row.addWidget(b)
        form.addRow("Pivot given in", frame_row)
        self.axis1 = self._vector_row(form, "Axis 1, cc1 (x, y, z)", (0.0, 1.0, 0.0), 1000.0)
        self.axis2 = self._vector_row(form, "Axis 2, cc2 (x, y, z)", (0.0, 0.0, 1.0), 1000.0)
        layout.addLayout(form)
        hint = QLabel("Box-centred: 0 is the box centre (voxel D//2), as RELION's origins. Map's "
                      "own frame: coordinates as ChimeraX shows them for this map. Axes are "
                      "directions (the same in both frames), must be orthogonal; cc1 turns the "
                      "SSU about axis 1 first.")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.frame_label = QLabel()   # what the first map's header says: size, origin, cropping
        self.frame_label.setWordWrap(True)
        layout.addWidget(self.frame_label)
        self._frame_timer = QTimer(self, singleShot=True, interval=250)
        self._frame_timer.timeout.connect(self._describe_first_map)
        self.first_edit.textChanged.connect(self._frame_timer.start)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
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

    def _describe_first_map(self) -> None:
        """Header facts of the first map (cheap: header only): size, where the box centre is
        in the map's own frame, and whether the preview will crop it."""
        path = self.first_edit.text().strip()
        if not path or not Path(path).exists() or Path(path).is_dir():  # a FIFO or device: map_frame says so
            self.frame_label.setText("")
            return
        try:
            frame = map_frame(path)
        except MapFileError as err:
            self.frame_label.setText(str(err))
            return
        text = (f"{Path(path).name}: {frame.box_size} px at {frame.apix_A:.3f} Å/px; its box "
                f"centre is at ({', '.join(f'{v:.1f}' for v in frame.box_centre_A)}) Å in the "
                f"map's own frame.")
        note = cropped_note(frame.box_size, frame.apix_A, self.max_box)
        if note:
            text += f" <span style='color:{WARNING_COLOUR}'>{note}</span>"
        self.frame_label.setText(text)

    def request(self) -> MapsRequest:
        vec = lambda spins: tuple(s.value() for s in spins)  # noqa: E731
        return MapsRequest(KIND_MAPS if self.maps_radio.isChecked() else KIND_MASK,
                           self.first_edit.text().strip(), self.second_edit.text().strip(),
                           vec(self.pivot), vec(self.axis1), vec(self.axis2),
                           PIVOT_FRAME_MAP if self.map_frame_radio.isChecked() else PIVOT_FRAME_BOX)

    def accept(self) -> None:
        """Ask for the maps to be loaded (the dialog stays open until they are)."""
        self.loading = True
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        self.error_label.setStyleSheet("")
        self.error_label.setText(f"Loading {Path(self.first_edit.text().strip()).name}...")
        self.sigLoadRequested.emit(self.request())

    def finish(self, obj) -> None:
        """The maps are loaded: keep the object and close."""
        self.loading = False
        self.loaded_object = obj
        super().accept()

    def show_error(self, message: str) -> None:
        """Loading failed: say why in a message box (the engine's words, as the command line
        prints them), keep it in red under the fields, and let the user correct them."""
        self.loading = False
        message = message.removeprefix(f"{MapFileError.__name__}: ")  # the job's class prefix: noise here
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
        self.error_label.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.error_label.setText(f"Could not load: {message}")
        QMessageBox.warning(self, "Cannot load maps", message)

"""Play a motion of the SSU: walk the document's conformation along a path on the landscape.

The path is one of four sources (``source()``): the polyline the user clicked on the
landscape map; the minimum-energy path between two chosen wells (engine.landscape.paths: over
the lowest saddle, along the valley floor; not the straight line, which climbs over the
barrier); the Landscape tab's path (the document's ``designer_path``, followed as the designer
changes it); or a path handed over by another view with ``play_path`` (the lineage view's
method path, in true (cc1, cc2) degrees, named by its label). Playback moves at a
constant speed in degrees (arc length in the (cc1, cc2) plane) per second at 25 frames per
second; every view listening to the document (3D view, projection preview, maps) follows.
"Export frames..." writes one PNG per frame (same spacing as playback: speed / 25 degrees)
from a frame-grabbing callable, so the files show exactly what the screen shows.

Exporting never mixes two animations: a folder that already holds frame_*.png files is
refused (FileExistsError) unless ``overwrite=True``, which first removes those old frames
(and only those); the GUI asks the user before overwriting.

Example::

    player = MotionPlayer(document, grab_frame=lambda: view.render_image())
    player.set_path([(-10, -5), (0, 5), (10, -5)])
    player.play()                                  # timer-driven
    player.play_designer_path()                    # along doc.designer_path
    player.play_path(points_deg, "cryoDRGN: wells 1 → 2")
    files = player.export_frames("/tmp/frames")    # ['/tmp/frames/frame_0000.png', ...]
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (QApplication, QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox,
                               QFileDialog, QGridLayout, QHBoxLayout, QLabel, QMessageBox,
                               QProgressDialog, QPushButton, QRadioButton, QWidget)

from engine.landscape.paths import grid_minimum_energy_path

FRAMES_PER_SECOND = 25
SOURCE_PATH, SOURCE_WELLS, SOURCE_DESIGNER, SOURCE_GIVEN = "path", "wells", "designer", "given"
FRAME_PATTERN = "frame_*.png"


def resample_polyline(points: np.ndarray, step: float) -> np.ndarray:
    """Points every ``step`` along a polyline (N, 2), both ends included: (M, 2).

    Spacing is arc length in the plane's own units (degrees here); the last interval may be
    shorter. Fewer than two distinct points give the points as they are.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(points) < 2:
        return points.copy()
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    if arc[-1] == 0.0:
        return points[:1].copy()
    s = np.append(np.arange(0.0, arc[-1], step), arc[-1])
    if len(s) > 1 and arc[-1] - s[-2] < 1e-9 * max(step, 1.0):
        s = np.delete(s, -2)
    return np.stack([np.interp(s, arc, points[:, 0]), np.interp(s, arc, points[:, 1])], axis=1)


def existing_frames(folder) -> list[Path]:
    """The frame_*.png files in ``folder`` (sorted; empty when the folder does not exist)."""
    folder = Path(folder)
    return sorted(folder.glob(FRAME_PATTERN)) if folder.is_dir() else []


class MotionPlayer(QWidget):
    """Controls to play and export a motion; see the module docstring.

    Signals:
        sigPathChanged(object): the path (N, 2) in degrees shown on the map (may be empty).
        sigPlayingChanged(bool)
    """

    sigPathChanged = Signal(object)
    sigPlayingChanged = Signal(bool)

    def __init__(self, document, grab_frame: Callable[[], np.ndarray] | None = None, parent=None):
        super().__init__(parent)
        self._doc = document
        self._grab_frame = grab_frame
        self._drawn = np.zeros((0, 2))
        self._given = np.zeros((0, 2))        # the path play_path handed over
        self._well_path = (None, None, np.zeros((0, 2)))   # (grid, (i, j), path): a cache
        self._frames = np.zeros((0, 2))
        self._index = 0
        self._timer = QTimer(self, interval=round(1000 / FRAMES_PER_SECOND))
        self._timer.timeout.connect(self.step)
        self._build()
        document.sigLandscapeChanged.connect(self._fill_wells)
        document.sigDesignerPathChanged.connect(self._on_designer_path)
        self._fill_wells()
        self._on_designer_path(document.designer_path)

    # --- public API ---------------------------------------------------------------------
    def set_path(self, points) -> None:
        """Use the polyline ``points`` (N, 2) (cc1, cc2) degrees and select "drawn path"."""
        self._drawn = np.asarray(points, dtype=float).reshape(-1, 2)
        self.path_radio.setChecked(True)
        self._path_changed()

    def add_point(self, cc1_deg: float, cc2_deg: float) -> None:
        """Append a point to the drawn path (a click on the landscape map)."""
        self.set_path(np.vstack([self._drawn, [[cc1_deg, cc2_deg]]]))

    def clear_path(self) -> None:
        self.stop()
        self.set_path(np.zeros((0, 2)))

    def set_wells(self, start_index: int, end_index: int) -> None:
        """Move between wells ``start_index`` and ``end_index`` (0-based) along the
        minimum-energy path."""
        self.start_well.setCurrentIndex(start_index)
        self.end_well.setCurrentIndex(end_index)
        self.wells_radio.setChecked(True)
        self._path_changed()

    def play_designer_path(self) -> None:
        """Select the Landscape tab's path (the document's ``designer_path``) and play it from
        its start."""
        self.designer_radio.setChecked(True)
        self.stop()
        self.play()

    def play_path(self, points_deg, label: str) -> None:
        """Play the polyline ``points_deg`` (N, 2) (cc1, cc2) degrees from its start, shown as
        ``label`` among the sources (another view's path, e.g. a method's recovered path)."""
        points = np.asarray(points_deg, dtype=float)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2 or not np.isfinite(points).all():
            raise ValueError(f"play_path: points_deg must be (N, 2) finite degrees with N >= 2 "
                             f"(got shape {points.shape})")
        self._given = points.copy()
        self.given_radio.setText(str(label))
        self.given_radio.setToolTip(str(label))
        self.given_radio.setVisible(True)
        self.given_radio.setChecked(True)
        self.stop()
        self._path_changed()
        self.play()

    def source(self) -> str:
        """Which path plays: SOURCE_PATH, SOURCE_WELLS, SOURCE_DESIGNER or SOURCE_GIVEN."""
        return {self.path_radio: SOURCE_PATH, self.wells_radio: SOURCE_WELLS, self.designer_radio: SOURCE_DESIGNER,
                self.given_radio: SOURCE_GIVEN}[self._source.checkedButton()]

    def set_speed(self, deg_per_s: float) -> None:
        self.speed_spin.setValue(deg_per_s)

    def path(self) -> np.ndarray:
        """The path being played (N, 2) (cc1, cc2) degrees: the drawn polyline, the
        minimum-energy path from one well centre to the other on the document's grid, the
        Landscape tab's path (empty while it has none) or the one play_path gave."""
        source = self.source()
        if source == SOURCE_DESIGNER:
            path = self._doc.designer_path
            return np.zeros((0, 2)) if path is None else path.points_deg.copy()
        if source == SOURCE_GIVEN:
            return self._given.copy()
        if source == SOURCE_WELLS:
            i, j = self.start_well.currentIndex(), self.end_well.currentIndex()
            if i < 0 or j < 0 or i == j:
                return np.zeros((0, 2))
            grid = self._doc.live_grid
            cached_grid, wells, path = self._well_path
            if cached_grid is not grid or wells != (i, j):
                centres = self._doc.landscape.centres_deg
                path = grid_minimum_energy_path(grid, centres[i], centres[j])
                self._well_path = (grid, (i, j), path)
            return path.copy()
        return self._drawn.copy()

    def frames(self) -> np.ndarray:
        """Conformations (M, 2) of the frames, speed / 25 degrees apart."""
        return resample_polyline(self.path(), self.speed_spin.value() / FRAMES_PER_SECOND)

    def is_playing(self) -> bool:
        return self._timer.isActive()

    def play(self) -> None:
        self._frames = self.frames()
        if len(self._frames) < 2:
            self._status.setText("The Landscape tab has no path: pick two wells there first."
                                 if self.source() == SOURCE_DESIGNER else
                                 "Draw a path on the map (Path mode) or pick two wells first.")
            return
        if self._index >= len(self._frames) - 1:
            self._index = 0
        self._doc.set_conformation(*self._frames[self._index])
        self._timer.start()
        self._sync_buttons()

    def pause(self) -> None:
        self._timer.stop()
        self._sync_buttons()

    def stop(self) -> None:
        """Stop and go back to the start of the path."""
        self._timer.stop()
        self._index = 0
        self._sync_buttons()

    def step(self) -> None:
        """Advance one frame (the timer calls this); loops or stops at the end."""
        if len(self._frames) == 0:
            self._frames = self.frames()
        if len(self._frames) == 0:
            return
        self._index += 1
        if self._index >= len(self._frames):
            if self.loop_box.isChecked():
                self._index = 0
            else:
                self._index = len(self._frames) - 1
                self.pause()
                return
        self._doc.set_conformation(*self._frames[self._index])
        self._status.setText(f"Frame {self._index + 1} / {len(self._frames)}")

    def export_frames(self, folder, progress: Callable[[int, int], bool] | None = None,
                      overwrite: bool = False) -> list[str]:
        """Write one PNG per frame into ``folder`` (frame_0000.png, ...) and return the paths.

        A folder that already holds frame_*.png files is refused with FileExistsError unless
        ``overwrite``, which removes those files first (so no stale frames of a longer
        animation stay behind). ``progress(done, total)`` may return False to stop early.
        The conformation is put back afterwards. Raises OSError naming the file that could
        not be written.
        """
        if self._grab_frame is None:
            raise RuntimeError("export_frames: this player has no frame grabber")
        frames = self.frames()
        if len(frames) < 2:
            raise ValueError("export_frames: the path needs at least two distinct points")
        folder = Path(folder)
        old = existing_frames(folder)
        if old and not overwrite:
            raise FileExistsError(f"{folder}: already holds {len(old)} {FRAME_PATTERN} files "
                                  f"from an earlier export; choose another folder or overwrite")
        folder.mkdir(parents=True, exist_ok=True)
        for path in old:
            path.unlink()
        self.pause()
        before = self._doc.conformation
        written = []
        try:
            for k, (cc1, cc2) in enumerate(frames):
                self._doc.set_conformation(cc1, cc2)
                rgba = np.ascontiguousarray(self._grab_frame(), dtype=np.uint8)
                path = folder / f"frame_{k:04d}.png"
                fmt = QImage.Format.Format_RGBA8888 if rgba.shape[2] == 4 else QImage.Format.Format_RGB888
                image = QImage(rgba.data, rgba.shape[1], rgba.shape[0], rgba.strides[0], fmt)
                if not image.save(str(path), "PNG"):
                    raise OSError(f"{path}: could not write the PNG frame")
                written.append(str(path))
                if progress is not None and progress(k + 1, len(frames)) is False:
                    break
        finally:
            self._doc.set_conformation(*before)
        return written

    # --- widgets ------------------------------------------------------------------------
    def _build(self) -> None:
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        self.path_radio = QRadioButton("Path drawn on the map")
        self.path_radio.setToolTip("Tick 'Draw path' and click points on the landscape map")
        self.wells_radio = QRadioButton("Between wells")
        self.designer_radio = QRadioButton("Landscape tab's path")
        self.designer_radio.setToolTip("The path the Landscape tab shows between its two wells (or drawn there)")
        self.given_radio = QRadioButton()
        self.given_radio.setVisible(False)   # until another view hands a path over (play_path)
        self._source = QButtonGroup(self)
        self.path_radio.setChecked(True)
        for b in (self.path_radio, self.wells_radio, self.designer_radio, self.given_radio):
            self._source.addButton(b)
            b.toggled.connect(self._path_changed)
        self.start_well, self.end_well = QComboBox(), QComboBox()
        for box in (self.start_well, self.end_well):
            box.currentIndexChanged.connect(self._wells_picked)
        self.clear_button = QPushButton("Clear path")
        self.clear_button.clicked.connect(self.clear_path)
        grid.addWidget(self.path_radio, 0, 0, 1, 2)
        grid.addWidget(self.clear_button, 0, 2, 1, 2)
        grid.addWidget(self.wells_radio, 1, 0)
        wells = QHBoxLayout()
        wells.addWidget(self.start_well)
        wells.addWidget(QLabel("→"))
        wells.addWidget(self.end_well)
        grid.addLayout(wells, 1, 1, 1, 3)
        grid.addWidget(self.designer_radio, 2, 0, 1, 4)
        grid.addWidget(self.given_radio, 3, 0, 1, 4)

        self.play_button = QPushButton("▶ Play")
        self.play_button.clicked.connect(lambda: self.pause() if self.is_playing() else self.play())
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.clicked.connect(self.stop)
        self.speed_spin = QDoubleSpinBox(decimals=1, minimum=0.5, maximum=500.0, value=10.0,
                                         singleStep=1.0, suffix=" °/s", keyboardTracking=False)
        self.speed_spin.setToolTip("Speed along the path (arc length in cc1, cc2 per second)")
        self.speed_spin.valueChanged.connect(self._speed_changed)
        self.loop_box = QCheckBox("Loop")
        grid.addWidget(self.play_button, 4, 0)
        grid.addWidget(self.stop_button, 4, 1)
        grid.addWidget(self.speed_spin, 4, 2)
        grid.addWidget(self.loop_box, 4, 3)
        self.export_button = QPushButton("Export frames as PNG...")
        self.export_button.clicked.connect(self._on_export)
        self.export_button.setEnabled(self._grab_frame is not None)
        grid.addWidget(self.export_button, 5, 0, 1, 2)
        self._status = QLabel()
        grid.addWidget(self._status, 5, 2, 1, 2)

    def _fill_wells(self, *_) -> None:
        names = [f"well {w.name}" for w in self._doc.landscape.wells]
        for box, default in ((self.start_well, 0), (self.end_well, 1)):
            old = box.currentIndex()
            box.blockSignals(True)
            box.clear()
            box.addItems(names)
            box.setCurrentIndex(old if 0 <= old < len(names) else min(default, len(names) - 1))
            box.blockSignals(False)
        if self.wells_radio.isChecked():
            self._path_changed()

    def _on_designer_path(self, path) -> None:
        if path is None:
            text = "Landscape tab's path (none)"
        elif path.wells is not None:
            text = f"Landscape tab's path (wells {path.wells[0]} → {path.wells[1]})"
        else:
            text = "Landscape tab's path (drawn)"
        self.designer_radio.setText(text)
        if self.designer_radio.isChecked():
            self._path_changed()

    def _wells_picked(self, *_) -> None:
        self.wells_radio.setChecked(True)
        self._path_changed()

    def _speed_changed(self, *_) -> None:
        if len(self._frames) > 1:
            # keep the position along the path when the spacing changes
            here = self._index / (len(self._frames) - 1)
            self._frames = self.frames()
            self._index = round(here * (len(self._frames) - 1))

    def _path_changed(self, *_) -> None:
        self._frames = self.frames()
        self._index = 0
        n = len(self._frames)
        if n < 2 and self.is_playing():   # the path went away under the player
            self.pause()
        self._status.setText(f"{n} frames" if n > 1 else "")
        self.sigPathChanged.emit(self.path())

    def _sync_buttons(self) -> None:
        playing = self.is_playing()
        self.play_button.setText("❚❚ Pause" if playing else "▶ Play")
        self.sigPlayingChanged.emit(playing)

    def _on_export(self) -> None:
        if len(self.frames()) < 2:
            QMessageBox.information(self, "Export frames", "Draw a path or pick two wells first.")
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder for the PNG frames")
        if not folder:
            return
        old = existing_frames(folder)
        if old:
            answer = QMessageBox.question(
                self, "Export frames",
                f"{folder} already holds {len(old)} {FRAME_PATTERN} files from an earlier "
                f"export. Delete them and write the new frames?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Yes:
                return
        dialog = QProgressDialog("Writing frames...", "Cancel", 0, len(self.frames()), self)
        dialog.setMinimumDuration(300)

        def progress(done, total):
            dialog.setValue(done)
            QApplication.processEvents()
            return not dialog.wasCanceled()

        try:
            files = self.export_frames(folder, progress, overwrite=bool(old))
        except OSError as exc:
            QMessageBox.critical(self, "Export frames", str(exc))
            return
        finally:
            dialog.close()
        self._status.setText(f"Wrote {len(files)} PNG files to {folder}")

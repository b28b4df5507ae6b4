"""The main window: one tab per stage of the workflow, menus, and a status bar.

Stages: Landscape (design the energy landscape), Structure & projections, Simulation,
Comparison. Each tab is a widget that takes the shared ``LandscapeDocument`` (``self.doc``)
in its constructor and talks to the others only through it (the Structure tab and the
Simulation tab share the document's current object); add one in ``_build_tabs``. The window owns the file operations (New
from preset, Open, Save, Save As), asks before unsaved changes would be lost, restores the
last landscape and the window geometry at the next start (``gui.widgets.settings.AppSettings``).
The comparison's project files (open, save, save as, recent list) are
gui.comparison.project_actions' actions in the File menu. "Play in 3D" of the Comparison tab's
lineage view (a method's path) plays on the Structure tab's motion player, shown for it.

Example::

    window = MainWindow()                 # last landscape, or the default preset
    window = MainWindow("my.json")        # a given file
    window.open_file("other.json")        # False (and a message box) if it cannot be read
    window.open_comparison("study.elbench.json")   # a saved comparison, as it was
    window.play_in_3d(points_deg, "cryoDRGN: path 1 → 2")   # on the Structure tab
"""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QTabWidget

from engine.formats.comparison_project import is_project_file
from engine.landscape.io import LandscapeFileError, landscape_from_dict, landscape_to_dict
from engine.landscape.presets import DEFAULT_PRESET, load_preset, preset_names
from gui.comparison.comparison_tab import ComparisonTab
from gui.comparison.project_actions import ProjectActions
from gui.model.document import LandscapeDocument
from gui.landscape.designer import LandscapeDesigner
from gui.methods.methods_tab import MethodsTab
from gui.widgets.settings import AppSettings
from gui.simulation.simulation_panel import SimulationPanel
from gui.structure.structure_tab import StructureTab

FILE_FILTER = "Landscape JSON (*.json);;All files (*)"


class MainWindow(QMainWindow):
    def __init__(self, landscape_path: str | None = None):
        super().__init__()
        self.settings = AppSettings()
        self.doc = LandscapeDocument(parent=self)
        self.resize(1400, 900)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self._build_tabs()
        self._build_menus()
        self.doc.sigPathChanged.connect(self._update_title)
        self.doc.sigDirtyChanged.connect(self._update_title)
        self.doc.sigLandscapeChanged.connect(self._update_title)
        self.statusBar().showMessage("Ready")
        self._restore(landscape_path)
        self._update_title()

    def _build_tabs(self) -> None:
        self.designer = LandscapeDesigner(self.doc)
        self.designer.sigStatusMessage.connect(self.statusBar().showMessage)
        self.tabs.addTab(self.designer, "Landscape")
        self.structure = StructureTab(self.doc)
        self.tabs.addTab(self.structure, "Structure && projections")  # && shows one &
        self.simulation = SimulationPanel(self.doc)
        self.simulation.sigStatusMessage.connect(self.statusBar().showMessage)
        self.tabs.addTab(self.simulation, "Simulation")
        self.comparison = ComparisonTab(self.doc)
        self.comparison.sigStatusMessage.connect(self.statusBar().showMessage)
        self.tabs.addTab(self.comparison, "Comparison")
        self.methods = MethodsTab(self.doc, self.comparison.model)
        self.methods.sigStatusMessage.connect(self.statusBar().showMessage)
        self.tabs.addTab(self.methods, "Methods")
        self.project = ProjectActions(self.comparison.model, self.settings, self.comparison.open_dataset, self)
        self.project.sigStatus.connect(self.statusBar().showMessage)
        self.project.sigProblem.connect(self._error)
        self.project.sigProjectChanged.connect(lambda _path: self.tabs.setCurrentWidget(self.comparison))
        self.methods.sigRunFinished.connect(self.project.record_run)
        self.comparison.lineage.sigPlayPath.connect(self.play_in_3d)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        presets = file_menu.addMenu("&New from Preset")
        for name in preset_names():
            action = presets.addAction(name)
            action.triggered.connect(lambda _=False, n=name: self.new_from_preset(n))
        self.action_open = self._action(file_menu, "&Open...", QKeySequence.StandardKey.Open,
                                        self._open_dialog)
        file_menu.addSeparator()
        self.action_save = self._action(file_menu, "&Save", QKeySequence.StandardKey.Save, self.save)
        self.action_save_as = self._action(file_menu, "Save &As...", QKeySequence("Ctrl+Shift+S"),
                                           lambda: self.save_as())
        file_menu.addSeparator()
        self.action_open_dataset = self._action(file_menu, "Open dataset...", QKeySequence("Ctrl+Shift+O"), lambda: (
            self.tabs.setCurrentWidget(self.comparison), self.comparison.open_dataset_dialog()))
        self.action_add_output = self._action(file_menu, "Add method output...", QKeySequence("Ctrl+Shift+M"), lambda: (
            self.tabs.setCurrentWidget(self.comparison), self.comparison.add_output_dialog()))
        self.action_add_output_folder = self._action(file_menu, "Add method output folder...", QKeySequence(), lambda: (
            self.tabs.setCurrentWidget(self.comparison), self.comparison.add_output_folder_dialog()))
        file_menu.addSeparator()
        file_menu.addAction(self.project.action_open)
        file_menu.addMenu(self.project.recent_menu)
        file_menu.addAction(self.project.action_save)
        file_menu.addAction(self.project.action_save_as)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence("Ctrl+Q"), self.close)

        edit_menu = self.menuBar().addMenu("&Edit")
        self.action_undo = self.doc.undo_stack.createUndoAction(self, "&Undo")
        self.action_undo.setShortcut(QKeySequence("Ctrl+Z"))
        self.action_redo = self.doc.undo_stack.createRedoAction(self, "&Redo")
        self.action_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        edit_menu.addAction(self.action_undo)
        edit_menu.addAction(self.action_redo)
        # undo edits the landscape: off where Ctrl+Z would change it unseen (after the stack's own updates)
        for signal in (self.tabs.currentChanged, self.doc.undo_stack.canUndoChanged, self.doc.undo_stack.canRedoChanged):
            signal.connect(self._update_undo_actions)
        edit_menu.addSeparator()
        edit_menu.addAction(self.designer.action_add_well)
        edit_menu.addAction(self.designer.action_delete_well)

    def open_comparison(self, dataset, outputs=(), labels=None, kinds=None) -> None:
        """Show the Comparison tab on ``dataset`` with ``outputs`` added (``elbench gui``);
        ``labels`` / ``kinds`` give one name / loader per output, None for the default.
        ``dataset`` may be a saved comparison project file instead: it opens as it was."""
        self.tabs.setCurrentWidget(self.comparison)
        if is_project_file(dataset):  # main.py refuses OUTPUTs given with one
            self.project.open_project(dataset)
            return
        if not self.comparison.open_dataset(dataset):
            return
        outputs = list(outputs)
        labels = list(labels or [None] * len(outputs))
        kinds = list(kinds or [None] * len(outputs))
        for path, label, kind in zip(outputs, labels, kinds):
            self.comparison.model.add_output(path, kind=kind, label=label)

    def play_in_3d(self, points_deg, label: str) -> None:
        """Show the Structure tab and play ``points_deg`` (N, 2) true (cc1, cc2) degrees on its
        motion player (the lineage view's "Play in 3D" of a method's path)."""
        self.tabs.setCurrentWidget(self.structure)
        try:
            self.structure.player.play_path(points_deg, label)
        except ValueError as exc:   # too short or not finite: say so rather than play nothing
            self.statusBar().showMessage(f"Cannot play {label}: {exc}", 10000)
            return
        self.statusBar().showMessage(f"Playing {label} in 3D", 5000)

    def _action(self, menu, text, shortcut, slot) -> QAction:
        action = menu.addAction(text)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    # --- file operations --------------------------------------------------------------
    def new_from_preset(self, name: str) -> bool:
        if not self._maybe_save():
            return False
        self.doc.reset(load_preset(name))
        self.statusBar().showMessage(f"New landscape from preset {name}", 5000)
        return True

    def open_file(self, path: str) -> bool:
        """Open ``path``; on a bad file show the error and keep the current landscape. A saved
        comparison (a project file) opens in the Comparison tab instead."""
        if is_project_file(path):
            self.tabs.setCurrentWidget(self.comparison)
            return self.project.open_project(path)
        try:
            self.doc.open(path)
        except LandscapeFileError as exc:
            self._error("Cannot open landscape", f"Could not open {exc.path}:\n\n{exc.field or 'file'}: {exc.problem}")
            return False
        self.statusBar().showMessage(f"Opened {path}", 5000)
        return True

    def save(self) -> bool:
        """Save to the document's file (asks for one if it has none); False if not saved."""
        if not self.doc.path:
            return self.save_as()
        return self._save_to(self.doc.path)

    def save_as(self, path: str | None = None) -> bool:
        if path is None:
            start = self.doc.path or str(Path.cwd() / f"{self.doc.landscape.name}.json")
            path, _ = QFileDialog.getSaveFileName(self, "Save landscape as", start, FILE_FILTER)
            if not path:
                return False
            if not Path(path).suffix:
                path += ".json"
        return self._save_to(path)

    def _save_to(self, path: str) -> bool:
        try:
            self.doc.save(path)
        except OSError as exc:
            self._error("Cannot save landscape", f"Could not save {path}:\n\n{exc.strerror or exc}")
            return False
        except LandscapeFileError as exc:  # a landscape no file can hold (no wells)
            self._error("Cannot save landscape", f"Could not save {exc.path}:\n\n{exc.field}: {exc.problem}")
            return False
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def _open_dialog(self) -> None:
        if not self._maybe_save():
            return
        start = str(Path(self.doc.path).parent) if self.doc.path else str(Path.cwd())
        path, _ = QFileDialog.getOpenFileName(self, "Open landscape", start, FILE_FILTER)
        if path:
            self.open_file(path)

    def _maybe_save(self) -> bool:
        """Ask Save / Discard / Cancel when there are unsaved changes; False = cancelled."""
        if not self.doc.is_dirty:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes",
            f"The landscape {self.doc.display_name} has unsaved changes. Save them?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def _error(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)

    def _update_title(self, *_):
        star = "*" if self.doc.is_dirty else ""
        self.setWindowTitle(f"{self.doc.display_name}{star} — elbench")

    # --- start and exit ---------------------------------------------------------------
    def _restore(self, landscape_path: str | None) -> None:
        """Open ``landscape_path``, else the last landscape, else the default preset."""
        settings = self.settings
        geometry = settings.window_geometry
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = settings.window_state
        if state is not None:
            self.restoreState(state)
        self.doc.set_energy_unit(settings.energy_unit)
        self.designer.set_sample_size(settings.sample_size)
        if landscape_path:
            if self.open_file(landscape_path):
                return
        elif settings.last_landscape_path:
            try:
                self.doc.open(settings.last_landscape_path)
                return
            except LandscapeFileError as exc:
                self.statusBar().showMessage(f"Could not reopen the last landscape: {exc}", 10000)
        elif settings.last_landscape_json:
            try:
                self.doc.reset(landscape_from_dict(json.loads(settings.last_landscape_json),
                                                   "the last unsaved landscape"))
                return
            except (LandscapeFileError, ValueError) as exc:
                self.statusBar().showMessage(f"Could not restore the last landscape: {exc}", 10000)
        self.doc.reset(load_preset(DEFAULT_PRESET))

    def _remember(self) -> None:
        settings = self.settings
        settings.window_geometry = self.saveGeometry()
        settings.window_state = self.saveState()
        settings.energy_unit = self.doc.energy_unit
        settings.sample_size = self.designer.sample_size
        if self.doc.path:
            settings.last_landscape_path = self.doc.path
            settings.last_landscape_json = None
        else:
            settings.last_landscape_path = None
            settings.last_landscape_json = json.dumps(landscape_to_dict(self.doc.clean_landscape))
        settings.sync()

    def _update_undo_actions(self, *_) -> None:
        editable = self.tabs.currentWidget() not in (self.comparison, self.simulation, self.methods)
        self.action_undo.setEnabled(editable and self.doc.undo_stack.canUndo())
        self.action_redo.setEnabled(editable and self.doc.undo_stack.canRedo())

    def _confirm_quit(self) -> bool:
        """Ask before a running simulation or the comparison's methods/selection are lost."""
        lost = self.methods.work_that_quitting_loses() + self.comparison.work_that_quitting_loses()
        if self.simulation.runner.is_running():
            lost.insert(0, "the running simulation job is stopped (it can be resumed later with Resume)")
        if not lost:
            return True
        answer = QMessageBox.question(self, "Quit", "Quitting now:\n• " + "\n• ".join(lost),
                                      QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        return answer != QMessageBox.StandardButton.Cancel

    def closeEvent(self, event) -> None:
        if not self._maybe_save() or not self._confirm_quit():
            event.ignore()
            return
        self._remember()
        self.methods.shutdown()
        self.comparison.shutdown()
        event.accept()

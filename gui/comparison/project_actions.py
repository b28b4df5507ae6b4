"""Save a comparison as a project file and reopen it as it was (File menu, recent list).

A project (engine.formats.comparison_project) holds the dataset, each method output with its
label, loader kind and number of dimensions, the method run and job folder that made it (from
the Methods tab's ``sigRunFinished``, handed to :meth:`ProjectActions.record_run`), the
scoring settings and the method shown. Reopening opens the dataset through ``open_dataset``
(the Comparison tab's, which asks before loaded methods are discarded); once the model has it,
the outputs are added with their saved labels and kinds and the settings restored. Outputs
or job folders that are gone are reported (``sigProblem``) and the rest is loaded; an output
whose number of dimensions changed since it was saved is reported too. Only the
ComparisonModel's public API is used.

The recent list (most recent first, at most RECENT_MAX) lives in the application settings
(gui.widgets.settings.AppSettings, key RECENT_KEY, a JSON list); a file that can no longer
be opened leaves it.

Example::

    project = ProjectActions(model, open_dataset=tab.open_dataset, parent_widget=window)
    file_menu.addAction(project.action_open); file_menu.addMenu(project.recent_menu)
    project.save_to("study.elbench.json")     # True, or sigProblem(title, message)
    project.open_project("study.elbench.json")
"""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu

from engine.formats.comparison_project import (SUFFIX, ComparisonProject, ProjectFileError, ProjectOutput,
                                                ProjectRun, load_project, missing_files, save_project)
from engine.scoring.comparison import ScoringSettings
from gui.widgets.figure_export import dialog_folder, remember_folder
from gui.widgets.settings import AppSettings

RECENT_KEY = "comparison/recent_projects"
RECENT_MAX = 8
FILE_FILTER = "elbench comparison (*.elbench.json);;JSON (*.json);;All files (*)"
OPEN_TITLE, SAVE_TITLE = "Cannot open comparison", "Cannot save comparison"


def _key(path) -> str:
    return str(Path(path).resolve())


class ProjectActions(QObject):
    """See the module docstring. Signals: sigProjectChanged(str) (the project file, "" for
    none), sigRecentChanged(), sigStatus(str), sigProblem(str title, str message naming the file)."""

    sigProjectChanged = Signal(str)
    sigRecentChanged = Signal()
    sigStatus = Signal(str)
    sigProblem = Signal(str, str)

    def __init__(self, model, settings: AppSettings | None = None, open_dataset=None, parent_widget=None):
        super().__init__(parent_widget)
        self.model = model
        self.settings = settings or AppSettings()
        self._open_dataset = open_dataset or self._open_in_model
        self._widget = parent_widget
        self.path: Path | None = None
        self.runs: dict[str, ProjectRun] = {}       # resolved output path -> the run that wrote it
        self._pending: tuple[Path, ComparisonProject] | None = None
        self._expected_dims: dict[str, tuple[str, int]] = {}
        self._current_label: str | None = None
        self.action_open = self._action("Open comparison…", "Open a saved comparison (dataset, outputs, "
                                                            "settings)", self.open_dialog)
        self.action_save = self._action("Save comparison", "Save the dataset, the method outputs and the "
                                                           "settings as a project file", self.save)
        self.action_save_as = self._action("Save comparison as…", "Save the comparison under a new name",
                                           self.save_as_dialog)
        self.recent_menu = QMenu("Recent comparisons", parent_widget)
        model.sigDatasetChanged.connect(self._on_dataset_changed)
        model.sigMethodsChanged.connect(self._on_methods_changed)
        model.sigBusyChanged.connect(self._on_busy_changed)
        model.sigLoadFailed.connect(self._on_load_failed)
        self._update_actions()
        self._rebuild_recent_menu()

    def _action(self, text: str, tip: str, slot) -> QAction:
        action = QAction(text, self)
        action.setStatusTip(tip)
        action.triggered.connect(lambda _=False: slot())
        return action

    def _open_in_model(self, path) -> bool:
        self.model.open_dataset(path)
        return True

    # --- runs -----------------------------------------------------------------------------
    def record_run(self, run) -> None:
        """Remember the job folder of a finished run (engine.methods.catalog.MethodRun) so that
        its output is saved with it."""
        self.runs[_key(run.output_path)] = ProjectRun(run.method, Path(run.job_dir))

    # --- saving ---------------------------------------------------------------------------
    def current_project(self) -> ComparisonProject:
        """The model's comparison as a project (ValueError without a dataset)."""
        m = self.model
        if m.dataset is None:
            raise ValueError("open a dataset first: a comparison is a dataset and the outputs scored on it")
        s = m.settings
        outputs = tuple(ProjectOutput(Path(e.path), e.label, e.kind, e.output.n_dims, self.runs.get(_key(e.path)))
                        for e in m.methods)
        return ComparisonProject(dataset=Path(m.dataset.root or m.dataset.source), outputs=outputs,
                                 dims=s.dims, core_only=s.core_only, core_radius_deg=s.core_radius_deg,
                                 wells=None if s.wells is None else tuple(sorted(s.wells)),
                                 current=m.current if 0 <= m.current < len(outputs) else -1)

    def save(self) -> bool:
        """Save to the current project file, or ask for one."""
        return self.save_to(self.path) if self.path is not None else self.save_as_dialog()

    def save_as_dialog(self) -> bool:
        if self.model.dataset is None:
            self.sigProblem.emit(SAVE_TITLE, "Open a dataset first: a comparison is a dataset and the outputs "
                                             "scored on it.")
            return False
        start = str(self.path) if self.path is not None else dialog_folder(self.model.dataset_folder)
        path, _ = QFileDialog.getSaveFileName(self._widget, "Save comparison", start, FILE_FILTER)
        if not path:
            return False
        if not path.endswith(".json"):
            path += SUFFIX
        remember_folder(path)
        return self.save_to(path)

    def save_to(self, path) -> bool:
        """Write the comparison to ``path``; it becomes the current project and the first
        recent one. False (and sigProblem naming the file) when it cannot be saved."""
        path = Path(path)
        try:
            save_project(path, self.current_project())
        except ProjectFileError as exc:
            self.sigProblem.emit(SAVE_TITLE, str(exc))
            return False
        except ValueError as exc:
            self.sigProblem.emit(SAVE_TITLE, f"{path}: {exc}")
            return False
        self._set_path(path)
        self.sigStatus.emit(f"Saved the comparison ({len(self.model.methods)} methods) to {path}")
        return True

    # --- opening --------------------------------------------------------------------------
    def open_dialog(self) -> bool:
        path, _ = QFileDialog.getOpenFileName(self._widget, "Open comparison",
                                              dialog_folder(self.model.dataset_folder), FILE_FILTER)
        if not path:
            return False
        remember_folder(path)
        return self.open_project(path)

    def open_project(self, path) -> bool:
        """Open the project file ``path``: its dataset now, its outputs and settings once the
        dataset is read. False when the file cannot be read, its dataset is gone, or the
        user keeps the current comparison."""
        path = Path(path)
        try:
            project = load_project(path)
        except ProjectFileError as exc:
            if not path.exists():
                self._forget_recent(path)
            self.sigProblem.emit(OPEN_TITLE, str(exc))
            return False
        if not project.dataset.exists():
            self.sigProblem.emit(OPEN_TITLE, f"{path}: its dataset {project.dataset} is missing; nothing was opened")
            return False
        if not self._open_dataset(str(project.dataset)):
            return False
        self._pending = (path, project)
        self._set_path(path)
        problems = missing_files(project)
        if problems:
            self.sigProblem.emit("Comparison opened with files missing",
                                 f"{path}: these are gone; the rest is loaded:\n• " + "\n• ".join(problems))
        return True

    def _on_dataset_changed(self, dataset) -> None:
        self._update_actions()
        self._current_label = None
        if self._pending is None:
            return
        path, project = self._pending
        self._pending = None
        if not self._is_dataset_of(dataset, project):
            return
        try:
            self.model.set_settings(ScoringSettings(
                dims=project.dims, core_only=project.core_only, core_radius_deg=project.core_radius_deg,
                wells=None if project.wells is None else frozenset(project.wells)))
        except ValueError as exc:
            self.sigProblem.emit(OPEN_TITLE, f"{path}: settings: {exc}; the current settings are kept")
        self._expected_dims = {}
        for output in project.outputs:
            if not output.path.exists():
                continue
            if output.run is not None:
                self.runs[_key(output.path)] = output.run
            if output.n_dims is not None:
                self._expected_dims[_key(output.path)] = (output.label, output.n_dims)
            self.model.add_output(str(output.path), kind=output.kind, label=output.label)
        self._current_label = project.outputs[project.current].label if project.current >= 0 else None
        self.sigStatus.emit(f"Opened comparison {path.name}: {len(project.outputs)} methods on {project.dataset.name}")

    @staticmethod
    def _is_dataset_of(dataset, project: ComparisonProject) -> bool:
        places = [p for p in (dataset.root, dataset.source) if p]
        return any(Path(p).resolve() in (project.dataset, project.dataset.parent) for p in places)

    def _on_methods_changed(self) -> None:
        self._update_actions()
        for entry in self.model.methods:
            expected = self._expected_dims.pop(_key(entry.path), None)
            if expected is not None and expected[1] != entry.output.n_dims:
                self.sigProblem.emit("Method output changed", f"{entry.path}: \"{expected[0]}\" now has "
                                     f"{entry.output.n_dims} dimensions; the project recorded {expected[1]}")

    def _on_busy_changed(self, busy: bool) -> None:
        if busy or self._current_label is None:
            return
        labels = [m.label for m in self.model.methods]
        if self._current_label in labels:  # else not loaded yet (kept until the dataset changes)
            self.model.set_current(labels.index(self._current_label))
            self._current_label = None

    def _on_load_failed(self, title: str, _message: str) -> None:
        if title == "Cannot open dataset":
            self._pending = None  # its outputs must not be added to whichever dataset is open

    def _update_actions(self) -> None:
        has_dataset = self.model.dataset is not None
        self.action_save.setEnabled(has_dataset)
        self.action_save_as.setEnabled(has_dataset)

    def _set_path(self, path: Path) -> None:
        self.path = path
        self._remember_recent(path)
        self.sigProjectChanged.emit(str(path))

    # --- recent list ----------------------------------------------------------------------
    def recent(self) -> list[str]:
        """Project files opened or saved, most recent first."""
        try:
            items = json.loads(self.settings.read_str(RECENT_KEY) or "[]")
        except ValueError:
            return []
        return [p for p in items if isinstance(p, str)][:RECENT_MAX] if isinstance(items, list) else []

    def clear_recent(self) -> None:
        self._write_recent([])

    def _remember_recent(self, path: Path) -> None:
        key = _key(path)
        self._write_recent([key] + [p for p in self.recent() if p != key])

    def _forget_recent(self, path: Path) -> None:
        key = _key(path)
        self._write_recent([p for p in self.recent() if p != key])

    def _write_recent(self, items: list[str]) -> None:
        self.settings.write(RECENT_KEY, json.dumps(items[:RECENT_MAX]))
        self.settings.sync()
        self._rebuild_recent_menu()
        self.sigRecentChanged.emit()

    def _rebuild_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        items = self.recent()
        for i, item in enumerate(items, 1):
            action = menu.addAction(f"&{i} {Path(item).name}")
            action.setToolTip(item)
            action.setStatusTip(item)
            action.triggered.connect(lambda _=False, p=item: self.open_project(p))
        if items:
            menu.addSeparator()
            menu.addAction("Clear list").triggered.connect(lambda _=False: self.clear_recent())
        menu.setEnabled(bool(items))

"""The "Methods" tab: run RELION multibody, cryoDRGN or RECOVAR on a dataset, here or on SLURM.

Left: the dataset (the Comparison tab's, or another folder picked for the run only), the
method and its options (gui.methods.options_form, from the catalog's options dataclass), where
to run (gui.methods.run_place) and the job folder (the method's default next to the dataset
until you type your own). Right: the tool check (its version, or how to install it), the
exact command lines (copyable, rebuilt off the GUI thread a moment after each edit), Start /
Cancel, and the run's progress and live log (gui.methods.run_log).

A run is ``Method.run`` through the tab's JobRunner (gui.widgets.jobs): Cancel is
cooperative, the step layer ends the tool's process group; a re-run resumes from the steps
already done. A failed run quotes the tool's last error lines in the log and a message box. A
finished run's output goes to the comparison model (``add_output``), which scores it and
lists it in the method table. The tab never imports gui.comparison: it takes the model.

Example::

    tab = MethodsTab(doc, comparison_model)
    tab.method_combo.setCurrentText("cryoDRGN")
    tab.options_form().set_value("epochs", 1)
    tab.start()                      # sigRunFinished(MethodRun) when it is done
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QMessageBox, QPlainTextEdit, QPushButton, QScrollArea, QSplitter, QStackedWidget,
                               QVBoxLayout, QWidget)

from engine.methods.catalog import COMPLETE, METHODS
from gui.methods.options_form import OptionsForm
from gui.methods.dataset_picker import DatasetPicker
from gui.methods.preview import ERROR_STYLE, Preview, preview_job, slurm_client_version, tool_status_html
from gui.methods.run_log import RunLog
from gui.methods.run_place import RunPlaceForm
from gui.widgets.jobs import JobRunner

PREVIEW_DELAY_MS = 150   # edits closer than this make one preview (typing a number, a spin held down)
SLURM_TOOL = "sbatch"
LEFT_WIDTH = 460         # px: room for the dataset path and the longest option names


def _button(text: str, slot, tip: str = "") -> QPushButton:
    button = QPushButton(text)
    button.clicked.connect(slot)
    button.setToolTip(tip)
    return button


def _error_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(ERROR_STYLE)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


class MethodsTab(QWidget):
    """Dataset, method, options, where to run, commands, Start / Cancel, progress and log.

    ``comparison`` is the Comparison tab's model (``dataset_folder``, ``sigDatasetChanged``,
    ``open_dataset``, ``add_output``). Signals: sigRunFinished(object MethodRun) for a
    complete run, sigPreviewReady() when the commands and checks shown are current,
    sigStatusMessage(str) for the status bar."""

    sigRunFinished = Signal(object)
    sigPreviewReady = Signal()
    sigStatusMessage = Signal(str)

    def __init__(self, document, comparison, parent=None):
        super().__init__(parent)
        self.doc = document
        self.comparison = comparison
        self.runner = JobRunner(self)
        self.previewer = JobRunner(self)
        self._default_job = ""
        self._checked: dict[str, tuple[str, str]] = {}   # tool -> (version, problem), checked once
        self._commands_error = ""
        self._preview_pending = False    # an edit whose commands and checks are not shown yet
        self._run_method = self._run_dataset = None
        self._preview_timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self._start_preview)
        self._build()
        self.runner.sigProgress.connect(self.run_log.show_progress)
        self.runner.sigLog.connect(self.run_log.append)
        self.runner.sigFinished.connect(self._on_finished)
        self.runner.sigCancelled.connect(self._on_cancelled)
        self.runner.sigErrored.connect(self._on_errored)
        self.runner.sigRunningChanged.connect(lambda _: self._update_controls())
        self.previewer.sigFinished.connect(self._on_preview)
        self.previewer.sigErrored.connect(lambda message: self._on_preview(Preview("", message)))
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._on_dataset_changed()

    # --- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        QVBoxLayout(self).addWidget(splitter)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        left = QWidget()
        scroll.setWidget(left)
        left_layout = QVBoxLayout(left)
        self.dataset_picker = DatasetPicker(self.comparison)
        self.dataset_picker.sigChanged.connect(self._on_dataset_changed)
        left_layout.addWidget(self.dataset_picker)
        left_layout.addWidget(self._build_method_box(), 1)
        left_layout.addWidget(self._build_place_box())
        splitter.addWidget(scroll)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        tool_row = QHBoxLayout()
        self.tool_label = QLabel()
        self.tool_label.setWordWrap(True)
        self.tool_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        tool_row.addWidget(self.tool_label, 1)
        self.recheck_button = _button("Check again", self.check_again, "Look for the tools again (after installing one)")
        tool_row.addWidget(self.recheck_button, 0, Qt.AlignmentFlag.AlignTop)
        right_layout.addLayout(tool_row)
        commands_row = QHBoxLayout()
        commands_row.addWidget(QLabel("Command lines"), 1)
        commands_row.addWidget(_button("Copy", lambda: QGuiApplication.clipboard().setText(
            self.commands_view.toPlainText()), "Copy the command lines to the clipboard"))
        right_layout.addLayout(commands_row)
        self.commands_view = QPlainTextEdit()
        self.commands_view.setReadOnly(True)
        self.commands_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        right_layout.addWidget(self.commands_view, 1)
        self.commands_error = _error_label()
        right_layout.addWidget(self.commands_error)
        self.start_button = _button("Start", self.start, "Run the commands above in the job folder")
        self.cancel_button = _button("Cancel", self.cancel, "Stop the tool (its whole process group)")
        buttons = QHBoxLayout()
        for button in (self.start_button, self.cancel_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        right_layout.addLayout(buttons)
        self.run_log = RunLog()
        right_layout.addWidget(self.run_log, 3)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([LEFT_WIDTH, 2 * LEFT_WIDTH])

    def _build_method_box(self) -> QGroupBox:
        box = QGroupBox("Method")
        layout = QVBoxLayout(box)
        self.method_combo = QComboBox()
        self.option_stack = QStackedWidget()
        self.forms: dict[str, OptionsForm] = {}
        for method in METHODS.values():
            form = OptionsForm(method)
            form.sigChanged.connect(self._schedule_preview)
            self.forms[method.name] = form
            self.option_stack.addWidget(form)
            self.method_combo.addItem(method.title, method.name)
        self.method_combo.currentIndexChanged.connect(self._on_method_changed)
        layout.addWidget(self.method_combo)
        layout.addWidget(self.option_stack)
        self.options_error = _error_label()
        layout.addWidget(self.options_error)
        layout.addStretch(1)
        return box

    def _build_place_box(self) -> QGroupBox:
        box = QGroupBox("Where to run")
        layout = QFormLayout(box)
        self.place = RunPlaceForm()
        self.place.sigChanged.connect(self._schedule_preview)
        layout.addRow(self.place)
        job_row = QHBoxLayout()
        self.job_edit = QLineEdit()
        self.job_edit.setToolTip("Logs, step stamps and outputs go here; a re-run resumes what it finds")
        self.job_edit.textChanged.connect(self._schedule_preview)
        job_row.addWidget(self.job_edit, 1)
        self.job_button = _button("Browse…", self._browse_job)
        job_row.addWidget(self.job_button)
        layout.addRow("Job folder", job_row)
        self.place_error = _error_label()
        layout.addRow(self.place_error)
        return box

    # --- state --------------------------------------------------------------------------
    @property
    def method(self):
        return METHODS[self.method_combo.currentData()]

    def options_form(self) -> OptionsForm:
        return self.forms[self.method.name]

    def dataset(self) -> Path | None:
        """The run's dataset folder (see gui.methods.dataset_picker)."""
        return self.dataset_picker.folder()

    def options(self):
        """The options set in the form, with the scheduler's resources; ValueError names a bad one."""
        return self.place.apply(self.method.options(**self.options_form().values()))

    def tools(self) -> dict:
        """The checks this run needs: ``{tool name: callable -> version}``."""
        checks = {self.method.title: self.method.check}
        if self.place.is_slurm():
            checks[SLURM_TOOL] = slurm_client_version
        return checks

    def work_that_quitting_loses(self) -> list[str]:
        """What the quit question names: the running method job, if any."""
        if not self.runner.is_running():
            return []
        return [f"the running {self._run_method.title} job is stopped (Start resumes from its finished steps)"]

    # --- actions ------------------------------------------------------------------------
    def start(self) -> bool:
        """Run the method with the options shown; False (with a log line) if it cannot start."""
        if not self.start_button.isEnabled():
            return False
        method, dataset, job = self.method, self.dataset(), Path(self.job_edit.text().strip()).expanduser()
        try:
            options, runner = self.options(), self.place.runner()
        except ValueError as exc:
            self.run_log.append(f"error: {exc}")
            return False
        self._run_method, self._run_dataset = method, dataset
        self.run_log.reset(f"Starting {method.title} in {job}…")
        self.run_log.append(f"{method.title} on {dataset}, {'SLURM' if self.place.is_slurm() else 'local'}, "
                            f"job folder {job}")
        self.sigStatusMessage.emit(f"Running {method.title} in {job}")
        self.runner.start(method.run, dataset, job_dir=job, options=options, runner=runner, name=method.name)
        return True

    def cancel(self) -> None:
        if self.runner.is_running():
            self.run_log.append("cancelling: the tool's processes are being stopped…")
            self.runner.cancel()

    def check_again(self) -> None:
        self._checked.clear()
        self._schedule_preview()

    def shutdown(self) -> None:
        """Cancel the run (its process group ends) and the preview, and wait for both."""
        self.runner.shutdown()
        self.previewer.shutdown()

    # --- preview ------------------------------------------------------------------------
    def _on_method_changed(self, _index: int) -> None:
        self.option_stack.setCurrentWidget(self.options_form())
        self._update_job_default()
        self._schedule_preview()

    def _on_dataset_changed(self) -> None:
        self._update_job_default()
        self._schedule_preview()

    def _update_job_default(self) -> None:
        """Follow the method's default job folder unless the user typed another."""
        dataset = self.dataset()
        default = str(self.method.default_job_dir(dataset)) if dataset is not None else ""
        if self.job_edit.text().strip() in ("", self._default_job):
            self.job_edit.setText(default)
        self._default_job = default

    def _schedule_preview(self) -> None:
        self._preview_pending = True
        self._preview_timer.start()
        self._update_controls()

    def wait_preview(self, timeout_ms: int = 60_000) -> bool:
        """Process events until the commands and checks shown follow the last edit (tests, scripts)."""
        deadline = time.monotonic() + timeout_ms / 1000
        while self._preview_pending:
            if time.monotonic() > deadline:
                return False
            QCoreApplication.processEvents()
            time.sleep(0.005)
        return True

    def _start_preview(self) -> None:
        checks = {name: check for name, check in self.tools().items() if name not in self._checked}
        try:
            options = self.options()
        except ValueError:
            options = None
        # invalid options (their error is shown) build no commands, but the checks still run
        job = Path(self.job_edit.text().strip() or self._default_job or ".").expanduser()
        self.previewer.start(preview_job, self.method, self.dataset(), job, options, checks, name="preview")

    def _on_preview(self, preview) -> None:
        self._checked.update(preview.checked)
        self._preview_pending = self._preview_timer.isActive()  # else a newer edit waits for its own
        self.commands_view.setPlainText(preview.commands)
        self._commands_error = preview.commands_error
        self.commands_error.setText(f"Cannot build the commands: {preview.commands_error}")
        self.commands_error.setVisible(bool(preview.commands_error))
        self._update_controls()
        self.sigPreviewReady.emit()

    # --- run signals (GUI thread) ---------------------------------------------------------
    def _on_finished(self, run) -> None:
        if run.status != COMPLETE:
            self._on_cancelled(run)
            return
        method = self._run_method
        self.run_log.set_state(f"Complete: {run.output_path}", done=True)
        self.run_log.append(f"complete: {run.output_path}")
        label = f"{method.title} ({run.job_dir.name})"
        if self._add_to_comparison(run, label):
            self.run_log.append(f"added to the Comparison tab as {label!r}: it is scored there")
        self.sigStatusMessage.emit(f"{method.title} finished: {run.output_path}")
        self.sigRunFinished.emit(run)

    def _add_to_comparison(self, run, label: str) -> bool:
        """Score the output on its dataset: the comparison's, or (asked first when one is
        open) the run's own dataset opened there."""
        dataset = self._run_dataset
        current = self.comparison.dataset_folder
        if current is None or Path(current).resolve() != dataset:
            if current is not None and QMessageBox.question(
                    self, "Add to the comparison",
                    f"The run used {dataset}, but the Comparison tab shows {current}. Open {dataset} there "
                    f"(its methods are cleared) and add {label}?") != QMessageBox.StandardButton.Yes:
                self.run_log.append(f"not added to the comparison: it shows another dataset ({current})")
                return False
            self.comparison.open_dataset(dataset)
            self.dataset_picker.set_folder(None)  # the comparison's dataset is the run's now: follow it
        self.comparison.add_output(run.output_path, kind=run.output_kind, label=label)
        return True

    def _on_cancelled(self, _run) -> None:
        self.run_log.set_state("Cancelled: Start resumes from the finished steps")
        self.run_log.append("cancelled")
        self.sigStatusMessage.emit(f"{self._run_method.title} cancelled")

    def _on_errored(self, message: str) -> None:
        self.run_log.set_state("Failed")
        self.run_log.append(f"error: {message}")
        self.sigStatusMessage.emit(f"{self._run_method.title} failed")
        QMessageBox.warning(self, f"{self._run_method.title} failed", message)

    # --- controls -------------------------------------------------------------------------
    def _update_controls(self) -> None:
        running = self.runner.is_running()
        problems = []
        try:
            self.options()
            self.options_error.hide()
        except ValueError as exc:
            self.options_error.setText(str(exc))
            self.options_error.show()
            problems.append("options")
        try:
            self.place.runner()  # what Start uses: a SLURM runner checks its settings, a local one none
            self.place_error.hide()
        except ValueError as exc:
            self.place_error.setText(str(exc))
            self.place_error.show()
            problems.append("place")
        checks = [self._checked.get(name) for name in self.tools()]
        self.tool_label.setText(tool_status_html(self.tools(), checks))
        if any(check is None or check[1] for check in checks):
            problems.append("tools")
        if self.dataset() is None or not self.job_edit.text().strip() or self._commands_error:
            problems.append("inputs")
        self.start_button.setEnabled(not running and not problems)
        self.cancel_button.setEnabled(running)
        for widget in (self.method_combo, self.option_stack, self.job_edit, self.job_button):
            widget.setEnabled(not running)
        self.dataset_picker.set_editable(not running)
        self.place.set_enabled(not running)

    def _browse_job(self) -> None:
        start = self.job_edit.text().strip() or str(Path.cwd())
        folder = QFileDialog.getExistingDirectory(self, "Job folder", start)
        if folder:
            self.job_edit.setText(folder)

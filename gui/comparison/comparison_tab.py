"""The Comparison tab: load a dataset and method outputs, score them live, look at Figs. 2-4.

Top: file actions (open a dataset, add outputs with the loader detected or chosen, remove a
method, export the whole comparison as the report of ``main.py evaluate``), then the scoring
settings (output dimensions, core particles only with the dataset's flags or a core radius,
the wells scored). Left: the comparison table, the recall bars per well (Fig. 2b) and the
confusion matrix of the selected method. Right: the lineage view (Fig. 4, linked selection)
and the recovered landscapes (Fig. 3). Dataset folders and output files can be dropped on the
tab. Every view listens to one ``ComparisonModel``; nothing here computes a score.

Example::

    tab = ComparisonTab(document)
    tab.open_dataset("runs/paper-3x4")
    tab.add_outputs(["train/z.25.pkl", "pca.npy"])
    tab.export_report("report")            # scores.json, CSV tables and PNG figures
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog,
                               QHBoxLayout, QLabel, QMessageBox, QProgressBar, QSplitter,
                               QStackedWidget, QTabWidget, QToolButton, QVBoxLayout, QWidget)

from engine.scoring.comparison import write_report_job
from engine.formats.dataset import GROUND_TRUTH_FILE
from gui.widgets.palette import well_colour
from gui.comparison.comparison_model import LOADABLE_KINDS, ComparisonModel
from gui.comparison.comparison_table import ComparisonTable
from gui.widgets.figure_export import ask_and_export, dialog_folder, remember_folder
from gui.widgets.jobs import JobRunner
from gui.comparison.lineage_view import LineageView
from gui.comparison.recall_chart import ConfusionMatrixView, RecallChart
from gui.comparison.recovered_landscape_view import RecoveredLandscapeView

OUTPUT_FILTER = ("Method outputs (*.pkl *.cs *.txt *.npy *.npz *.csv *.star);;All files (*)")
DIMS_PRESETS = ("0,1", "0,1,2", "all")
SYNC_REPORT_ROWS = 250_000


MIN_TABLE_ROWS = 5


def table_height(table, rows: int) -> int:
    """Pixels a table needs to show its header and ``rows`` rows without scrolling."""
    return (table.horizontalHeader().sizeHint().height() + rows * table.verticalHeader().defaultSectionSize()
            + 2 * table.frameWidth() + 4)


def is_dataset_path(path) -> bool:
    """A dataset folder (holding ground_truth.npz) or a ground_truth.npz file itself."""
    path = Path(path)
    return (path.is_dir() and (path / GROUND_TRUTH_FILE).is_file()) or path.name == GROUND_TRUTH_FILE


def parse_dims(text: str):
    """'0,1' -> (0, 1); 'all' -> None; ValueError naming the problem."""
    text = text.strip().lower()
    if text == "all":
        return None
    try:
        dims = tuple(int(v) for v in text.replace(" ", ",").split(",") if v)
    except ValueError:
        raise ValueError(f"dimensions: expected 0-based numbers separated by commas, or 'all' (got {text!r})") from None
    if not dims:
        raise ValueError("dimensions: none given")
    return dims


class WellToggles(QWidget):
    """One checkable button per well, in the well's colour; sigChanged(frozenset or None)."""

    sigChanged = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.buttons: list[QToolButton] = []
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self.all_button = QToolButton()
        self.all_button.setText("All")
        self.all_button.setToolTip("Score every well")
        self.all_button.clicked.connect(lambda: self.set_wells(None, emit=True))
        self._layout.addWidget(self.all_button)

    def set_count(self, n_wells: int) -> None:
        for button in self.buttons:
            self._layout.removeWidget(button)
            button.deleteLater()
        self.buttons = []
        for w in range(1, n_wells + 1):
            button = QToolButton()
            button.setText(str(w))
            button.setCheckable(True)
            button.setChecked(True)
            button.setToolTip(f"Score well {w}")
            colour = QColor(well_colour(w))
            text = "#000000" if colour.lightnessF() > 0.55 else "#ffffff"
            button.setStyleSheet(
                f"QToolButton {{ min-width: 20px; padding: 1px 2px; border: 1px solid #9a9a9a; "
                f"border-radius: 3px; background: #ececec; color: #8a8a8a; }}"
                f"QToolButton:checked {{ background: {colour.name()}; color: {text}; border-color: #404040; }}")
            button.toggled.connect(self._emit)
            self._layout.insertWidget(self._layout.count() - 1, button)
            self.buttons.append(button)

    def wells(self):
        chosen = frozenset(k + 1 for k, b in enumerate(self.buttons) if b.isChecked())
        return None if len(chosen) == len(self.buttons) else chosen

    def set_wells(self, wells, emit: bool = False) -> None:
        for k, button in enumerate(self.buttons):
            button.blockSignals(True)
            button.setChecked(wells is None or (k + 1) in wells)
            button.blockSignals(False)
        if emit:
            self._emit()

    def _emit(self, *_):
        if self.buttons and not any(b.isChecked() for b in self.buttons):
            self.sender().setChecked(True)  # at least one well stays scored
            return
        self.sigChanged.emit(self.wells())


class _CornerKeeper(QObject):
    """Keeps ``button`` in the top-right corner of ``view`` when the view is resized."""

    def __init__(self, view, button):
        super().__init__(view)
        self.view, self.button = view, button
        view.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Resize:
            hint = self.button.sizeHint()
            self.button.setGeometry(self.view.width() - hint.width() - 4, 2, hint.width(), hint.height())
        return False


class ComparisonTab(QWidget):
    """See the module docstring. Signals: sigStatusMessage(str)."""

    sigStatusMessage = Signal(str)

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.doc = document
        self.model = ComparisonModel(self)
        self.report_runner = JobRunner(self)
        self.report_runner.sigFinished.connect(self._report_written)
        self.report_runner.sigErrored.connect(lambda msg: self._warn("Cannot export the report", msg))
        self._report_folder = None
        self.setAcceptDrops(True)
        self._build()
        m = self.model
        m.sigLoadFailed.connect(self._warn)
        m.sigStatus.connect(self.sigStatusMessage)
        m.sigDatasetChanged.connect(self._on_dataset)
        m.sigMethodsChanged.connect(self._update_actions)
        m.sigBusyChanged.connect(self.busy_bar.setVisible)
        m.sigSettingsChanged.connect(self._show_settings)
        self.lineage.sigStatusMessage.connect(self.sigStatusMessage)
        self._update_actions()

    # --- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        files = QHBoxLayout()
        self.open_button = self._tool("Open dataset…", "Open a dataset folder (ground_truth.npz, landscape.json…)",
                                      self.open_dataset_dialog)
        self.add_button = self._tool("Add method output…", "Add method outputs (cryoDRGN z.pkl, cryoSPARC .cs, "
                                     "RELION projections, .npy/.csv…)", self.add_output_dialog)
        self.loader_combo = QComboBox()
        self.loader_combo.addItem("auto-detect", None)
        for kind in LOADABLE_KINDS:
            self.loader_combo.addItem(kind, kind)
        self.loader_combo.setToolTip("Loader for the outputs added next (auto-detect: from the file)")
        self.remove_button = self._tool("Remove method", "Remove the selected method",
                                        lambda: self.model.remove_method(self.model.current))
        self.report_button = self._tool("Export report…", "Write scores.json, CSV tables and figures "
                                        "(as main.py evaluate does) into a folder", self.export_report_dialog)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.setVisible(False)
        self.dataset_label = QLabel("No dataset")
        self.dataset_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for w in (self.open_button, self.add_button, QLabel("Loader:"), self.loader_combo, self.remove_button,
                  self.report_button):
            files.addWidget(w)
        files.addSpacing(12)
        files.addWidget(self.dataset_label, 1)
        files.addWidget(self.busy_bar)

        scoring = QHBoxLayout()
        scoring.addWidget(QLabel("Dimensions:"))
        self.dims_combo = QComboBox()
        self.dims_combo.setEditable(True)
        self.dims_combo.addItems(list(DIMS_PRESETS))
        self.dims_combo.setToolTip("Output dimensions scored, 0-based (e.g. 0,1 or 0,2,3), or 'all'")
        self.dims_combo.setMinimumWidth(80)
        self.dims_combo.lineEdit().editingFinished.connect(self._dims_edited)
        self.dims_combo.activated.connect(self._dims_edited)
        scoring.addWidget(self.dims_combo)
        scoring.addSpacing(12)
        self.core_check = QCheckBox("Core particles only")
        self.core_check.setToolTip("Leave transition particles out of the metric")
        self.core_check.toggled.connect(self._core_edited)
        scoring.addWidget(self.core_check)
        scoring.addWidget(QLabel("radius:"))
        self.radius_spin = QDoubleSpinBox()
        self.radius_spin.setRange(0.0, 180.0)
        self.radius_spin.setSingleStep(0.5)
        self.radius_spin.setDecimals(1)
        self.radius_spin.setSuffix(" °")
        self.radius_spin.setSpecialValueText("dataset's flags")
        self.radius_spin.setToolTip("Core radius around each well centre in (cc1, cc2); "
                                    "the lowest value uses the dataset's own core flags")
        self.radius_spin.setKeyboardTracking(False)
        self.radius_spin.valueChanged.connect(self._core_edited)
        scoring.addWidget(self.radius_spin)
        scoring.addSpacing(12)
        scoring.addWidget(QLabel("Wells scored:"))
        self.well_toggles = WellToggles()
        self.well_toggles.sigChanged.connect(self._wells_edited)
        scoring.addWidget(self.well_toggles)
        scoring.addStretch(1)

        self.table = ComparisonTable(self.model)
        self.recall_chart = RecallChart(self.model)
        self.confusion = ConfusionMatrixView(self.model)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.table)
        left.addWidget(self._with_export(self.recall_chart, "recall_per_well"))
        left.addWidget(self._with_export(self.confusion, "confusion"))
        self.table.setMinimumHeight(table_height(self.table, MIN_TABLE_ROWS))
        left.setChildrenCollapsible(False)
        left.setStretchFactor(0, 1)   # the table grows with the methods; the charts keep room
        left.setStretchFactor(1, 2)
        left.setStretchFactor(2, 2)
        left.setSizes([table_height(self.table, MIN_TABLE_ROWS), 320, 340])
        self.left_splitter = left
        self.lineage = LineageView(self.model)
        self.landscapes = RecoveredLandscapeView(self.model, self.doc)
        self.views = QTabWidget()
        self.views.addTab(self.lineage, "Lineage (Fig. 4)")
        self.views.addTab(self.landscapes, "Recovered landscapes (Fig. 3)")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.views)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([540, 860])
        self.placeholder = QLabel("Open a dataset folder (File ▸ Open dataset…) or drop it here,\n"
                                  "then add method outputs (cryoDRGN, cryoSPARC, RELION, RECOVAR, .npy…).")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: #606060; font-size: 15px;")
        self.pages = QStackedWidget()
        self.pages.addWidget(self.placeholder)
        self.pages.addWidget(splitter)
        layout = QVBoxLayout(self)
        layout.addLayout(files)
        layout.addLayout(scoring)
        layout.addWidget(self.pages, 1)

    def _tool(self, text, tip, slot) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    def _with_export(self, view, name: str):
        """A small "Export…" button in the view's top-right corner (PNG or SVG)."""
        button = self._tool("Export…", "Save this figure as PNG or SVG",
                            lambda: ask_and_export(self, view, name, self._dataset_folder()))
        button.setParent(view)
        button.setAutoRaise(True)
        _CornerKeeper(view, button)
        return view

    # --- files --------------------------------------------------------------------------
    def open_dataset(self, path) -> bool:
        """Open a dataset folder; with methods loaded or particles selected, ask first (they are
        discarded). False when the user keeps the current comparison."""
        m = self.model
        if m.methods or m.selection.count:
            what = ", ".join(filter(None, (f"{len(m.methods)} loaded method{'s' if len(m.methods) != 1 else ''}"
                                           if m.methods else "",
                                           f"a selection of {m.selection.count:,} particles" if m.selection.count else "")))
            answer = QMessageBox.question(
                self, "Open another dataset",
                f"Opening {Path(path).name} discards {what} (outputs are matched to one dataset's particles).",
                QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel)
            if answer not in (QMessageBox.StandardButton.Discard, QMessageBox.StandardButton.Yes,
                              QMessageBox.StandardButton.Ok):
                self.sigStatusMessage.emit("Kept the current dataset and methods")
                return False
        m.open_dataset(path)
        return True

    def add_outputs(self, paths, kind: str | None = None) -> None:
        """Add outputs with ``kind`` (default: the loader combo's choice; None detects)."""
        kind = kind if kind is not None else self.loader_combo.currentData()
        for path in paths:
            self.model.add_output(path, kind=kind)

    def open_paths(self, paths) -> None:
        """Dropped or given paths: dataset folders first, then outputs."""
        paths = [Path(p) for p in paths]
        for path in [p for p in paths if is_dataset_path(p)]:
            if not self.open_dataset(path.parent if path.is_file() else path):
                return  # the user kept the current comparison: outputs dropped with it are not added
        outputs = [p for p in paths if not is_dataset_path(p)]
        if outputs:
            self.add_outputs(outputs)

    def open_dataset_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open dataset folder", dialog_folder(self._dataset_folder()))
        if folder:
            remember_folder(Path(folder).parent)
            self.open_dataset(folder)

    def add_output_dialog(self) -> None:
        if self.model.dataset is None and not self.model.busy:
            self._warn("Cannot add method output", "Open a dataset first: outputs are matched to its particles.")
            return
        paths, _ = QFileDialog.getOpenFileNames(self, "Add method outputs", dialog_folder(self._dataset_folder()),
                                                OUTPUT_FILTER)
        if paths:
            remember_folder(paths[0])
            self.add_outputs(paths)

    def _dataset_folder(self):
        dataset = self.model.dataset
        return dataset.root if dataset is not None else None

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and all(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def _warn(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)

    # --- settings -----------------------------------------------------------------------
    def _dims_edited(self, *_):
        try:
            self.model.update_settings(dims=parse_dims(self.dims_combo.currentText()))
        except ValueError as exc:
            self.sigStatusMessage.emit(str(exc))
            self._show_settings(self.model.settings)

    def _core_edited(self, *_):
        radius = self.radius_spin.value()
        core = self.core_check.isChecked()
        # the radius matters only for core-only scoring: leave it out otherwise (no re-scoring)
        self.model.update_settings(core_only=core,
                                   core_radius_deg=radius if core and radius > self.radius_spin.minimum() else None)

    def _wells_edited(self, wells) -> None:
        self.model.update_settings(wells=wells)

    def _show_settings(self, settings) -> None:
        if self.dims_combo.currentText() != settings.dims_text:
            self.dims_combo.setEditText(settings.dims_text)
        self.well_toggles.set_wells(settings.wells)

    def _on_dataset(self, dataset) -> None:
        self.pages.setCurrentIndex(1)
        self.well_toggles.set_count(dataset.n_wells)
        self.well_toggles.set_wells(self.model.settings.wells)
        land = dataset.landscape
        name = land.name if land is not None else Path(dataset.source).name
        radius = land.core_radius_deg if land is not None else None
        self.radius_spin.blockSignals(True)
        self.radius_spin.setValue(radius or 0.0)
        self.radius_spin.blockSignals(False)
        self._core_edited()
        self.dataset_label.setText(f"<b>{name}</b> · {dataset.n_particles:,} particles · {dataset.n_wells} wells"
                                   f" · kT = {dataset.kT_kcal_per_mol:.3f} kcal/mol")
        self.dataset_label.setToolTip("\n".join((dataset.source, *dataset.notes)))
        self._update_actions()

    def _update_actions(self) -> None:
        has_methods = bool(self.model.methods)
        self.remove_button.setEnabled(has_methods)
        self.report_button.setEnabled(has_methods)

    # --- report -------------------------------------------------------------------------
    def export_report_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the comparison report into a folder",
                                                  dialog_folder(self._dataset_folder()))
        if folder:
            remember_folder(folder)
            self.export_report(folder)

    def export_report(self, folder):
        """Write the report of ``main.py evaluate`` for the loaded methods and settings into
        ``folder``; returns the files written (small data), or None while a background job
        writes it (big data: the status bar says when it is done)."""
        m = self.model
        if m.dataset is None or not m.methods:
            return None
        outputs = [e.output for e in m.methods]
        self._report_folder = Path(folder)
        if sum(o.n_rows for o in outputs) <= SYNC_REPORT_ROWS:
            return self._report_written(write_report_job(folder, m.dataset, outputs, m.settings))
        self.sigStatusMessage.emit(f"Writing the report into {folder}…")
        self.report_runner.start(write_report_job, folder, m.dataset, outputs, m.settings, name="report")
        return None

    def _report_written(self, result):
        from gui.comparison.report_figures import write_report_figures

        dataset, reports = result
        folder = self._report_folder
        written = sorted(folder.glob("*.csv")) + [folder / "scores.json"]
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            written += write_report_figures(folder, dataset, reports)
        except OSError as exc:
            self._warn("Cannot export the report", str(exc))
        finally:
            QApplication.restoreOverrideCursor()
        self.sigStatusMessage.emit(f"Wrote {len(written)} files to {folder}")
        return written

    def work_that_quitting_loses(self) -> list[str]:
        """What closing the application would lose here (empty: nothing), for a question."""
        m = self.model
        lost = []
        if m.methods:
            lost.append(f"{len(m.methods)} loaded method output{'s' if len(m.methods) != 1 else ''} "
                        "must be added again")
        if m.selection.count:
            lost.append(f"the selection of {m.selection.count:,} particles is lost (export it first)")
        return lost

    def shutdown(self) -> None:
        """Stop background work (application exit)."""
        self.model.shutdown()
        self.lineage.shutdown()
        self.report_runner.shutdown()

"""The Comparison tab: load a dataset and method outputs, score them live, look at Figs. 2-4.

Top: file actions (open a dataset, add output files or an output folder (a ManifoldEM output
folder, a RECOVAR result, a RELION job folder) with the loader detected or chosen, remove a
method, export the whole comparison as the report of ``main.py evaluate``), then the scoring
settings (output dimensions, core particles only with the dataset's flags or a core radius,
the wells scored). Left: the ideal-observer bar (gui.comparison.ceiling_panel: compute the
ceiling of a dataset made by elbench), the comparison table with its control rows, the recall
bars per well (Fig. 2b) and the confusion matrix of the selected method. Right: the lineage
view (Fig. 4, linked selection; its method path runs between the wells of the document's
designer path, and "Play in 3D" is ``lineage.sigPlayPath`` for the main window), the recovered
landscapes (Fig. 3), the ceiling against SNR (gui.comparison.snr_sweep_view) and the maps a
method lets you recover, well by well (gui.comparison.well_maps_view). Dataset folders and
output files can be dropped on the tab. Every view listens to one ``ComparisonModel``; nothing
here computes a score. A dataset that fails verification against its manifest is warned about under the file actions
(gui.comparison.dataset_check), without blocking anything.

Example::

    tab = ComparisonTab(document)
    tab.open_dataset("runs/paper-3x4")
    tab.add_outputs(["train/z.25.pkl", "pca.npy"])
    tab.open_paths(["output/ribosome"])    # a folder: as if dropped (what the folder action does)
    tab.export_report("report")            # scores.json, CSV tables and PNG figures
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFrame, QHBoxLayout, QLabel, QMessageBox, QProgressBar,
                               QScrollArea, QSizePolicy, QSplitter, QStackedWidget, QTabWidget, QVBoxLayout, QWidget)

from engine.formats.dataset import GROUND_TRUTH_FILE
from gui.comparison.ceiling_panel import CeilingPanel
from gui.comparison.comparison_model import ComparisonModel
from gui.comparison.comparison_table import ComparisonTable
from gui.comparison.dataset_check import DatasetCheck
from gui.comparison.file_loading import LOADABLE_KINDS
from gui.comparison.lineage_view import LineageView
from gui.comparison.recall_chart import ConfusionMatrixView, RecallChart
from gui.comparison.recovered_landscape_view import RecoveredLandscapeView
from gui.comparison.report_export import ReportExport
from gui.comparison.settings_strip import ScoringSettingsStrip
from gui.comparison.snr_sweep_view import SnrSweepView
from gui.comparison.tool_buttons import corner_export_button, tool_button
from gui.comparison.well_maps_view import WellMapsView
from gui.structure.load_maps_dialog import WARNING_COLOUR
from gui.widgets.figure_export import dialog_folder, remember_folder

OUTPUT_FILTER = ("Method outputs (*.pkl *.cs *.txt *.npy *.npz *.csv *.star);;All files (*)")
MIN_TABLE_ROWS = 5
DATASET_LABEL_MIN_WIDTH = 160
MAX_PROBLEMS_SHOWN = 3   # more would push the views down; the tooltip lists them all


def table_height(table, rows: int) -> int:
    """Pixels a table needs to show its header and ``rows`` rows without scrolling up and down
    (room for the horizontal scroll bar included: the columns may be wider than the pane)."""
    return (table.horizontalHeader().sizeHint().height() + rows * table.verticalHeader().defaultSectionSize()
            + table.horizontalScrollBar().sizeHint().height() + 2 * table.frameWidth() + 4)


def scrolling(widget) -> QScrollArea:
    """``widget`` in a frameless scroll area, so that its minimum width (a row of buttons) does
    not become the window's: a pane narrower than the widget scrolls instead."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    return area


class SideScroller(QScrollArea):
    """A bar (a row of controls) that scrolls sideways when it is wider than its place, and is
    as high as the bar plus, only while it is needed, the horizontal scroll bar: the bar's
    minimum width does not become the window's. Follows the bar's height as it changes (wells
    shown once a dataset opens)."""

    def __init__(self, widget, parent=None):
        super().__init__(parent)
        self.setWidget(widget)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        widget.installEventFilter(self)
        self._fit_height()

    def _fit_height(self) -> None:
        bar = self.widget()
        scrolls = bar.minimumSizeHint().width() > self.viewport().width()
        self.setFixedHeight(bar.sizeHint().height()
                            + (self.horizontalScrollBar().sizeHint().height() if scrolls else 0))

    def eventFilter(self, watched, event) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self._fit_height()
        return super().eventFilter(watched, event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_height()


def is_dataset_path(path) -> bool:
    """A dataset folder (holding ground_truth.npz) or a ground_truth.npz file itself."""
    path = Path(path)
    return (path.is_dir() and (path / GROUND_TRUTH_FILE).exists()) or path.name == GROUND_TRUTH_FILE


class ComparisonTab(QWidget):
    """See the module docstring. Signals: sigStatusMessage(str)."""

    sigStatusMessage = Signal(str)

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.doc = document
        self.model = ComparisonModel(self)
        self.report = ReportExport(self.model, self)
        self.check = DatasetCheck(self.model, self)
        self.setAcceptDrops(True)
        self._build()
        self.check.sigProblems.connect(self._show_problems)
        m = self.model
        m.sigLoadFailed.connect(self._warn)
        m.sigStatus.connect(self.sigStatusMessage)
        m.sigDatasetChanged.connect(self._on_dataset)
        m.sigMethodsChanged.connect(self._update_actions)
        m.sigBusyChanged.connect(self.busy_bar.setVisible)
        m.controls.sigStatus.connect(self.sigStatusMessage)
        m.controls.sigFailed.connect(self._warn)
        m.controls.sigChanged.connect(self._fit_table)
        for part in (self.report, self.settings_strip, self.lineage, self.check):
            part.sigStatusMessage.connect(self.sigStatusMessage)
        self._update_actions()

    # --- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        files_bar = QWidget()
        files = QHBoxLayout(files_bar)
        files.setContentsMargins(0, 0, 0, 0)
        self.open_button = tool_button("Open dataset…", "Open a dataset folder (ground_truth.npz, landscape.json…)",
                                       self.open_dataset_dialog)
        self.add_button = tool_button("Add method output…", "Add method outputs (cryoDRGN z.pkl, cryoSPARC .cs, "
                                      "RELION projections, .npy/.csv…)", self.add_output_dialog)
        self.add_folder_button = tool_button("Add output folder…", "Add a method's output folder (ManifoldEM "
                                             "output folder, RECOVAR result, RELION job folder with one "
                                             "projections file)", self.add_output_folder_dialog)
        self.loader_combo = QComboBox()
        self.loader_combo.addItem("auto-detect", None)
        for kind in LOADABLE_KINDS:
            self.loader_combo.addItem(kind, kind)
        self.loader_combo.setToolTip("Loader for the outputs added next (auto-detect: from the file)")
        self.remove_button = tool_button("Remove method", "Remove the selected method",
                                         lambda: self.model.remove_method(self.model.current))
        self.report_button = tool_button("Export report…", "Write scores.json, CSV tables and figures "
                                         "(as main.py evaluate does) into a folder", self.report.ask)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.setVisible(False)
        self.dataset_label = QLabel("No dataset")
        self.dataset_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.dataset_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # clipped, not
        self.dataset_label.setMinimumWidth(DATASET_LABEL_MIN_WIDTH)   # widening the window; the tooltip has it all
        for w in (self.open_button, self.add_button, self.add_folder_button, QLabel("Loader:"), self.loader_combo, self.remove_button,
                  self.report_button):
            files.addWidget(w)
        files.addSpacing(12)
        files.addWidget(self.dataset_label, 1)
        files.addWidget(self.busy_bar)

        self.problems_label = QLabel()   # the dataset's verification problems: a warning, not a stop
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet(f"color: {WARNING_COLOUR};")
        self.problems_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems_label.setVisible(False)

        self.settings_strip = ScoringSettingsStrip(self.model)

        self.ceiling_panel = CeilingPanel(self.model)
        self.table = ComparisonTable(self.model)
        self.recall_chart = RecallChart(self.model)
        self.confusion = ConfusionMatrixView(self.model)
        table_pane = QWidget()
        table_layout = QVBoxLayout(table_pane)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addWidget(SideScroller(self.ceiling_panel))
        table_layout.addWidget(self.table, 1)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(table_pane)
        for view, name in ((self.recall_chart, "recall_per_well"), (self.confusion, "confusion")):
            corner_export_button(self, view, name, self.model)
            left.addWidget(view)
        self.table.setMinimumHeight(table_height(self.table, MIN_TABLE_ROWS))
        left.setChildrenCollapsible(False)
        left.setStretchFactor(0, 1)   # the table grows with the methods; the charts keep room
        left.setStretchFactor(1, 2)
        left.setStretchFactor(2, 2)
        left.setSizes([table_height(self.table, MIN_TABLE_ROWS), 320, 340])
        self.left_splitter = left
        self.lineage = LineageView(self.model)
        self.lineage.follow_document(self.doc)   # the path between the Landscape tab's path's wells
        self.landscapes = RecoveredLandscapeView(self.model, self.doc)
        self.snr_sweep = SnrSweepView(self.model)
        self.well_maps = WellMapsView(self.model)
        self.views = QTabWidget()   # each view scrolls when the pane is narrower than its tool bar
        for view, title in ((self.lineage, "Lineage (Fig. 4)"), (self.landscapes, "Recovered landscapes (Fig. 3)"),
                            (self.snr_sweep, "Ceiling vs SNR"), (self.well_maps, "Maps")):
            self.views.addTab(scrolling(view), title)
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
        layout.addWidget(SideScroller(files_bar))
        layout.addWidget(self.problems_label)
        layout.addWidget(SideScroller(self.settings_strip))
        layout.addWidget(self.pages, 1)

    def show_view(self, view) -> None:
        """Bring the sub-tab holding ``view`` (self.lineage, self.landscapes…) to the front."""
        for index in range(self.views.count()):
            if self.views.widget(index).widget() is view:
                self.views.setCurrentIndex(index)
                return
        raise ValueError(f"{type(view).__name__} is not one of the Comparison tab's views")

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
        folder = QFileDialog.getExistingDirectory(self, "Open dataset folder", dialog_folder(self.model.dataset_folder))
        if folder:
            remember_folder(Path(folder).parent)
            self.open_dataset(folder)

    def _needs_dataset(self) -> bool:
        """True (and a warning) while no dataset is open or opening: outputs need its particles."""
        if self.model.dataset is None and not self.model.busy:
            self._warn("Cannot add method output", "Open a dataset first: outputs are matched to its particles.")
            return True
        return False

    def add_output_dialog(self) -> None:
        if self._needs_dataset():
            return
        paths, _ = QFileDialog.getOpenFileNames(self, "Add method outputs", dialog_folder(self.model.dataset_folder),
                                                OUTPUT_FILTER)
        if paths:
            remember_folder(paths[0])
            self.add_outputs(paths)

    def add_output_folder_dialog(self) -> None:
        """Pick an output folder; it is loaded as a dropped folder is (``open_paths``)."""
        if self._needs_dataset():
            return
        folder = QFileDialog.getExistingDirectory(self, "Add method output folder",
                                                  dialog_folder(self.model.dataset_folder))
        if folder:
            remember_folder(Path(folder).parent)
            self.open_paths([folder])

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

    def _show_problems(self, problems: list) -> None:
        """Verification problems of the dataset (gui.comparison.dataset_check): the first few
        shown, all of them in the tooltip; hidden when there are none."""
        shown = problems[:MAX_PROBLEMS_SHOWN] + ([f"… and {len(problems) - MAX_PROBLEMS_SHOWN} more"]
                                                 if len(problems) > MAX_PROBLEMS_SHOWN else [])
        self.problems_label.setText("⚠ This dataset fails verification against its manifest (scores describe the "
                                    "files as they are now):\n" + "\n".join(shown) if problems else "")
        self.problems_label.setToolTip("\n".join(problems))
        self.problems_label.setVisible(bool(problems))

    # --- state ------------------------------------------------------------------------
    def _on_dataset(self, dataset) -> None:
        self.pages.setCurrentIndex(1)
        self.settings_strip.show_dataset(dataset)
        land = dataset.landscape
        name = land.name if land is not None else Path(dataset.source).name
        self.dataset_label.setText(f"<b>{name}</b> · {dataset.n_particles:,} particles · {dataset.n_wells} wells"
                                   f" · kT = {dataset.kT_kcal_per_mol:.3f} kcal/mol")
        self.dataset_label.setToolTip("\n".join((self.dataset_label.text().replace("<b>", "").replace("</b>", ""),
                                                 dataset.source, *dataset.notes)))
        self._update_actions()

    def _fit_table(self) -> None:
        """Room for MIN_TABLE_ROWS methods and every control row without scrolling."""
        self.table.setMinimumHeight(table_height(self.table, MIN_TABLE_ROWS + len(self.model.controls.rows)))

    def _update_actions(self) -> None:
        has_methods = bool(self.model.methods)
        self.remove_button.setEnabled(has_methods)
        self.report_button.setEnabled(has_methods)

    # --- report -------------------------------------------------------------------------
    def export_report(self, folder):
        """Write the report of ``main.py evaluate`` for the loaded methods and settings into
        ``folder`` (gui.comparison.report_export): the files written, or None while a
        background job writes them."""
        return self.report.export(folder)

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
        self.snr_sweep.shutdown()
        self.well_maps.shutdown()
        self.check.shutdown()
        self.lineage.shutdown()
        self.report.shutdown()

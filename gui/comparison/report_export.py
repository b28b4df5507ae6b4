"""Exporting the whole comparison as the report of ``main.py evaluate``: scores.json, the CSV
tables (engine.scoring.comparison.write_report_job) and the PNG figures
(gui.comparison.report_figures), for the loaded methods and the current settings.

The tables are written through ``JobRunner.run``: at once for small data, by a background job
for big data (the status bar says when it is done); the figures are drawn in the GUI thread.

Example::

    report = ReportExport(model, parent=tab)
    report.sigStatusMessage.connect(status_bar.showMessage)
    report.export("report")      # the files written, or None while a background job writes them
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from engine.scoring.comparison import write_report_job
from gui.comparison.export_job import ExportJob
from gui.comparison.report_figures import write_report_figures
from gui.widgets.figure_export import dialog_folder, remember_folder


class ReportExport(ExportJob):
    """See the module docstring; ``parent`` (a widget) owns the dialogs and warnings.

    Signals: sigStatusMessage(str).
    """

    WARNING_TITLE = "Cannot export the report"

    def __init__(self, comparison, parent):
        super().__init__(comparison, parent)
        self._folder: Path | None = None
        self._files: list[Path] | None = None

    def ask(self) -> None:
        """Ask for a folder, then export into it."""
        folder = QFileDialog.getExistingDirectory(self.parent(), "Export the comparison report into a folder",
                                                  dialog_folder(self.comparison.dataset_folder))
        if folder:
            remember_folder(folder)
            self.export(folder)

    def export(self, folder) -> list[Path] | None:
        """Write the report into ``folder``; returns the files written (small data), or None
        while a background job writes it (big data), without a dataset or methods, or when
        writing failed (a warning says why)."""
        m = self.comparison
        if m.dataset is None or not m.methods:
            return None
        outputs = [e.output for e in m.methods]
        self._folder, self._files = Path(folder), None
        self.sigStatusMessage.emit(f"Writing the report into {folder}…")
        self.runner.run(write_report_job, folder, m.dataset, outputs, m.settings,
                        size=sum(o.n_rows for o in outputs), name="report")
        return self._files

    def _written(self, result) -> None:
        dataset, reports = result
        folder = self._folder
        written = sorted(folder.glob("*.csv")) + [folder / "scores.json"]
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            written += write_report_figures(folder, dataset, reports)
        except OSError as exc:
            self._warn(str(exc))
        finally:
            QApplication.restoreOverrideCursor()
        self._files = written
        self.sigStatusMessage.emit(f"Wrote {len(written)} files to {folder}")

"""What the Comparison tab's two exports (the report, a selection) share: files written
through one ``JobRunner`` (``run``: at once for small data, in the background for big), a
status line when they are written, and a warning naming the problem when they are not.

A subclass sets ``WARNING_TITLE`` and implements ``_written(result)`` (the runner's finished
value).

Example::

    class ReportExport(ExportJob):
        WARNING_TITLE = "Cannot export the report"

        def _written(self, result): ...
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox

from gui.widgets.jobs import JobRunner


class ExportJob(QObject):
    """Base of the exports; ``parent`` (a widget) owns their dialogs and warnings.

    Signals: sigStatusMessage(str).
    """

    sigStatusMessage = Signal(str)
    WARNING_TITLE = "Cannot export"

    def __init__(self, comparison, parent):
        super().__init__(parent)
        self.comparison = comparison
        self.runner = JobRunner(self)
        self.runner.sigFinished.connect(self._written)
        self.runner.sigErrored.connect(self._warn)

    def _written(self, result) -> None:
        raise NotImplementedError(f"{type(self).__name__} must say what it wrote")

    def _warn(self, message: str) -> None:
        QMessageBox.warning(self.parent(), self.WARNING_TITLE, message)

    def shutdown(self) -> None:
        """Stop files being written (application exit)."""
        self.runner.shutdown()

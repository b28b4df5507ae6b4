"""The dataset a method runs on: the Comparison tab's, or another folder picked for one run.

:class:`DatasetPicker` shows the folder (read-only, full path in the tooltip) and follows the
comparison model's dataset (``dataset_folder``, ``sigDatasetChanged``) until Browse… picks
another; "Comparison's" goes back to following it.

Example::

    picker = DatasetPicker(comparison_model)
    picker.sigChanged.connect(update_job_folder)
    picker.set_folder("/data/runs/ds2")       # this run only
    picker.folder()                            # Path('/data/runs/ds2')
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QGroupBox, QHBoxLayout, QLineEdit, QPushButton


class DatasetPicker(QGroupBox):
    """See the module docstring. Signals: sigChanged(): the run's dataset folder changed."""

    sigChanged = Signal()

    def __init__(self, comparison, parent=None):
        super().__init__("Dataset", parent)
        self.comparison = comparison
        self._override: Path | None = None
        row = QHBoxLayout(self)
        self.path_edit = QLineEdit()
        self.path_edit.setReadOnly(True)
        self.path_edit.setPlaceholderText("open a dataset on the Comparison tab, or pick a folder")
        row.addWidget(self.path_edit, 1)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setToolTip("Run on another dataset folder (for this run only)")
        self.browse_button.clicked.connect(self._browse)
        row.addWidget(self.browse_button)
        self.follow_button = QPushButton("Comparison's")
        self.follow_button.setToolTip("Run on the dataset the Comparison tab shows")
        self.follow_button.clicked.connect(lambda: self.set_folder(None))
        row.addWidget(self.follow_button)
        comparison.sigDatasetChanged.connect(lambda _: self._show())
        self._show()

    def folder(self) -> Path | None:
        """The run's dataset folder: the one picked here, else the comparison's (None: neither)."""
        if self._override is not None:
            return self._override
        folder = self.comparison.dataset_folder
        return Path(folder).resolve() if folder is not None else None

    def set_folder(self, folder) -> None:
        """Run on ``folder`` (None: follow the comparison's dataset again)."""
        self._override = Path(folder).resolve() if folder is not None else None
        self._show()

    def set_editable(self, editable: bool) -> None:
        self.browse_button.setEnabled(editable)
        self.follow_button.setEnabled(editable and self._override is not None)

    def _show(self) -> None:
        folder = self.folder()
        self.path_edit.setText(str(folder) if folder is not None else "")
        self.path_edit.setToolTip(self.path_edit.text())
        self.follow_button.setEnabled(self.browse_button.isEnabled() and self._override is not None)
        self.sigChanged.emit()

    def _browse(self) -> None:
        start = str(self.folder() or Path.cwd())
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder for this run", start)
        if folder:
            self.set_folder(folder)

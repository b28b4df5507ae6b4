"""Saving the linked selection (gui.comparison.selection): particle indices (.txt, one a line,
or .npy) or a RELION STAR subset of the dataset's particles.star.

A STAR subset reads the dataset's whole particles.star, so it is written through
``JobRunner.run``: at once for small datasets, by a background job for big ones. A file that
cannot be written is refused with a warning naming it.

Example::

    export = SelectionExport(model, parent=view)
    export.sigStatusMessage.connect(status_bar.showMessage)
    export.export("picked.star")      # the path, or None (written in the background, or refused)
    export.ask(".npy")                # a save dialog first
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from gui.comparison.export_job import ExportJob
from gui.comparison.selection import SelectionError, write_indices, write_star_subset
from gui.widgets.figure_export import remember_folder, start_path

FILTERS = {".txt": "Text, one index a line (*.txt)", ".npy": "NumPy array (*.npy)",
           ".star": "RELION STAR (*.star)"}


class SelectionExport(ExportJob):
    """See the module docstring; ``parent`` (a widget) owns the dialogs and warnings.

    Signals: sigStatusMessage(str).
    """

    WARNING_TITLE = "Cannot export selection"

    def __init__(self, comparison, parent):
        super().__init__(comparison, parent)
        self._count = 0

    def export(self, path) -> Path | None:
        """Save the selection by ``path``'s suffix: .star a RELION subset, .npy an int64 array,
        anything else text. The path once written; None while a background job writes it
        (big datasets) or when it was refused (a warning says why)."""
        path = Path(path)
        indices = self.comparison.selection.indices()
        self._count = len(indices)
        if path.suffix.lower() == ".star":
            dataset = self.comparison.dataset
            self.sigStatusMessage.emit(f"Writing {path.name}…")
            job = self.runner.run(write_star_subset, path, dataset, indices, size=dataset.n_particles,
                                  name="star subset")
            return path if job.state == "finished" else None
        try:
            write_indices(path, indices)
        except SelectionError as exc:
            self._warn(str(exc))
            return None
        self._written(path)
        return path

    def ask(self, suffix: str) -> None:
        """A save dialog for a ``suffix`` file (".txt", ".npy" or ".star"), then export."""
        path, _ = QFileDialog.getSaveFileName(self.parent(), "Export selection",
                                              start_path(f"selection{suffix}", self.comparison.dataset_folder),
                                              FILTERS[suffix])
        if path:
            remember_folder(path)
            self.export(path if Path(path).suffix else path + suffix)

    def _written(self, path) -> None:
        self.sigStatusMessage.emit(f"Wrote {self._count:,} particles to {path}")

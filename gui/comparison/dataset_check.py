"""Check each dataset the Comparison tab opens against its manifest, in the background.

A dataset whose stacks or metadata no longer match the hashes in its ``manifest.json`` (a disk
error, an interrupted copy, an edited file) scores what is on disk, not what was simulated, so
the tab warns, without blocking: engine.simulation.verify re-hashes every file (seconds to
minutes for big datasets), in this object's own job runner, never in the GUI thread. A dataset
without a manifest (a bare ground-truth file, a dataset made elsewhere) has nothing to check.

Example::

    check = DatasetCheck(model)                       # follows model.sigDatasetChanged
    check.sigProblems.connect(lambda problems: label.setText("\\n".join(problems)))
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.simulation.manifest import ManifestError, manifest_path
from engine.simulation.verify import verify_dataset
from gui.widgets.jobs import JobRunner


def verify_dataset_job(folder, *, progress=None, should_stop=None, log=None) -> list[str] | None:
    """Job (gui.widgets.jobs): the dataset's problems, one line each ([] when intact), or None
    when the folder has no manifest to check against."""
    if not manifest_path(folder).exists():
        return None
    try:
        return verify_dataset(folder)
    except (ManifestError, OSError, ValueError) as exc:  # a manifest that cannot be read is a problem too
        return [str(exc)]


class DatasetCheck(QObject):
    """Verifies every dataset ``model`` opens (see the module docstring).

    Signals: sigProblems(list): the problem lines of the current dataset, [] when it is
    intact, unverifiable, or while it is being checked; sigStatusMessage(str): for the status bar.
    """

    sigProblems = Signal(list)
    sigStatusMessage = Signal(str)

    def __init__(self, model, parent=None):
        super().__init__(parent)
        self.runner = JobRunner(self)
        self.runner.sigFinished.connect(self._on_checked)
        self.runner.sigErrored.connect(lambda message: self._on_checked([message]))
        self._folder = None
        model.sigDatasetChanged.connect(self._on_dataset)

    def _on_dataset(self, dataset) -> None:
        """A new dataset: the check of the last one is dropped (the runner ignores its result)."""
        self.sigProblems.emit([])
        self._folder = dataset.root
        if dataset.root is None:
            self.runner.cancel()
            return
        self.runner.start(verify_dataset_job, dataset.root, name=f"verify {Path(dataset.root).name}")

    def _on_checked(self, problems) -> None:
        if problems is None:
            return
        name = Path(self._folder).name
        if problems:
            self.sigStatusMessage.emit(f"{name} fails verification against its manifest: {problems[0]}"
                                + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
        else:
            self.sigStatusMessage.emit(f"{name}: every file matches its manifest")
        self.sigProblems.emit(list(problems))

    def shutdown(self) -> None:
        """Stop waiting for a check (application exit)."""
        self.runner.shutdown()

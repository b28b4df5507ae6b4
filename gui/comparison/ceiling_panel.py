"""The Comparison tab's "Ideal observer" bar, above the table: compute the ceiling on demand.

A subsample size (default gui.comparison.control_rows.DEFAULT_SUBSAMPLE: the one ``evaluate
--ceiling`` uses), where it runs (empty: processes here; or a Dask scheduler address, as the
Simulation tab's Cluster field and ``evaluate --ceiling --scheduler``), one button that reads "Compute ceiling" and, while the ideal observer runs,
"Cancel", a progress bar and a status text (the ceiling with its 95 % interval once known,
"cancelled", or the reason it cannot be computed). The work itself is the model's
``controls`` (gui.comparison.control_rows.ControlRows: background, on the simulation's
executors, local or Dask); the bar only asks and shows. For a dataset not made by elbench (or one without
maps or noise) the size and the button are disabled and the status says why
(``controls.ceiling_reason``).

Example::

    panel = CeilingPanel(model)         # a gui.comparison.comparison_model.ComparisonModel
    panel.subsample.setValue(500)
    panel.button.click()                # starts; clicking again cancels
    panel.status.text()                 # 'Ceiling 71.4 % (95 % CI 63.0-79.8) on 500 particles, 12 s'
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QWidget

from gui.comparison.control_rows import DEFAULT_SUBSAMPLE, IDEAL_BAYES
from gui.widgets.jobs import job_progress_bar

COMPUTE_TEXT = "Compute ceiling"
CANCEL_TEXT = "Cancel"
MAX_SUBSAMPLE = 3_000_000   # the largest datasets the comparison opens


class CeilingPanel(QWidget):
    """See the module docstring."""

    def __init__(self, model, parent=None):
        super().__init__(parent)
        self.model = model
        self.controls = model.controls
        self._message = ""   # the last word of the controls (cancelled, failed) while no ceiling is shown
        # running as the runner's signals say (its job's state turns "finished" in the worker
        # thread, before the last progress and the result reach this thread)
        self._running = False
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Ideal observer</b>")
        title.setToolTip("The best accuracy possible on this dataset: the posterior over conformations of each "
                         "particle, from the dataset's own maps, poses, CTF and noise (datasets made by elbench)")
        self.subsample = QSpinBox()
        self.subsample.setRange(1, MAX_SUBSAMPLE)
        self.subsample.setValue(DEFAULT_SUBSAMPLE)
        self.subsample.setGroupSeparatorShown(True)
        self.subsample.setSuffix(" particles")
        self.subsample.setToolTip("Random particles (seeded) the ideal observer looks at; all of them when the "
                                  "dataset has fewer. More: a narrower interval, minutes longer")
        self.cluster = QLineEdit()
        self.cluster.setPlaceholderText("here")
        self.cluster.setMinimumWidth(70)   # the left pane is narrow: keep "here" readable
        self.cluster.setMaximumWidth(150)
        self.cluster.setToolTip("Where the ideal observer runs: empty for processes on this machine, or a Dask "
                                "scheduler address (tcp://host:8786) whose workers see the dataset at the same path, "
                                "as in the Simulation tab's Cluster field")
        self.button = QPushButton(COMPUTE_TEXT)
        self.button.clicked.connect(self._on_button)
        self.progress = job_progress_bar()
        self.status = QLabel()
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for w in (title, QLabel("Subsample:"), self.subsample, QLabel("on"), self.cluster, self.button, self.progress):
            layout.addWidget(w)
        layout.addWidget(self.status, 1)
        self.controls.sigChanged.connect(self.refresh)
        self.controls.sigCeilingRunning.connect(self._on_running)
        self.controls.sigStatus.connect(self._on_message)
        self.controls.sigFailed.connect(lambda title, message: self._on_message(f"{title}: {message}"))
        model.sigDatasetChanged.connect(self._on_dataset)
        self.refresh()

    def _on_running(self, running: bool) -> None:
        self._running = running
        self.refresh()

    def _on_button(self) -> None:
        if self._running:
            self.controls.cancel_ceiling()
        else:
            self._message = ""
            self.controls.scheduler = self.cluster.text().strip() or None
            self.controls.compute_ceiling(self.subsample.value())

    def _on_dataset(self, _dataset) -> None:
        self._message = ""
        self.refresh()

    def _on_message(self, text: str) -> None:
        self._message = text
        self.refresh()

    def refresh(self) -> None:
        """Show the controls' state: enabled or why not, running (progress), the ceiling."""
        c = self.controls
        reason = c.ceiling_reason if self.model.dataset is not None else "open a dataset made by elbench"
        running = self._running
        self.subsample.setEnabled(not reason and not running)
        self.cluster.setEnabled(not reason and not running)
        self.button.setEnabled(not reason)
        self.button.setText(CANCEL_TEXT if running else COMPUTE_TEXT)
        self.progress.setVisible(running)
        if running:
            self.progress.setValue(round(100 * (c.progress or 0.0)))
        self.status.setText(self._status_text(reason, running))
        self.status.setToolTip(reason)

    def _status_text(self, reason: str, running: bool) -> str:
        c = self.controls
        if reason:
            return f"Unavailable: {reason}"
        if running:
            return f"Computing on {self.subsample.value():,} random particles…"
        if c.ceiling is None:
            return self._message or "Not computed"
        s, (lo, hi) = c.ceiling.ceiling, c.ceiling.ci[IDEAL_BAYES]
        text = (f"Ceiling {100 * s.accuracy:.1f} % (95 % CI {100 * lo:.1f}-{100 * hi:.1f}) on "
                f"{len(c.ceiling.subsample):,} particles, {c.ceiling.elapsed_s:.0f} s")
        return text if c.ceiling_matches() else text + " (other settings: compute again to use it)"

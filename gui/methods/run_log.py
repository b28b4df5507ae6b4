"""A method run as it goes: a progress bar with the step, its fraction and ETA, and the tool's log.

The bar shows the whole job (each step weighs the same, ``StepProgress.overall_fraction``);
the line under it names the step ("train, step 1 of 2"), its own fraction and the ETA the
step layer estimates. The log is read-only, selectable text bounded to the last
:data:`LOG_LINES` lines: a long training prints a line per batch, and an unbounded view
would grow without end.

Example::

    view = RunLog()
    view.reset("Starting cryoDRGN…")
    view.show_progress(StepProgress("train", 0.5, 30.0, 30.0, index=0, count=2))
    view.append("# [Train Epoch: 1/2] [32/64 particles] gen loss=...")
"""
from __future__ import annotations

import math

from PySide6.QtCore import QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QProgressBar, QVBoxLayout, QWidget

LOG_LINES = 5000
BAR_STEPS = 1000
STATES = {"starting": "starting", "pending": "queued", "running": "running", "done": "done"}


def format_eta(seconds: float | None) -> str:
    """``"ETA 1:02:03"`` / ``"ETA 2:05"``; ``""`` while unknown."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours}:{minutes:02d}:{secs:02d}" if hours else f"ETA {minutes}:{secs:02d}"


def describe_progress(p) -> str:
    """One line for an ``engine.methods.progress.StepProgress``: step, place, state, fraction, ETA."""
    parts = [f"{p.step}, step {p.index + 1} of {p.count}", STATES.get(p.state, p.state)]
    if p.fraction is not None:
        parts.append(f"{100 * p.fraction:.0f} %")
    eta = format_eta(p.eta_s) if p.state != "done" else ""
    if eta:
        parts.append(eta)
    return " · ".join(parts)


class RunLog(QWidget):
    """Progress bar, its line, and the log view (see the module docstring)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, BAR_STEPS)
        layout.addWidget(self.progress_bar)
        self.progress_label = QLabel("Not started")
        layout.addWidget(self.progress_label)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)  # tools align their columns
        self.log_view.setPlaceholderText("The tool's output appears here while it runs")
        self._follow = True
        self.log_view.verticalScrollBar().actionTriggered.connect(self._on_user_scroll)
        layout.addWidget(self.log_view, 1)

    def reset(self, text: str) -> None:
        """A new run: empty bar and log, ``text`` under the bar."""
        self.progress_bar.setValue(0)
        self.progress_label.setText(text)
        self.log_view.clear()
        self._follow = True

    def show_progress(self, p) -> None:
        self.progress_bar.setValue(round(BAR_STEPS * p.overall_fraction))
        self.progress_label.setText(describe_progress(p))

    def set_state(self, text: str, done: bool = False) -> None:
        """The run ended (``text``: "Complete", "Cancelled", "Failed"); ``done`` fills the bar."""
        if done:
            self.progress_bar.setValue(BAR_STEPS)
        self.progress_label.setText(text)

    def append(self, line: str) -> None:
        """Add ``line``; the view follows the end unless the user has scrolled up to read."""
        self.log_view.appendPlainText(line)
        if self._follow:
            # the cursor, unlike the scroll bar's maximum, makes the new lines laid out; at the
            # start of the last line, so that the view does not scroll sideways to its end
            self.log_view.moveCursor(QTextCursor.MoveOperation.End)
            self.log_view.moveCursor(QTextCursor.MoveOperation.StartOfBlock)
            self.log_view.ensureCursorVisible()

    def _on_user_scroll(self, _action) -> None:
        # after the action has moved the bar: at the end again means follow again
        QTimer.singleShot(0, lambda: setattr(self, "_follow", self._at_end()))

    def _at_end(self) -> bool:
        bar = self.log_view.verticalScrollBar()
        return bar.value() >= bar.maximum()

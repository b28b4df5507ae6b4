"""The ceiling against SNR: how well anything could do on this dataset's object at each SNR.

The user types SNR values (default ``DEFAULT_SNRS``) and the particles simulated per SNR; Run
calls engine.scoring.ceiling_dataset.dataset_snr_sweep in the background (one
gui.widgets.jobs.JobRunner; small samples simulated in memory with the dataset's object,
landscape, optics and defocus: no dataset on disk is needed beyond its maps) and plots the
ideal observer's accuracy (Bayes label) against SNR on a log x axis, with its 95 % interval
as error bars. Marked on it: a vertical line at the dataset's own SNR, the methods' scores
(accuracy under the current settings) as points on that line, the dataset's ideal observer
when computed (gui.comparison.control_rows), and chance (1 / wells) as a horizontal line.
Cancelling keeps the SNRs done so far. A dataset not made by elbench (or without maps) shows
the reason (``controls.sweep_reason``) and cannot run.

Example::

    view = SnrSweepView(model)          # a gui.comparison.comparison_model.ComparisonModel
    view.snr_edit.setText("0.01,0.1,1,10")
    view.run()                          # background; view.points once finished
    view.plotted()      # {"ceiling": (snrs, accuracies), "methods": {...}, "dataset_snr": 0.1, "chance": 1/12}
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

from engine.scoring.ceiling_dataset import dataset_snr_sweep
from gui.comparison.chart_style import AXIS_PEN, chart_font, style_plot
from gui.comparison.recall_chart import method_greys
from gui.widgets.jobs import JobRunner, job_progress_bar

DEFAULT_SNRS = "0.03,0.1,0.3,1,3"
DEFAULT_PARTICLES = 300     # per SNR: about ± 5 % on the accuracy, seconds per SNR at box 128
CEILING_PEN = "#1f5fa8"
DATASET_PEN = "#b00020"
METHOD_SYMBOLS = ("s", "t", "d", "p", "h", "star", "t1", "t2", "t3", "+")
RUN_TEXT, CANCEL_TEXT = "Run sweep", "Cancel"


def parse_snrs(text: str) -> list[float]:
    """'0.03, 0.1 1' -> [0.03, 0.1, 1.0] (sorted, each once); ValueError naming the problem."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    if not parts:
        raise ValueError("SNR values: none given (e.g. 0.03,0.1,0.3,1,3)")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"SNR values: expected numbers separated by commas (got {text!r})") from None
    bad = [v for v in values if not (math.isfinite(v) and v > 0)]
    if bad:
        raise ValueError(f"SNR values: each must be a number > 0 (got {bad[0]:g})")
    return sorted(set(values))


def log_ticks(lo: float, hi: float) -> list:
    """Ticks of a log10(SNR) axis from ``lo`` to ``hi``: 1 and 3 times each power of ten
    labelled (as the default SNRs), 2, 4-9 times unlabelled (pyqtgraph's own log axis labels
    every minor tick of a short range, which overlap)."""
    major, minor = [], []
    for power in range(math.floor(lo), math.ceil(hi) + 1):
        for m in range(1, 10):
            x = power + math.log10(m)
            if lo <= x <= hi:
                (major if m in (1, 3) else minor).append((x, f"{m * 10.0 ** power:g}" if m in (1, 3) else ""))
    return [major, minor]


def sweep_job(folder, snrs, n_particles: int, seed: int = 0, *, progress=None, should_stop=None, log=None):
    """Job: engine.scoring.ceiling_dataset.dataset_snr_sweep (which takes no ``log``)."""
    if log is not None:
        log(f"SNR sweep: {len(snrs)} SNRs, {n_particles} particles each")
    return dataset_snr_sweep(folder, snrs, n_particles=n_particles, seed=seed, progress=progress,
                             should_stop=should_stop)


class SnrSweepView(QWidget):
    """See the module docstring. ``points``: the last sweep's SweepPoints (SNR order)."""

    def __init__(self, model, parent=None):
        super().__init__(parent)
        self.model = model
        self.controls = model.controls
        self.points: list = []
        self.seed = 0
        self.runner = JobRunner(self)
        self.runner.sigProgress.connect(self._on_progress)
        self.runner.sigFinished.connect(self._on_done)
        self.runner.sigCancelled.connect(lambda points: self._on_done(points, cancelled=True))
        self.runner.sigErrored.connect(self._on_errored)
        self.runner.sigRunningChanged.connect(lambda _running: self._update_actions())
        self._build()
        for signal in (model.sigScoresChanged, model.sigMethodsChanged, model.sigLabelChanged):
            signal.connect(self.redraw)
        self.controls.sigChanged.connect(self.redraw)
        model.sigDatasetChanged.connect(self._on_dataset)
        self._update_actions()
        self.redraw()

    def _build(self) -> None:
        bar = QHBoxLayout()
        self.snr_edit = QLineEdit(DEFAULT_SNRS)
        self.snr_edit.setToolTip("SNR values to simulate (signal variance over noise variance inside the "
                                 "particle, as the simulator defines it), separated by commas")
        self.snr_edit.returnPressed.connect(self.run)
        self.particles = QSpinBox()
        self.particles.setRange(10, 100_000)
        self.particles.setValue(DEFAULT_PARTICLES)
        self.particles.setSuffix(" particles")
        self.particles.setToolTip("Particles simulated in memory at each SNR (the same sample at every SNR)")
        self.button = QPushButton(RUN_TEXT)
        self.button.clicked.connect(self._on_button)
        self.progress = job_progress_bar(120)
        for w in (QLabel("SNR:"), self.snr_edit, QLabel("each"), self.particles, self.button, self.progress):
            bar.addWidget(w)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("w")
        self.plot = self.canvas.addPlot()
        style_plot(self.plot)
        self.plot.setLabel("bottom", "SNR", color=AXIS_PEN)
        self.plot.setLabel("left", "Accuracy %", color=AXIS_PEN)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setYRange(0, 100, padding=0.02)
        self.legend = self.plot.addLegend(offset=(-8, -8), labelTextColor=AXIS_PEN)  # bottom right: the
        # curve rises to the right, so that corner is empty
        self.legend.setLabelTextSize(f"{chart_font().pointSizeF():g}pt")
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.canvas, 1)

    # --- running ----------------------------------------------------------------------
    def _on_button(self) -> None:
        if self.runner.is_running():
            self.runner.cancel()
        else:
            self.run()

    def run(self) -> bool:
        """Start the sweep with the typed SNRs; False (and the reason shown) when it cannot."""
        reason = self._reason()
        if reason:
            self.status.setText(f"Unavailable: {reason}")
            return False
        try:
            snrs = parse_snrs(self.snr_edit.text())
        except ValueError as exc:
            self.status.setText(str(exc))
            return False
        self.snr_edit.setText(",".join(f"{v:g}" for v in snrs))
        self.points = []
        self.redraw()
        self.runner.start(sweep_job, self.model.dataset.root, snrs, self.particles.value(), self.seed,
                          name="SNR sweep")
        self.status.setText(f"Simulating {self.particles.value():,} particles at {len(snrs)} SNRs…")
        return True

    def cancel(self) -> None:
        self.runner.cancel()

    def _on_progress(self, fraction) -> None:
        self.progress.setValue(round(100 * float(fraction)))

    def _on_done(self, points, cancelled: bool = False) -> None:
        self.points = list(points or [])
        done = f"{len(self.points)} SNR{'s' if len(self.points) != 1 else ''}"
        self.status.setText(f"Cancelled after {done}" if cancelled else
                            f"Ceiling at {done}, {self.particles.value():,} particles each (Bayes label, 95 % CI)")
        self.redraw()

    def _on_errored(self, message: str) -> None:
        self.status.setText(f"SNR sweep failed: {message}")

    def _on_dataset(self, _dataset) -> None:
        self.runner.cancel()
        self.points = []
        reason = self._reason()
        self.status.setText(f"Unavailable: {reason}" if reason else "")
        self._update_actions()
        self.redraw()

    def _reason(self) -> str:
        if self.model.dataset is None:
            return "open a dataset made by elbench"
        return self.controls.sweep_reason

    def _update_actions(self) -> None:
        running = self.runner.is_running()
        reason = self._reason()
        self.button.setEnabled(not reason)
        self.button.setText(CANCEL_TEXT if running else RUN_TEXT)
        self.button.setToolTip(reason)
        for w in (self.snr_edit, self.particles):
            w.setEnabled(not reason and not running)
        self.progress.setVisible(running)
        if running:
            self.progress.setValue(0)

    # --- drawing ----------------------------------------------------------------------
    def plotted(self) -> dict:
        """What the plot shows, in SNR and accuracy (fractions): {"ceiling": (snrs, accuracies),
        "ci": (lows, highs), "methods": {label: accuracy}, "dataset_snr": float | None,
        "chance": float | None}."""
        methods = {e.label: e.scores.accuracy for e in self.model.methods if e.scores is not None}
        return {"ceiling": ([p.snr for p in self.points], [p.accuracy for p in self.points]),
                "ci": ([p.ci[0] for p in self.points], [p.ci[1] for p in self.points]),
                "methods": methods if self.controls.dataset_snr else {},
                "dataset_snr": self.controls.dataset_snr, "chance": self._chance()}

    def _chance(self) -> float | None:
        """1 / the wells scored (the random control's expectation); None without a dataset."""
        ds, wells = self.model.dataset, self.model.settings.wells
        n = len(wells) if wells else (ds.n_wells if ds is not None else 0)
        return 1.0 / n if n else None

    def redraw(self) -> None:
        self.plot.clear()
        self.legend.clear()
        shown = self.plotted()
        xs = [p.snr for p in self.points]
        snr = shown["dataset_snr"]
        if shown["chance"] is not None:
            self.plot.addItem(pg.InfiniteLine(100 * shown["chance"], angle=0, label="chance",
                                              pen=pg.mkPen("#909090", style=Qt.PenStyle.DashLine),
                                              labelOpts={"color": "#707070", "position": 0.05}))
        if snr:
            self.plot.addItem(pg.InfiniteLine(math.log10(snr), angle=90, label=f"dataset SNR {snr:g}",
                                              pen=pg.mkPen(DATASET_PEN, style=Qt.PenStyle.DotLine),
                                              labelOpts={"color": DATASET_PEN, "position": 0.97}))
        if self.points:
            x = np.log10(xs)
            acc = 100 * np.array(shown["ceiling"][1])
            lo, hi = (100 * np.array(v) for v in shown["ci"])
            self.plot.addItem(pg.ErrorBarItem(x=x, y=acc, top=hi - acc, bottom=acc - lo, beam=0.04,
                                              pen=pg.mkPen(CEILING_PEN)))
            self.plot.addItem(pg.PlotCurveItem(x, acc, pen=pg.mkPen(CEILING_PEN, width=2)))
            dots = pg.ScatterPlotItem(x, acc, size=8, brush=CEILING_PEN, pen=None, name="ideal observer (ceiling)")
            self.plot.addItem(dots)
        if snr:
            self._draw_at_dataset(math.log10(snr), shown["methods"])
        self._set_x_range(xs + ([snr] if snr else []))

    def _draw_at_dataset(self, x: float, methods: dict) -> None:
        c = self.controls
        if c.ceiling is not None and c.ceiling_matches():
            s = c.ceiling.ceiling
            self.plot.addItem(pg.ScatterPlotItem([x], [100 * s.accuracy], symbol="o", size=11, brush=None,
                                                 pen=pg.mkPen(CEILING_PEN, width=2),
                                                 name=f"ideal observer on the dataset ({100 * s.accuracy:.1f} %)"))
        for k, ((label, accuracy), grey) in enumerate(zip(methods.items(), method_greys(len(methods)))):
            self.plot.addItem(pg.ScatterPlotItem([x], [100 * accuracy], symbol=METHOD_SYMBOLS[k % len(METHOD_SYMBOLS)],
                                                 size=10, brush=grey, pen=pg.mkPen("k"),
                                                 name=f"{label} ({100 * accuracy:.1f} %)"))

    def _set_x_range(self, snrs) -> None:
        lo, hi = (float(np.log10(min(snrs))) - 0.3, float(np.log10(max(snrs))) + 0.3) if snrs else (-2.0, 1.0)
        self.plot.setXRange(lo, hi, padding=0)
        self.plot.getAxis("bottom").setTicks(log_ticks(lo, hi))

    def shutdown(self) -> None:
        self.runner.shutdown()

"""The Comparison tab's "Maps" view: the maps a method lets you recover (issue 13).

Compute reconstructs each well from the particles the metric assigns to it under the current
settings (the current method's ``Scores.assigned``) and, beside it, from its true particles
among those the settings score (the ground truth: the ceiling of a perfect assignment; wells
left out of the settings get no map in either), with the true poses and CTF, by
``relion_reconstruct`` (engine.methods.well_map_scores.well_maps_job, in the background on one
gui.widgets.jobs.JobRunner: progress, Cancel keeps the labellings done). Each map is compared
with the well's ground-truth map ``maps/well_NN.mrc`` in a soft mask of its object: FSC 0.5
resolution, real-space correlation and the correlation of both maps low-passed to 30 A.
When the ideal observer's ceiling has been computed for these settings (the Comparison tab's
Ideal observer bar: gui.comparison.control_rows), a third labelling is its Bayes labels on
its subsample (DatasetCeiling.bayes_labels): the maps the best possible use of the images
recovers from those particles.

A table (well, then for the method, the ground truth and the ideal observer: particles, FSC
0.5 resolution in A, correlation, low-passed correlation; the mean over the wells with a map
last) and a per-well bar plot of the FSC 0.5 resolution (method grey, truth blue, ideal
observer orange; lower is finer; a well with no particle, or nothing resolved, has no bar).
The reconstructions go to a temporary folder (``job_root``; removed at shutdown), so
computing again, or for another method, reuses the ground truth's maps. Needs a dataset made
by elbench (particles.star and maps/) and RELION; otherwise the status says why and Compute
is off.

Example::

    view = WellMapsView(model)         # a gui.comparison.comparison_model.ComparisonModel
    view.max_particles.setValue(80)    # at most 80 particles a well (0: all)
    view.compute()                     # background; view.result (WellMapsJob) once finished
    view.cell_text(0, 3)               # well 1's method correlation, e.g. '0.9652'
    view.plotted()                     # {"method": (wells, resolutions A), "truth": (...), ...}
"""
from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QSpinBox, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.methods.tools import ToolMissingError
from engine.scoring.comparison import scored_particles
from engine.methods.well_map_scores import Labelling, well_maps_job
from engine.methods.well_maps import LOWPASS_A, STAR_FILE, TRUTH_MAP, WellMapOptions, require_relion_reconstruct
from gui.comparison.chart_style import AXIS_PEN, chart_font, style_plot
from gui.widgets.jobs import JobRunner, job_progress_bar

COMPUTE_TEXT, CANCEL_TEXT = "Compute maps", "Cancel"
BRUSHES = ("#8c8c8c", "#1f5fa8", "#e08a1e")      # method, truth, ideal observer
PLOTTED_NAMES = ("method", "truth", "ideal observer")
GROUP_WIDTH = 0.72                                 # the bars of one well together
GROUND_TRUTH, IDEAL_OBSERVER = "ground truth", "ideal observer"
VALUE_HEADERS = ("particles", "FSC 0.5 (Å)", "correlation", f"corr. {LOWPASS_A:g} Å")


def method_labels(scores, n_particles: int) -> np.ndarray:
    """(N,) int64: the well the metric assigns each particle ``scores`` counted, 0 elsewhere."""
    labels = np.zeros(n_particles, dtype=np.int64)
    labels[scores.particle_index] = scores.assigned
    return labels


def truth_labels(ground_truth, settings) -> np.ndarray:
    """(N,) int64: each particle's true well where ``settings`` score it, 0 elsewhere."""
    return np.where(scored_particles(ground_truth, settings), np.asarray(ground_truth.well, dtype=np.int64), 0)


def _number(value: float, spec: str) -> str:
    return "—" if math.isnan(value) else ("∞" if math.isinf(value) else format(value, spec))


class WellMapsView(QWidget):
    """See the module docstring. ``result``: the WellMapsJob shown (None: none yet)."""

    def __init__(self, model, parent=None):
        super().__init__(parent)
        self.model = model
        self.result = None
        self.job_root: Path | None = None       # made at the first Compute
        self._owns_root = False
        self._results: dict = {}                 # key -> WellMapsJob, so that going back shows it
        self._running_key = None
        self._dataset_serial = 0
        self._tool = None                        # (reconstructor, error) once asked
        self._n_labellings = 2
        self.runner = JobRunner(self)
        self.runner.sigProgress.connect(lambda f: self.progress.setValue(round(100 * float(f))))
        self.runner.sigFinished.connect(self._on_done)
        self.runner.sigCancelled.connect(lambda job: self._on_done(job, cancelled=True))
        self.runner.sigErrored.connect(self._on_errored)
        self.runner.sigRunningChanged.connect(lambda _running: self._update_actions())
        self._build()
        for signal in (model.sigCurrentChanged, model.sigScoresChanged, model.sigMethodsChanged):
            signal.connect(lambda *_: self.refresh())
        model.sigDatasetChanged.connect(self._on_dataset)
        if getattr(model, "controls", None) is not None:   # a ceiling computed or dropped: Compute includes it
            model.controls.sigChanged.connect(self.refresh)
        self.refresh()

    def _build(self) -> None:
        bar = QHBoxLayout()
        self.max_particles = QSpinBox()
        self.max_particles.setRange(0, 3_000_000)
        self.max_particles.setSpecialValueText("all")
        self.max_particles.setSuffix(" particles")
        self.max_particles.setGroupSeparatorShown(True)
        self.max_particles.setToolTip("Reconstruct each well from at most this many of its particles, drawn at "
                                      "random (the same draw for method and truth): every map then carries the "
                                      "same noise, and big wells take less time")
        self.max_particles.valueChanged.connect(lambda _v: self.refresh())
        self.button = QPushButton(COMPUTE_TEXT)
        self.button.clicked.connect(self._on_button)
        self.progress = job_progress_bar()
        for w in (QLabel("At most"), self.max_particles, QLabel("a well"), self.button, self.progress):
            bar.addWidget(w)
        bar.addStretch(1)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        caption = QLabel("Each well reconstructed from the particles the metric assigns to it, and from its true "
                         "particles, with the true poses and CTF; compared with the well's ground-truth map in a "
                         "soft mask of its object. Read the resolution with the particle count: a method that "
                         "pools wells gives a map more particles (a finer FSC) but a blur of conformations, "
                         "which the correlations show.")
        caption.setWordWrap(True)
        caption.setStyleSheet("color: #606060;")
        self.table = QTableWidget(0, 1 + 2 * len(VALUE_HEADERS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._set_headers(["method", GROUND_TRUTH])
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("w")
        self.plot = self.canvas.addPlot()
        style_plot(self.plot)
        self.plot.setLabel("bottom", "Well", color=AXIS_PEN)
        self.plot.setLabel("left", "FSC 0.5 resolution (Å), lower is finer", color=AXIS_PEN)
        self.plot.showGrid(y=True, alpha=0.2)
        self.legend = self.plot.addLegend(offset=(-8, 8), labelTextColor=AXIS_PEN)
        self.legend.setLabelTextSize(f"{chart_font().pointSizeF():g}pt")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.canvas)
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(caption)
        layout.addWidget(split, 1)

    # --- running ----------------------------------------------------------------------
    def reconstructor(self) -> tuple[str, str]:
        """("relion_reconstruct 3.1.3", "") or ("", why not): asked once (it starts the program)."""
        if self._tool is None:
            try:
                self._tool = (require_relion_reconstruct(), "")
            except ToolMissingError as exc:
                self._tool = ("", str(exc))
        return self._tool

    def reason(self) -> str:
        """Why Compute cannot run now ("" when it can)."""
        m = self.model
        if m.dataset is None:
            return "open a dataset made by elbench"
        root = m.dataset.root
        if root is None or not (Path(root) / STAR_FILE).is_file() or not (Path(root) / TRUTH_MAP.format(1)).is_file():
            return (f"{m.dataset.source}: no {STAR_FILE} and maps/well_NN.mrc (a dataset made by elbench has "
                    "them: the particles to reconstruct and the truth to compare with)")
        entry = m.current_method
        if entry is None:
            return "add a method output: its assignment is what gets reconstructed"
        if entry.scores is None:
            return f"{entry.label} is not scored ({entry.error or 'not yet'})"
        return self.reconstructor()[1]

    def _key(self):
        entry = self.model.current_method
        return (self._dataset_serial, entry.id, entry.scored_with, self.max_particles.value(), self._ceiling_key())

    def _ceiling(self):
        """The controls' DatasetCeiling when it was computed on the particles the current
        method's settings score, else None."""
        controls, entry = getattr(self.model, "controls", None), self.model.current_method
        if controls is None or entry is None or not controls.ceiling_matches(entry.scored_with):
            return None
        return controls.ceiling

    def _ceiling_key(self):
        c = self._ceiling()
        return None if c is None else (id(c), len(c.subsample), c.seed)

    def _on_button(self) -> None:
        if self.runner.is_running():
            self.runner.cancel()
        else:
            self.compute()

    def compute(self) -> bool:
        """Start the job for the current method and the ground truth; False (and why) when it cannot."""
        reason = self.reason()
        if reason:
            self.status.setText(f"Unavailable: {reason}")
            return False
        m, entry = self.model, self.model.current_method
        if self.job_root is None:
            self.job_root, self._owns_root = Path(tempfile.mkdtemp(prefix="elbench_well_maps_")), True
        n = m.dataset.n_particles
        s = entry.scores
        labellings = [Labelling(entry.label, method_labels(s, n), slug=f"method_{entry.id}",
                                note=f"the metric's assignment on dims {','.join(map(str, s.dims))}: accuracy "
                                     f"{100 * s.accuracy:.1f} % over {s.n_scored:,} particles"),
                      Labelling(GROUND_TRUTH, truth_labels(m.dataset.ground_truth, entry.scored_with),
                                slug="ground_truth", note="every scored particle in its true well")]
        ceiling = self._ceiling()
        if ceiling is not None:
            labellings.append(Labelling(IDEAL_OBSERVER, ceiling.bayes_labels(n), slug="ideal_observer",
                                        note=f"the Bayes labels on {len(ceiling.subsample):,} random particles: "
                                             f"accuracy {100 * ceiling.ceiling.accuracy:.1f} %"))
        self._n_labellings = len(labellings)
        cap = self.max_particles.value() or None
        self._running_key = self._key()
        self.progress.setValue(0)
        self.runner.start(well_maps_job, m.dataset.root, labellings, self.job_root / f"dataset_{self._dataset_serial}",
                          m.dataset.n_wells, WellMapOptions(max_particles=cap), name="well maps")
        self.status.setText(f"Reconstructing each well of {entry.label}, the ground truth"
                            + (" and the ideal observer" if ceiling is not None else "") + " with "
                            f"{self.reconstructor()[0]} (true poses and CTF)"
                            + (f", at most {cap:,} particles a well" if cap else "") + "…")
        return True

    def cancel(self) -> None:
        self.runner.cancel()

    def _on_done(self, job, cancelled: bool = False) -> None:
        key, self._running_key = self._running_key, None
        if job is None or key is None:
            return
        if not cancelled:
            self._results[key] = job
        if self.model.current_method is None or key != self._key():
            self.refresh()
            return
        self.result = job if job.maps else None
        self._show(job)
        if cancelled:
            self.status.setText(f"Cancelled after {len(job.maps)} of {self._n_labellings} labellings (the wells done "
                                "are kept: Compute again resumes)")
        self._update_actions()

    def _on_errored(self, message: str) -> None:
        self._running_key = None
        self.status.setText(f"Maps failed: {message}")
        self._update_actions()

    # --- state ------------------------------------------------------------------------
    def _on_dataset(self, _dataset) -> None:
        self.runner.cancel()
        self._running_key = None
        self._dataset_serial += 1
        self._results.clear()
        self.refresh()

    def refresh(self) -> None:
        """Show the current method's result when there is one, else why not or what Compute does."""
        reason = self.reason()
        job = None if reason else self._results.get(self._key())
        self.result = job
        if job is not None:
            self._show(job)
        else:
            self._clear()
            if reason:
                self.status.setText(f"Unavailable: {reason}")
            elif self._running_key is None:
                ideal = (", the ground truth and the ideal observer (its ceiling is computed)" if self._ceiling()
                         else " and of the ground truth (and of the ideal observer once its ceiling is computed)")
                self.status.setText(f"Compute reconstructs each well of {self.model.current_method.label}{ideal} "
                                    f"with {self.reconstructor()[0]} (true poses and CTF)")
        self._update_actions()

    def _update_actions(self) -> None:
        running = self.runner.is_running()
        self.button.setText(CANCEL_TEXT if running else COMPUTE_TEXT)
        self.button.setEnabled(running or not self.reason())
        self.max_particles.setEnabled(not running)
        self.progress.setVisible(running)

    def _set_headers(self, labels) -> None:
        self.table.setColumnCount(1 + len(labels) * len(VALUE_HEADERS))
        self.table.setHorizontalHeaderLabels(["well"] + [f"{who}\n{h}" for who in labels for h in VALUE_HEADERS])

    def _clear(self) -> None:
        self.table.setRowCount(0)
        self._set_headers([self.model.current_method.label if self.model.current_method else "method", GROUND_TRUTH])
        self.plot.clear()
        self.legend.clear()

    def _show(self, job) -> None:
        self._clear()
        if not job.maps:
            return
        maps = list(job.maps)
        self._set_headers([m.label for m in maps])
        n_wells = len(maps[0].wells)
        self.table.setRowCount(n_wells + 1)
        for row in range(n_wells + 1):
            self._set(row, 0, str(row + 1) if row < n_wells else "mean")
            for k, m in enumerate(maps):
                if row < n_wells:
                    w = m.wells[row]
                    count, values = w.count_text, w.values()
                else:
                    counted = m.with_map
                    count, values = f"{sum(w.n_particles for w in counted):,}", m.mean()
                res, _res0143, corr, smooth = values
                for j, text in enumerate((count, _number(res, ".1f"), _number(corr, ".4f"), _number(smooth, ".4f"))):
                    self._set(row, 1 + k * len(VALUE_HEADERS) + j, text)
        width = GROUP_WIDTH / len(maps)
        for k, (m, brush) in enumerate(zip(maps, BRUSHES)):
            wells, res = self._bars(m)
            if len(wells):
                bars = pg.BarGraphItem(x=wells + (k - (len(maps) - 1) / 2) * width, height=res, width=width, brush=brush,
                                       pen=pg.mkPen(brush))
                self.plot.addItem(bars)
                self.legend.addItem(bars, m.label)
        self.plot.getAxis("bottom").setTicks([[(w, str(w)) for w in range(1, n_wells + 1)]])
        self.plot.setXRange(0.4, n_wells + 0.6, padding=0)
        self.status.setText("; ".join(
            f"{m.label}: {len(m.with_map)} of {n_wells} wells, mean FSC 0.5 {_number(m.mean()[0], '.1f')} Å, "
            f"correlation {_number(m.mean()[2], '.3f')} ({_number(m.mean()[3], '.3f')} low-passed to "
            f"{job.lowpass_A:g} Å)" for m in maps) + f" · {job.reconstructor}")

    @staticmethod
    def _bars(maps) -> tuple[np.ndarray, np.ndarray]:
        """(wells, FSC 0.5 resolutions A) of the wells with a map and a finite resolution."""
        pairs = [(w.well, w.values()[0]) for w in maps.with_map if math.isfinite(w.values()[0])]
        return (np.array([p[0] for p in pairs], dtype=float), np.array([p[1] for p in pairs], dtype=float))

    def _set(self, row: int, col: int, text: str) -> None:
        item = QTableWidgetItem(text)
        if col:
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.table.setItem(row, col, item)

    # --- for tests and export ------------------------------------------------------------
    def cell_text(self, row: int, col: int) -> str:
        item = self.table.item(row, col)
        return "" if item is None else item.text()

    def plotted(self) -> dict:
        """The bars drawn: {"method": (wells, resolutions A), "truth": (...), "ideal observer":
        (...) when it was computed}."""
        found = {}
        for name, m in zip(PLOTTED_NAMES, self.result.maps if self.result is not None else ()):
            found[name] = self._bars(m)
        return found

    def shutdown(self) -> None:
        """Stop the job; remove the temporary folder of the reconstructions."""
        self.runner.shutdown()
        if self._owns_root and self.job_root is not None:
            shutil.rmtree(self.job_root, ignore_errors=True)

"""The control rows of the comparison table: ground truth, the ideal observer, random.

Shown whenever the open dataset was made by elbench (its ``manifest.json`` says so): every
method's accuracy is then read between a floor and a ceiling measured on the same dataset.

- "ground truth": the true (cc1, cc2) scored by the paper's metric (near 100 %; not exactly,
  since basins are not Voronoi cells of their centroids); "random": coordinates independent of
  the truth (chance, about 1 / wells). Both on exactly the particles the settings score (core
  filter, wells), so they follow the settings like a method; cheap (inline for small data,
  in the background for big, through JobRunner.run).
- "ideal observer (Bayes label)" and "(posterior mean)": engine.scoring.ceiling_dataset.
  dataset_ceiling on a seeded random subsample (size chosen by the user; default the one
  ``evaluate --ceiling`` uses), computed only when asked (minutes for thousands of particles),
  in the background through gui.widgets.jobs.JobRunner, with progress, cancellable. The Bayes
  label is the ceiling; each method's "of ceiling" is its accuracy over the ceiling's. The
  ceiling's particles are the dataset's (core only when the settings say so); with a core
  radius or a well subset the settings no longer match it, so it is shown but not used as a
  ceiling (fractions "—", the tooltip says why) until computed again.

Every row has its 95 % interval (engine.scoring.ceiling.accuracy_ci).

Example::

    controls = ControlRows(model)            # a gui.comparison.comparison_model.ComparisonModel
    controls.compute_ceiling(500)            # background; sigChanged on progress and at the end
    controls.rows[0].scores.accuracy         # ground truth
    controls.fraction_of_ceiling(0.31)       # None until a matching ceiling is known
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.formats.dataset_geometry import DatasetGeometryError, read_manifest_json
from engine.scoring.ceiling import accuracy_ci, ground_truth_scores, random_scores
from engine.scoring.ceiling_dataset import LABELS, CeilingError, ceiling_geometry, dataset_ceiling
from engine.scoring.comparison import scored_particles
from gui.widgets.jobs import JobRunner

#: The ideal observer's default subsample: dataset_ceiling's own default, which is also
#: ``evaluate --subsample``'s (2000), so the tab and the report agree unless the user changes it.
DEFAULT_SUBSAMPLE = inspect.signature(dataset_ceiling).parameters["n_subsample"].default
SEED = 0  # evaluate's seed for the subsample and the random control
GROUND_TRUTH, RANDOM, IDEAL_MEAN, IDEAL_BAYES = LABELS
ORDER = (GROUND_TRUTH, IDEAL_BAYES, IDEAL_MEAN, RANDOM)
KINDS = {GROUND_TRUTH: "control", RANDOM: "control", IDEAL_MEAN: "ceiling", IDEAL_BAYES: "ceiling"}
DIMS = {GROUND_TRUTH: "true cc", RANDOM: "random 2-D", IDEAL_MEAN: "posterior mean", IDEAL_BAYES: "Bayes label"}


@dataclass(frozen=True, eq=False)
class ControlRow:
    """One control row: ``scores`` (engine.scoring.metric.Scores, None until known), ``ci``
    (low, high) fractions, ``status`` a short word for the accuracy cell ("", "computing 40 %",
    "other settings"…), ``note`` the tooltip, ``fraction`` of the ceiling (the Bayes row's 1),
    """

    label: str
    scores: object = None
    ci: tuple | None = None
    status: str = ""
    note: str = ""
    fraction: float | None = None

    @property
    def kind(self) -> str:
        return KINDS[self.label]

    @property
    def dims_text(self) -> str:
        return DIMS[self.label]


def controls_job(dataset, settings, seed: int = SEED, *, progress=None, should_stop=None, log=None) -> dict:
    """Job: the ground-truth and random controls on the particles ``settings`` score.
    Returns {"dataset", "settings", GROUND_TRUTH: Scores, RANDOM: Scores} (dataset indices in
    ``particle_index``), or the same with None scores when no particle is scored."""
    gt = dataset.ground_truth
    keep = np.flatnonzero(scored_particles(gt, settings))
    result = {"dataset": dataset, "settings": settings, GROUND_TRUTH: None, RANDOM: None}
    if not len(keep):
        return result
    cc = np.stack([np.asarray(gt.cc1_deg)[keep], np.asarray(gt.cc2_deg)[keep]], axis=1)
    well = np.asarray(gt.well)[keep]
    for label, s in ((GROUND_TRUTH, ground_truth_scores(cc, well)), (RANDOM, random_scores(well, seed))):
        result[label] = replace(s, particle_index=keep[s.particle_index], core_only=settings.core_only)
    return result


def elbench_made(dataset) -> bool:
    """True when ``dataset``'s folder holds an elbench manifest (so its controls mean something)."""
    if dataset is None or dataset.root is None:
        return False
    try:
        read_manifest_json(dataset.root)
    except DatasetGeometryError:
        return False
    return True


class ControlRows(QObject):
    """See the module docstring. Signals: sigChanged() (rows changed), sigCeilingRunning(bool),
    sigStatus(str), sigFailed(str title, str message)."""

    sigChanged = Signal()
    sigCeilingRunning = Signal(bool)
    sigStatus = Signal(str)
    sigFailed = Signal(str, str)

    def __init__(self, model, parent=None):
        super().__init__(parent if parent is not None else model)
        self.model = model
        self.enabled = False
        self.ceiling_reason = "Open a dataset made by elbench"
        self.sweep_reason = self.ceiling_reason
        self.dataset_snr: float | None = None
        self.n_subsample = DEFAULT_SUBSAMPLE
        self.seed = SEED
        self.workers: int | None = None   # processes for the ideal observer (None: every CPU we may use)
        self.scheduler: str | None = None  # a Dask scheduler address to run it on instead (engine.dask_client)
        self.ceiling = None                # engine.scoring.ceiling_dataset.DatasetCeiling
        self._ceiling_core_only = False
        self._progress: float | None = None
        self._quick: dict = {}
        self._rows: list[ControlRow] = []
        self._closed = False   # after shutdown no job starts
        self.quick_runner = JobRunner(self)
        self.quick_runner.sigFinished.connect(self._on_quick)
        self.quick_runner.sigErrored.connect(lambda message: self.sigFailed.emit("Controls failed", message))
        self.ceiling_runner = JobRunner(self)
        self.ceiling_runner.sigFinished.connect(self._on_ceiling)
        self.ceiling_runner.sigCancelled.connect(self._on_ceiling_cancelled)
        self.ceiling_runner.sigErrored.connect(self._on_ceiling_errored)
        self.ceiling_runner.sigProgress.connect(self._on_ceiling_progress)
        self.ceiling_runner.sigRunningChanged.connect(self.sigCeilingRunning)
        model.sigDatasetChanged.connect(self._on_dataset)
        model.sigSettingsChanged.connect(lambda *_: self._compute_quick())

    # --- state ------------------------------------------------------------------------
    @property
    def ceiling_running(self) -> bool:
        return self.ceiling_runner.is_running()

    @property
    def progress(self) -> float | None:
        """The running ideal observer's fraction done (0-1), None when none runs."""
        return self._progress

    def ceiling_matches(self, settings=None) -> bool:
        """The ideal observer was computed on the particles ``settings`` (default the
        model's) score: no well subset, no core radius, the same core choice."""
        s = settings or self.model.settings
        return (self.ceiling is not None and s.wells is None and s.core_radius_deg is None
                and s.core_only == self._ceiling_core_only)

    def fraction_of_ceiling(self, accuracy: float) -> float | None:
        """``accuracy`` (fraction) over the ceiling's, None without a matching ceiling."""
        return self.ceiling.fraction_of_ceiling(accuracy) if self.ceiling_matches() else None

    @property
    def rows(self) -> list[ControlRow]:
        """The rows in table order (empty when the dataset is not elbench's)."""
        return self._rows

    def row(self, label: str) -> ControlRow | None:
        return next((r for r in self._rows if r.label == label), None)

    def _changed(self) -> None:
        self._rows = ([self._quick_row(GROUND_TRUTH), *self._ideal_rows(), self._quick_row(RANDOM)]
                      if self.enabled else [])
        self.sigChanged.emit()

    def _quick_row(self, label: str) -> ControlRow:
        s = self._quick.get(label)
        if s is None:
            return ControlRow(label, note="no particle scored" if self._quick else "")
        note = ("the true (cc1, cc2) scored as a method's output" if label == GROUND_TRUTH else
                f"coordinates independent of the truth (seed {self.seed}): chance is 1/{len(s.wells)} "
                f"= {100 / len(s.wells):.1f} %") + f"; on the {s.n_scored:,} particles the settings score"
        return ControlRow(label, s, accuracy_ci(s), note=note)

    def _ideal_rows(self) -> list[ControlRow]:
        if self.ceiling is None:
            if self.ceiling_reason:
                status, note = "unavailable", self.ceiling_reason
            elif self._progress is not None:
                status, note = f"computing {100 * self._progress:.0f} %", "the ideal observer is running"
            else:
                status, note = "not computed", "Compute the ceiling (above the table) to fill this row"
            return [ControlRow(label, status=status, note=note) for label in (IDEAL_BAYES, IDEAL_MEAN)]
        c = self.ceiling
        matches = self.ceiling_matches()
        where = (f"{len(c.subsample):,} random particles (seed {c.seed}{', core only' if self._ceiling_core_only else ''}), "
                 f"SNR {c.snr:g}, {c.elapsed_s:.0f} s on {c.workers} process{'es' if c.workers > 1 else ''}")
        status = "" if matches else "other settings"
        why = "" if matches else ("\nComputed on all wells with the dataset's core flags "
                                  f"({'core only' if self._ceiling_core_only else 'all particles'}); the settings "
                                  "now differ, so it is not used as the ceiling: compute it again")
        rows = []
        for label in (IDEAL_BAYES, IDEAL_MEAN):
            s = next(r for r in c.rows if r.label == label)
            what = ("the balanced Bayes label (largest posterior / prior basin mass): the ceiling" if label == IDEAL_BAYES
                    else "the paper's metric on the posterior-mean (cc1, cc2)")
            fraction = c.fraction_of_ceiling(s.accuracy) if matches and label == IDEAL_BAYES else None
            rows.append(ControlRow(label, s, c.ci[label], status, f"{what}; {where}{why}", fraction))
        return rows

    # --- controls ---------------------------------------------------------------------
    def _on_dataset(self, dataset) -> None:
        self.ceiling_runner.cancel()
        self.ceiling, self._progress, self._quick = None, None, {}
        self.enabled = elbench_made(dataset)
        self.dataset_snr = None
        self.ceiling_reason = self.sweep_reason = "" if self.enabled else "not a dataset made by elbench"
        if self.enabled:
            self.ceiling_reason = self._reason(dataset, need_noise=True)
            self.sweep_reason = self._reason(dataset, need_noise=False)
        self._changed()
        self._compute_quick()

    def _reason(self, dataset, need_noise: bool) -> str:
        try:
            geometry = ceiling_geometry(dataset.root, need_noise=need_noise)
        except CeilingError as exc:
            return str(exc)
        self.dataset_snr = geometry.snr
        return ""

    def _compute_quick(self) -> None:
        m = self.model
        if self._closed or not self.enabled or m.dataset is None:
            return
        self.quick_runner.run(controls_job, m.dataset, m.settings, self.seed, size=m.dataset.n_particles,
                              name="controls")

    def _on_quick(self, result) -> None:
        if result["dataset"] is not self.model.dataset or result["settings"] != self.model.settings:
            return  # a late result for a dataset or settings the user has already changed
        self._quick = {label: result[label] for label in (GROUND_TRUTH, RANDOM)}
        self._changed()

    # --- the ideal observer -----------------------------------------------------------
    def compute_ceiling(self, n_subsample: int | None = None) -> bool:
        """Start the ideal observer on ``n_subsample`` random particles (default the last
        size asked for); False (and a status message) when this dataset cannot have one."""
        m = self.model
        if self._closed or not self.enabled or self.ceiling_reason or m.dataset is None:
            self.sigStatus.emit(f"No ideal observer: {self.ceiling_reason or 'open a dataset made by elbench'}")
            return False
        if n_subsample is not None:
            if n_subsample < 1:
                raise ValueError(f"n_subsample: must be >= 1 (got {n_subsample})")
            self.n_subsample = int(n_subsample)
        self.ceiling, self._progress = None, 0.0
        self._ceiling_core_only = m.settings.core_only
        self.ceiling_runner.start(dataset_ceiling, m.dataset.root, self.n_subsample, seed=self.seed,
                                  workers=self.workers, core_only=self._ceiling_core_only, scheduler=self.scheduler,
                                  name="ideal observer")
        where = f" on the Dask cluster at {self.scheduler}" if self.scheduler else ""
        self.sigStatus.emit(f"Ideal observer on {min(self.n_subsample, m.dataset.n_particles):,} random "
                            f"particles{where}…")
        self._changed()
        return True

    def cancel_ceiling(self) -> None:
        self.ceiling_runner.cancel()

    def _on_ceiling_progress(self, fraction) -> None:
        self._progress = float(fraction)
        self._changed()

    def _on_ceiling(self, ceiling) -> None:
        self._progress = None
        self.ceiling = ceiling
        if ceiling is not None:
            rate = len(ceiling.subsample) / ceiling.elapsed_s if ceiling.elapsed_s > 0 else float("nan")
            self.sigStatus.emit(f"Ideal observer: {100 * ceiling.ceiling.accuracy:.1f} % on "
                                f"{len(ceiling.subsample):,} particles ({rate:.0f} particles/s)")
        self._changed()

    def _on_ceiling_cancelled(self, _result) -> None:
        self._progress = None
        self.sigStatus.emit("Ideal observer cancelled")
        self._changed()

    def _on_ceiling_errored(self, message: str) -> None:
        self._progress = None
        self.sigFailed.emit("Ideal observer failed", message)
        self._changed()

    # --- lifetime ---------------------------------------------------------------------
    def busy(self) -> bool:
        return self.quick_runner.is_running() or self.ceiling_runner.is_running()

    def shutdown(self) -> None:
        self._closed = True
        self.quick_runner.shutdown()
        self.ceiling_runner.shutdown()

"""State of the Comparison tab: a dataset, the method outputs loaded against it, the scoring
settings, their scores (kept current), the method shown, and the linked particle selection.

No widgets here: views take the model in their constructor, call its methods and redraw from
its signals. Files are read by a background job (gui.comparison.file_loading, through
gui.widgets.jobs.JobRunner), one after another in the order asked; a file that cannot be read
changes nothing and is reported by ``sigLoadFailed(title, message)``, the loader's message
naming the file. Scores follow the settings live: each change re-scores every method
(engine.scoring.comparison.score_methods: the paper's metric and the recovered landscapes)
through ``JobRunner.run``: small data at once, big data (more than
gui.widgets.jobs.SYNC_LIMIT_ROWS rows in all) in a background job that the next change
cancels, so the GUI never waits on 3,000,000 particles.

Settings: engine.scoring.comparison.ScoringSettings (output dimensions, core only with the dataset's
core flags or a core radius, the set of wells scored).

Beside the methods: ``controls`` (gui.comparison.control_rows: ground truth, random and the
ideal observer's ceiling of a dataset made by elbench) and ``latent`` (gui.comparison.
latent_columns: CryoBench's latent metrics of every row, in the background after scoring).

Example::

    model = ComparisonModel()
    model.sigScoresChanged.connect(table.refresh)
    model.open_dataset("runs/paper-3x4")
    model.add_output("train/z.25.pkl")                 # kind detected
    model.add_output("my.npy", kind="generic", label="PCA")
    model.update_settings(dims=(0, 1, 2), core_only=True, core_radius_deg=4.0)
    model.methods[0].scores.accuracy
"""
from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Signal

from engine.scoring.comparison import ScoringSettings, score_methods, scored_particles
from gui.comparison.control_rows import ControlRows
from gui.comparison.file_loading import (LOADABLE_KINDS, LoadFailure, LoadRequest, load_dataset_job,
                                         load_output_job)
from gui.comparison.latent_columns import LatentColumns
from gui.comparison.selection import SelectionModel
from gui.widgets.jobs import JobRunner


@dataclass(eq=False)
class MethodEntry:
    """One loaded method output and its current scores (None with ``error`` set when the
    settings cannot apply to it, e.g. a dimension it does not have)."""

    id: int
    label: str
    kind: str
    path: str
    output: object                  # engine.formats.loaders.MethodOutput
    scores: object = None           # engine.scoring.metric.Scores
    landscape: object = None        # engine.scoring.recovered_landscape.RecoveredLandscape (2-D choice)
    error: str = ""
    scored_with: ScoringSettings | None = None

    @property
    def display_dims(self) -> tuple[int, ...]:
        """The two output dimensions views plot: the first two scored ones, else the scored
        one and the next, else the only one (a 1-D output)."""
        dims = self.scores.dims if self.scores is not None else (0, 1)
        n = self.output.n_dims
        dims = tuple(d for d in dims if d < n) or (0,)
        if len(dims) >= 2:
            return dims[:2]
        others = [d for d in range(n) if d != dims[0]]
        return (dims[0], others[0]) if others else dims


def unique_label(label: str, taken) -> str:
    """``label``, or "label (2)", "label (3)"… the first not in ``taken`` (method names are
    table rows and report keys: they must differ)."""
    taken = set(taken)
    if label not in taken:
        return label
    k = 2
    while f"{label} ({k})" in taken:
        k += 1
    return f"{label} ({k})"


def scoring_summary(results: dict, settings: ScoringSettings) -> str:
    """Status line after scoring: "Scored 3 methods (dims 0,1)" or, when some could not be
    scored, "3 scored, 2 not scored: <first reason> (dims 0,2)"."""
    errors = [error for scores, _, error in results.values() if scores is None]
    n_ok = len(results) - len(errors)
    where = f"(dims {settings.dims_text}{', core only' if settings.core_only else ''})"
    if not errors:
        return f"Scored {n_ok} method{'s' if n_ok != 1 else ''} {where}"
    return f"{n_ok} scored, {len(errors)} not scored: {errors[0] or 'no reason given'} {where}"


class ComparisonModel(QObject):
    """See the module docstring.

    Signals:
        sigDatasetChanged(object): a new dataset (methods and selection were cleared).
        sigMethodsChanged(): a method was added or removed.
        sigLabelChanged(int, str): method at that position renamed.
        sigSettingsChanged(object): new ScoringSettings.
        sigScoresChanged(): scores (and recovered landscapes) follow the settings again.
        sigCurrentChanged(int): the method shown (position, -1 for none).
        sigBusyChanged(bool): loading or scoring in the background.
        sigLoadFailed(str, str): title, message (the loader's, naming the file).
        sigStatus(str): a short message for the status bar.
    """

    sigDatasetChanged = Signal(object)
    sigMethodsChanged = Signal()
    sigLabelChanged = Signal(int, str)
    sigSettingsChanged = Signal(object)
    sigScoresChanged = Signal()
    sigCurrentChanged = Signal(int)
    sigBusyChanged = Signal(bool)
    sigLoadFailed = Signal(str, str)
    sigStatus = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.dataset = None
        self.methods: list[MethodEntry] = []
        self.settings = ScoringSettings()
        self.truth_landscape = None
        self.current = -1
        self.selection = SelectionModel(0, parent=self)
        self._ids = itertools.count(1)
        self._queue: list[LoadRequest] = []
        self._request: LoadRequest | None = None
        self._busy = False
        self._scored_cache: tuple | None = None
        self._truth_key = None
        self.loader = JobRunner(self)
        self.loader.sigFinished.connect(self._on_loaded)
        self.loader.sigErrored.connect(self._on_load_errored)
        self.scorer = JobRunner(self)
        self.scorer.sigFinished.connect(self._apply_scores)
        self.scorer.sigProgress.connect(self._on_score_progress)
        self.scorer.sigErrored.connect(self._on_score_errored)
        for runner in (self.loader, self.scorer):
            runner.sigRunningChanged.connect(self._update_busy)
        self.controls = ControlRows(self)
        self.latent = LatentColumns(self, self.controls)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # --- state ------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def current_method(self) -> MethodEntry | None:
        return self.methods[self.current] if 0 <= self.current < len(self.methods) else None

    def index_of(self, entry_id: int) -> int:
        return next((i for i, m in enumerate(self.methods) if m.id == entry_id), -1)

    @property
    def dataset_folder(self):
        """The dataset's folder (where file dialogs start), None without a dataset."""
        return self.dataset.root if self.dataset is not None else None

    def scored_mask(self) -> np.ndarray:
        """(N,) bool: dataset particles the current settings score (cached)."""
        if self.dataset is None:
            return np.zeros(0, bool)
        key = self._particles_key()
        if self._scored_cache is None or self._scored_cache[0] != key:
            self._scored_cache = (key, scored_particles(self.dataset.ground_truth, self.settings))
        return self._scored_cache[1]

    # --- loading ----------------------------------------------------------------------
    def open_dataset(self, path) -> None:
        """Read a dataset folder (or ground-truth .npz) in the background; on success it
        replaces the current one (methods and selection cleared)."""
        self._enqueue(LoadRequest("dataset", str(path)))

    def add_output(self, path, kind: str | None = None, label: str | None = None) -> None:
        """Read a method output against the dataset in the background (kind None: detected)."""
        if kind is not None and kind not in LOADABLE_KINDS:
            raise ValueError(f"kind: must be None or one of {LOADABLE_KINDS} (got {kind!r})")
        self._enqueue(LoadRequest("output", str(path), kind, label))

    def _enqueue(self, request: LoadRequest) -> None:
        self._queue.append(request)
        self._next_load()

    def _next_load(self) -> None:
        if self._request is not None or not self._queue:
            self._update_busy()
            return
        request = self._queue.pop(0)
        if request.what == "output" and self.dataset is None:
            self.sigLoadFailed.emit("Cannot add method output",
                                    f"{request.path}: open a dataset first (outputs are matched to its particles)")
            self._next_load()
            return
        self._request = request
        name = Path(request.path).name
        self.sigStatus.emit(f"Reading {name}…")
        if request.what == "dataset":
            self.loader.start(load_dataset_job, request.path, name=f"open {name}")
        else:
            self.loader.start(load_output_job, request.path, self.dataset, request.kind, request.label,
                              name=f"load {name}")

    def _on_loaded(self, result) -> None:
        request, self._request = self._request, None
        if isinstance(result, LoadFailure):
            self.sigLoadFailed.emit(result.title, result.message)
            self.sigStatus.emit(result.message)
        elif request.what == "dataset":
            self._set_dataset(result)
        else:
            self._add_method(request, result)
        self._next_load()

    def _on_load_errored(self, message: str) -> None:
        request, self._request = self._request, None
        self.sigLoadFailed.emit("Cannot read file", f"{request.path if request else ''}: {message}")
        self._next_load()

    def _set_dataset(self, dataset) -> None:
        self.scorer.cancel()
        self.dataset = dataset
        self.methods = []
        self.current = -1
        self.truth_landscape = None
        self._scored_cache = None
        self._truth_key = None
        if self.settings.wells is not None:  # a subset of the old dataset's wells means nothing here
            self.settings = dataclasses.replace(self.settings, wells=None)
            self.sigSettingsChanged.emit(self.settings)
        self.selection.reset(dataset.n_particles)
        self.sigDatasetChanged.emit(dataset)
        self.sigMethodsChanged.emit()
        self.sigCurrentChanged.emit(-1)
        self.sigStatus.emit(f"Opened {dataset.source}: {dataset.n_particles:,} particles, {dataset.n_wells} wells")
        self._rescore()

    def _add_method(self, request: LoadRequest, output) -> None:
        label = unique_label(request.label or output.label, (m.label for m in self.methods))
        entry = MethodEntry(next(self._ids), label, output.kind, request.path,
                            dataclasses.replace(output, label=label))
        self.methods.append(entry)
        self.sigMethodsChanged.emit()
        self.sigStatus.emit(f"Added {label} ({output.kind}, {output.n_rows:,} particles)")
        self._rescore()
        if self.current < 0:
            self.set_current(len(self.methods) - 1)

    def remove_method(self, position: int) -> None:
        if not 0 <= position < len(self.methods):
            return
        del self.methods[position]
        if position < self.current or self.current >= len(self.methods):
            self.current -= 1
        if self.current < 0 and self.methods:
            self.current = 0
        self.sigMethodsChanged.emit()
        self.sigCurrentChanged.emit(self.current)

    # --- edits ------------------------------------------------------------------------
    def set_label(self, position: int, label: str) -> bool:
        """Rename method ``position``; an empty name is refused (False); a name another method
        has gets " (2)" (or the next free number) appended."""
        label = label.strip()
        entry = self.methods[position]
        if not label or label == entry.label:
            return False
        label = unique_label(label, (m.label for i, m in enumerate(self.methods) if i != position))
        if label == entry.label:
            return False
        entry.label = label
        entry.output = dataclasses.replace(entry.output, label=label)
        self.sigLabelChanged.emit(position, label)
        return True

    def set_current(self, position: int) -> None:
        position = position if 0 <= position < len(self.methods) else -1
        if position != self.current:
            self.current = position
            self.sigCurrentChanged.emit(position)

    def next_method(self, step: int = 1) -> None:
        """Show the next (step 1) or previous (step -1) method, wrapping around."""
        if self.methods:
            self.set_current((max(self.current, 0) + step) % len(self.methods))

    def set_settings(self, settings: ScoringSettings) -> None:
        if settings != self.settings:
            self.settings = settings
            self.sigSettingsChanged.emit(settings)
            self._rescore()

    def update_settings(self, **changes) -> None:
        """Change some settings (``dims=(0, 2)``, ``wells={1, 2}``...); ValueError names a bad field."""
        self.set_settings(dataclasses.replace(self.settings, **changes))

    # --- scoring ----------------------------------------------------------------------
    def _stale(self) -> dict:
        return {m.id: m.output for m in self.methods if m.scored_with != self.settings}

    def _rescore(self) -> None:
        if self.dataset is None:
            return
        stale = self._stale()
        need_truth = self._truth_key != self._particles_key()
        if not stale and not need_truth:
            return
        rows = sum(o.n_rows for o in stale.values()) + (self.dataset.n_particles if need_truth else 0)
        self.sigStatus.emit(f"Scoring {len(stale)} method{'s' if len(stale) != 1 else ''}…" if stale
                            else "Computing the ground-truth landscape…")
        self.scorer.run(score_methods, self.dataset, stale, self.settings, size=rows, name="scoring")

    def _particles_key(self):
        """What decides which particles are scored (the scored mask, the truth landscape)."""
        return (id(self.dataset), self.settings.core_only, self.settings.core_radius_deg, self.settings.wells)

    def _apply_scores(self, result) -> None:
        if result["dataset"] is not self.dataset or result["settings"] != self.settings:
            return  # a late result for a dataset or settings the user has already changed
        for entry_id, (scores, landscape, error) in result["results"].items():
            position = self.index_of(entry_id)
            if position >= 0:
                entry = self.methods[position]
                entry.scores, entry.landscape, entry.error = scores, landscape, error
                entry.scored_with = result["settings"]
        self.truth_landscape = result["truth"]
        self._truth_key = self._particles_key()
        self.sigScoresChanged.emit()
        self.sigStatus.emit(scoring_summary(result["results"], self.settings) if result["results"]
                            else f"Ready: {self.dataset.n_particles:,} particles, {self.dataset.n_wells} wells"
                            + ("" if self.methods else "; add method outputs"))
        if self._stale():  # a method was added while this job ran
            self._rescore()

    def _on_score_progress(self, fraction) -> None:
        self.sigStatus.emit(f"Scoring… {100 * float(fraction):.0f} %")

    def _on_score_errored(self, message: str) -> None:
        self.sigLoadFailed.emit("Scoring failed", message)

    def _update_busy(self, *_):
        busy = self.loader.is_running() or self.scorer.is_running() or bool(self._queue) or self._request is not None
        if busy != self._busy:
            self._busy = busy
            self.sigBusyChanged.emit(busy)

    # --- lifetime ---------------------------------------------------------------------
    def shutdown(self) -> None:
        """Cancel background work and wait for it (window close, application exit)."""
        self._queue.clear()
        self.loader.shutdown()
        self.scorer.shutdown()
        self.controls.shutdown()
        self.latent.shutdown()

    def wait_idle(self, timeout_ms: int = 60_000, background: bool = False) -> bool:
        """Process events until no file is being read and no scoring runs (tests, scripts);
        ``background``: nor the controls, the ideal observer or the latent metrics."""
        deadline = time.monotonic() + timeout_ms / 1000
        app = QCoreApplication.instance()
        while self.busy or self.loader.is_running() or self.scorer.is_running() or \
                (background and (self.controls.busy() or self.latent.busy())):
            if time.monotonic() > deadline:
                return False
            app.processEvents()
            time.sleep(0.005)
        return True

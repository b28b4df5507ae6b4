"""CryoBench's latent metrics for the table's rows, computed in the background after scoring.

For every scored method: engine.scoring.latent_metrics.latent_metrics of *all* its output
dimensions against the true (cc1, cc2) of the particles the settings score, with the engine's
default subsample and seed, as ``evaluate`` reports them (neighbourhood similarity summary
over k = 1-10 % of the subsample; information imbalance both ways). The same for two control
rows: the ground truth against itself (1 and 2 / n by construction: a check), and the ideal
observer's posterior mean on its subsample (the best neighbourhoods an estimate of each
conformation reaches at this SNR). The random control has none (chance by construction).

The metrics depend on the particles, not on the dimensions scored, so a change of dimensions
keeps them; a change of core filter or wells recomputes them. One job for all stale rows, in
this object's own JobRunner (always in the background: about a second an output); a new
scoring cancels it and starts again with what is then stale.

Example::

    latent = LatentColumns(model, controls)     # follows model.sigScoresChanged
    latent.metrics_of(model.methods[0])         # LatentMetrics, or None while computing
"""
from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.scoring.latent_metrics import latent_metrics
from gui.comparison.control_rows import GROUND_TRUTH, IDEAL_MEAN
from gui.widgets.jobs import JobRunner


def output_rows(output, particle_index: np.ndarray) -> np.ndarray:
    """Rows of ``output`` (engine.formats.loaders.MethodOutput) holding the dataset particles
    ``particle_index`` (each present exactly once, as scoring guarantees)."""
    if len(particle_index) == output.n_rows and np.array_equal(output.particle_index, particle_index):
        return np.arange(output.n_rows)
    row_of = np.full(int(max(output.particle_index.max(), particle_index.max())) + 1, -1, dtype=np.int64)
    row_of[output.particle_index] = np.arange(output.n_rows)
    return row_of[particle_index]


def latent_job(truth_deg, items: dict, *, progress=None, should_stop=None, log=None) -> dict:
    """Job: {key: (LatentMetrics | None, error)} for ``items`` {key: (particle_index (M,),
    coords (R, d), rows (M,) or None)}: the true (cc1, cc2) of ``particle_index`` (rows of
    ``truth_deg`` (N, 2) degrees) against ``coords[rows]`` (``coords`` itself when rows is None)."""
    results = {}
    for k, (key, (particle_index, coords, rows)) in enumerate(items.items()):
        if should_stop is not None and should_stop():
            break
        try:
            out = np.asarray(coords) if rows is None else np.asarray(coords)[rows]
            results[key] = (latent_metrics(truth_deg[particle_index], out), "")
        except ValueError as exc:
            results[key] = (None, str(exc))
        if progress is not None:
            progress((k + 1) / len(items))
    return results


class LatentColumns(QObject):
    """See the module docstring. Signals: sigChanged() (new metrics to show)."""

    sigChanged = Signal()

    def __init__(self, model, controls, parent=None):
        super().__init__(parent if parent is not None else model)
        self.model, self.controls = model, controls
        self._done: dict = {}     # key -> (basis it was computed on, LatentMetrics | None, error)
        self._asked: dict = {}    # key -> basis the running job computes it on
        self._truth = None
        self._closed = False   # after shutdown no job starts (a late cancel would start one)
        self.runner = JobRunner(self)
        self.runner.sigFinished.connect(self._on_finished)
        self.runner.sigCancelled.connect(self._on_finished)
        self.runner.sigErrored.connect(self._on_errored)
        model.sigDatasetChanged.connect(self._on_dataset)
        model.sigScoresChanged.connect(self.update)
        controls.sigChanged.connect(self.update)

    # --- what the table reads -------------------------------------------------------
    def metrics_of(self, entry):
        """The LatentMetrics of method ``entry`` for its current scores (None: not yet, or none)."""
        return self._lookup(entry.id, _basis(entry))[0]

    def error_of(self, entry) -> str:
        return self._lookup(entry.id, _basis(entry))[1]

    def pending(self, entry) -> bool:
        """True while ``entry``'s metrics for its current scores are not known yet."""
        basis = _basis(entry)
        return basis is not None and not _same(self._done.get(entry.id, (None,))[0], basis)

    def control_metrics(self, row):
        """The LatentMetrics of a control row (gui.comparison.control_rows.ControlRow), or None."""
        return self._lookup(row.label, row.scores)[0] if row.label in LATENT_CONTROLS else None

    def _lookup(self, key, basis) -> tuple:
        done = self._done.get(key)
        return (done[1], done[2]) if basis is not None and done is not None and _same(done[0], basis) else (None, "")

    # --- computing --------------------------------------------------------------------
    def _on_dataset(self, dataset) -> None:
        self.runner.cancel()
        self._done, self._asked = {}, {}
        gt = dataset.ground_truth
        self._truth = np.stack([np.asarray(gt.cc1_deg, dtype=np.float64), np.asarray(gt.cc2_deg, dtype=np.float64)],
                               axis=1)

    def update(self) -> None:
        """Start one job for every row whose metrics are stale (unless that job runs already)."""
        if self._closed or self.model.dataset is None or self._truth is None:
            return
        items, basis = {}, {}
        for entry in self.model.methods:
            b = _basis(entry)
            if b is not None and not _same(self._done.get(entry.id, (None,))[0], b):
                basis[entry.id] = b
                items[entry.id] = (entry.scores.particle_index, entry.output.coords,
                                   output_rows(entry.output, entry.scores.particle_index))
        for row in self.controls.rows:
            if row.label not in LATENT_CONTROLS or row.scores is None or \
                    _same(self._done.get(row.label, (None,))[0], row.scores):
                continue
            basis[row.label] = row.scores   # the control's Scores object: new scores, new metrics
            index = row.scores.particle_index
            coords = self._truth[index] if row.label == GROUND_TRUTH else self.controls.ceiling.result.mean_deg
            items[row.label] = (index, coords, None)
        if not items or (self.runner.is_running() and basis.keys() == self._asked.keys()
                         and all(_same(self._asked[k], b) for k, b in basis.items())):
            return
        self._asked = basis
        self.runner.start(latent_job, self._truth, items, name="latent metrics")

    def _on_finished(self, results) -> None:
        asked, self._asked = self._asked, {}
        for key, (metrics, error) in (results or {}).items():
            if key in asked:
                self._done[key] = (asked[key], metrics, error)
        if results:
            self.sigChanged.emit()
        self.update()  # scores that changed while the job ran

    def _on_errored(self, message: str) -> None:
        self._asked = {}
        self.model.sigStatus.emit(f"Latent metrics failed: {message}")

    def busy(self) -> bool:
        return self.runner.is_running()

    def shutdown(self) -> None:
        self._closed = True
        self.runner.shutdown()


LATENT_CONTROLS = (GROUND_TRUTH, IDEAL_MEAN)


def _basis(entry):
    """What a method's metrics depend on: its coordinates (a rename keeps them) and the particles
    scored (the core and well settings; not the dims)."""
    if entry.scores is None or entry.scored_with is None:
        return None
    return (id(entry.output.coords), dataclasses.replace(entry.scored_with, dims=(0,)))


def _same(a, b) -> bool:
    """Bases are tuples (methods, compared by value) or Scores objects (controls, by identity)."""
    return a is b or (isinstance(a, tuple) and isinstance(b, tuple) and a == b)

"""Scoring a set of method outputs with one set of choices: the engine side of the GUI's
Comparison tab (and of any script that compares methods the same way).

``ScoringSettings`` says which output dimensions are scored, whether transition particles
are left out (with the dataset's own core flags or with a core radius around each well
centre, DESIGN.md section 3) and which wells are scored. ``score_methods`` applies them to
several outputs with the paper's metric (engine.scoring.metric.score) and builds each output's
recovered landscape (engine.scoring.recovered_landscape) and that of the ground truth; it is a job
function (``progress``, ``should_stop``, ``log`` callbacks), cancelled between outputs.
``write_report_job`` writes the issue-5 report (engine.scoring.report) for the same choices.

The default dims (0, 1) score an output with a single dimension (ManifoldEM's tau) on its dim
0, with the note "1D output: scored on dim 0" (``default_dims_for``); dims a user chose that an
output lacks stay an error.

Example::

    settings = ScoringSettings(dims=(0, 1), core_only=True, core_radius_deg=4.0, wells={1, 2, 3})
    result = score_methods(dataset, {1: out_a, 2: out_b}, settings)
    scores, landscape, error = result["results"][1]
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from engine.scoring.recovered_landscape import recovered_landscape
from engine.landscape.sampling import within_radius
from engine.scoring.metric import ScoringError, score


DEFAULT_DIMS = (0, 1)
ONE_DIM_NOTE = "1D output: scored on dim 0"


def parse_dims(text: str, option: str = "dimensions"):
    """The dims a user typed: '0,1' or '0 1' -> (0, 1); 'all' -> None (every dimension);
    ValueError naming ``option`` (the CLI's "--dims", the GUI's "dimensions") otherwise."""
    text = text.strip().lower()
    if text == "all":
        return None
    try:
        dims = tuple(int(v) for v in text.replace(" ", ",").split(",") if v)
    except ValueError:
        raise ValueError(f"{option}: expected 0-based numbers separated by commas, or 'all' (got {text!r})") from None
    if not dims:
        raise ValueError(f"{option}: none given")
    return dims


def dims_from_the_end(dims, n_dims: int):
    """Negative dimensions count from the last (-1 is the last), as numpy indexes; others as
    given (scoring refuses those out of range, naming the file). None (all) stays None."""
    if dims is None:
        return None
    return tuple(d + n_dims if -n_dims <= d < 0 else d for d in dims)


def default_dims_for(output, dims, chosen: bool = False):
    """(dims, output) to score ``output`` (MethodOutput) with: the default ``dims`` (0, 1) not
    ``chosen`` by the user on a 1D output become (0,) and the output carries ONE_DIM_NOTE (so
    its scores do); anything else as given (scoring refuses a dim the output lacks)."""
    if chosen or dims is None or tuple(dims) != DEFAULT_DIMS or output.n_dims != 1:
        return dims, output
    return (0,), dataclasses.replace(output, notes=(*output.notes, ONE_DIM_NOTE))


@dataclass(frozen=True)
class ScoringSettings:
    """How methods are scored.

    dims: 0-based output dimensions (the paper uses the first two), or None for all; the
    default (0, 1) scores a 1D output on dim 0 (``default_dims_for``).
    core_only: leave transition particles out. core_radius_deg: None uses the dataset's own
    core flags; a number > 0 re-labels as transition every particle farther than this from
    its well's centre (degrees, in (cc1, cc2)). wells: 1-based wells scored, None for all.
    """

    dims: tuple[int, ...] | None = DEFAULT_DIMS
    core_only: bool = False
    core_radius_deg: float | None = None
    wells: frozenset[int] | None = None

    def __post_init__(self) -> None:
        if self.dims is not None:
            dims = tuple(int(d) for d in self.dims)
            if not dims or min(dims) < 0 or len(set(dims)) != len(dims):
                raise ValueError(f"dims: must be distinct dimensions >= 0, or None for all (got {self.dims!r})")
            object.__setattr__(self, "dims", dims)
        if self.core_radius_deg is not None and not (np.isfinite(self.core_radius_deg) and self.core_radius_deg > 0):
            raise ValueError(f"core_radius_deg: must be None or a number > 0 (got {self.core_radius_deg!r})")
        if self.wells is not None:
            wells = frozenset(int(w) for w in self.wells)
            if not wells or min(wells) < 1:
                raise ValueError(f"wells: must be a non-empty set of 1-based wells, or None (got {self.wells!r})")
            object.__setattr__(self, "wells", wells)

    @property
    def dims_text(self) -> str:
        return "all" if self.dims is None else ",".join(map(str, self.dims))


def core_mask(ground_truth, radius_deg: float) -> np.ndarray:
    """(N,) bool: particle within ``radius_deg`` of its well's centre in (cc1, cc2) degrees
    (DESIGN.md section 3: farther ones are transition particles)."""
    gt = ground_truth
    return within_radius(gt.well_centres_deg, radius_deg, gt.cc1_deg, gt.cc2_deg, gt.well)


def scoring_ground_truth(ground_truth, settings: ScoringSettings):
    """The ground truth scoring uses: the dataset's own, or with core flags for the radius."""
    if settings.core_only and settings.core_radius_deg is not None:
        return dataclasses.replace(ground_truth, core=core_mask(ground_truth, settings.core_radius_deg))
    return ground_truth


def scoring_dataset(dataset, settings: ScoringSettings):
    """``dataset`` (engine.formats.dataset.Dataset) with the ground truth scoring uses."""
    gt = scoring_ground_truth(dataset.ground_truth, settings)
    return dataset if gt is dataset.ground_truth else dataclasses.replace(dataset, ground_truth=gt)


def scored_particles(ground_truth, settings: ScoringSettings) -> np.ndarray:
    """(N,) bool: particles the settings score (core filter and well set), for any method."""
    keep = np.ones(len(ground_truth), bool)
    if settings.core_only:
        keep &= np.asarray(scoring_ground_truth(ground_truth, settings).core, dtype=bool)
    if settings.wells is not None:
        keep &= np.isin(ground_truth.well, sorted(settings.wells))
    return keep


def score_methods(dataset, outputs: dict, settings: ScoringSettings, *, progress=None,
                  should_stop=None, log=None) -> dict:
    """Score ``outputs`` {entry id: MethodOutput} with ``settings`` (a job function).

    Returns {"dataset", "settings", "results": {id: (Scores | None, RecoveredLandscape | None, error str)},
    "truth": RecoveredLandscape of the true (cc1, cc2) of the scored particles, or None}.
    """
    gt = scoring_ground_truth(dataset.ground_truth, settings)
    kT = dataset.kT_kcal_per_mol
    scored = scored_particles(dataset.ground_truth, settings)
    results = {}
    for k, (entry_id, output) in enumerate(outputs.items()):
        if should_stop is not None and should_stop():
            break
        dims, output = default_dims_for(output, settings.dims)
        try:
            s = score(gt, output, dims=dims, core_only=settings.core_only,
                      wells=None if settings.wells is None else sorted(settings.wells))
        except ScoringError as exc:
            results[entry_id] = (None, None, str(exc))
            continue
        landscape = None
        if len(s.dims) >= 2:
            rows = np.flatnonzero(scored[output.particle_index])
            landscape = recovered_landscape(output.coords[np.ix_(rows, s.dims[:2])], kT)
        results[entry_id] = (s, landscape, "")
        if progress is not None:
            progress((k + 1) / max(1, len(outputs)))
    truth = None
    cc = np.stack([np.asarray(dataset.ground_truth.cc1_deg)[scored], np.asarray(dataset.ground_truth.cc2_deg)[scored]], axis=1)
    if len(cc) and np.isfinite(cc).all():
        truth = recovered_landscape(cc, kT)
    return {"dataset": dataset, "settings": settings, "results": results, "truth": truth}


def write_report_job(folder, dataset, outputs, settings: ScoringSettings, *, progress=None,
                     should_stop=None, log=None):
    """Evaluate ``outputs`` (MethodOutputs) on ``dataset`` with ``settings`` and write the
    JSON/CSV report (engine.scoring.report) into ``folder``; returns (dataset as scored, MethodReports
    with slugs) for the figures (gui.comparison.report_figures). A job function; an output the settings
    cannot score is left out with a log line."""
    from engine.scoring.report import assign_slugs, evaluate_output, write_report

    dataset = scoring_dataset(dataset, settings)
    reports = []
    wells = None if settings.wells is None else sorted(settings.wells)
    for k, output in enumerate(outputs):
        if should_stop is not None and should_stop():
            return None
        dims, output = default_dims_for(output, settings.dims)
        try:
            reports.append(evaluate_output(dataset, output, dims=dims, core_only=settings.core_only, wells=wells))
        except ScoringError as exc:
            if log is not None:
                log(f"{output.label}: left out of the report ({exc})")
        if progress is not None:
            progress((k + 1) / max(1, len(outputs)))
    reports = assign_slugs(reports)
    write_report(folder, dataset, reports)
    return dataset, reports

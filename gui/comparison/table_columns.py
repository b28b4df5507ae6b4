"""The comparison table's columns and what each cell says, for method rows and control rows.

Method rows (one per loaded output) and control rows (gui.comparison.control_rows: ground
truth, the ideal observer, random) share the columns, so a method reads between its floor and
its ceiling in one glance: accuracy with its 95 % confidence interval
(engine.scoring.ceiling.accuracy_ci, independent binomial recalls), the fraction of the
ideal observer's ceiling, and CryoBench's latent metrics (gui.comparison.latent_columns) of all
the output's dimensions. ``cell_text(row, col)`` is what the table shows; ``sort_value`` what
it sorts by (numbers as numbers, "not there" lowest).

Example::

    cell_text(method_row, COL_CI)            # '58.1-64.3'
    cell_text(control_row, COL_FRACTION)     # '1.000' (the ceiling itself)
"""
from __future__ import annotations

import math

from engine.scoring.ceiling import accuracy_ci

COLUMNS = ("Method", "Kind", "Accuracy %", "95 % CI", "Std recall %", "Of ceiling", "Particles", "Dims",
           "Neighb. sim.", "Δ truth→out", "Δ out→truth")
(COL_METHOD, COL_KIND, COL_ACCURACY, COL_CI, COL_STD, COL_FRACTION, COL_SCORED, COL_DIMS,
 COL_NEIGHBOURS, COL_II_TO_OUTPUT, COL_II_TO_TRUTH) = range(len(COLUMNS))
NUMBER_COLUMNS = (COL_ACCURACY, COL_CI, COL_STD, COL_FRACTION, COL_SCORED, COL_NEIGHBOURS, COL_II_TO_OUTPUT,
                  COL_II_TO_TRUTH)
LATENT_COLUMNS = (COL_NEIGHBOURS, COL_II_TO_OUTPUT, COL_II_TO_TRUTH)
NO_VALUE = "—"
PENDING = "…"

HEADER_TIPS = (
    "Method name (double-click to edit); controls in grey italics below the methods",
    "Loader used to read the output",
    "Mean recall over the wells scored (the paper's Accuracy)",
    "95 % confidence interval of the accuracy (per-well recalls as independent binomials)",
    "Population standard deviation of the per-well recalls",
    "Accuracy as a fraction of the ideal observer's (Bayes label) ceiling on this dataset",
    "Particles that entered the metric (after core and well filters)",
    "Output dimensions the metric used (0-based) / dimensions in the output",
    "CryoBench neighbourhood similarity: mean fraction of each particle's k nearest true neighbours also "
    "among its k nearest in the output, over k = 1-10 % of a subsample (as evaluate reports it); "
    "1 = perfect, about 0.055 = chance",
    "Information imbalance Δ(truth → output) (Glielmo et al.): near 0, true neighbours stay neighbours "
    "in the output; near 1, the truth says nothing about the output",
    "Information imbalance Δ(output → truth): near 0, output neighbours are true neighbours; near 1, "
    "the output says nothing about the truth",
)


def percent(value: float) -> str:
    return f"{100 * value:.2f}"


def ci_text(ci) -> str:
    return NO_VALUE if ci is None else f"{100 * ci[0]:.1f}-{100 * ci[1]:.1f}"


def fraction_text(value) -> str:
    return NO_VALUE if value is None or not math.isfinite(value) else f"{value:.3f}"


def latent_text(metrics, col: int, pending: bool = False) -> str:
    if metrics is None:
        return PENDING if pending else NO_VALUE
    return f"{latent_value(metrics, col):.3f}"


def latent_value(metrics, col: int) -> float:
    return {COL_NEIGHBOURS: metrics.similarity_summary, COL_II_TO_OUTPUT: metrics.imbalance_truth_to_output,
            COL_II_TO_TRUTH: metrics.imbalance_output_to_truth}[col]


def method_ci(scores):
    """The 95 % interval of a method's accuracy (None without scores)."""
    return None if scores is None else accuracy_ci(scores)


def method_text(entry, col: int, fraction, latent, latent_pending: bool) -> str:
    """A method row's cell (not the name): ``fraction`` of the ceiling (None: no ceiling),
    ``latent`` its LatentMetrics (None: not (yet) computed)."""
    s = entry.scores
    if col == COL_KIND:
        return entry.kind
    if col in LATENT_COLUMNS:
        return latent_text(latent, col, latent_pending and s is not None)
    if s is None:
        if col == COL_ACCURACY and entry.error:
            return f"{NO_VALUE} ({short_reason(entry)})"
        return NO_VALUE
    if col == COL_ACCURACY:
        return percent(s.accuracy)
    if col == COL_CI:
        return ci_text(method_ci(s))
    if col == COL_STD:
        return percent(s.recall_std)
    if col == COL_FRACTION:
        return fraction_text(fraction)
    if col == COL_SCORED:
        return f"{s.n_scored:,}"
    if col == COL_DIMS:
        n = entry.output.n_dims
        return f"all {n}" if len(s.dims) == n and n > 2 else f"{','.join(map(str, s.dims))} of {n}"
    return ""


def method_sort_value(entry, col: int, fraction, latent):
    s = entry.scores
    if col == COL_METHOD:
        return entry.label.lower()
    if col == COL_KIND:
        return entry.kind
    if col in LATENT_COLUMNS:
        return -1.0 if latent is None else latent_value(latent, col)
    if s is None:
        return -1.0
    if col == COL_FRACTION:
        return -1.0 if fraction is None or not math.isfinite(fraction) else fraction
    return {COL_ACCURACY: s.accuracy, COL_CI: method_ci(s)[0], COL_STD: s.recall_std, COL_SCORED: float(s.n_scored),
            COL_DIMS: float(len(s.dims))}[col]


def short_reason(entry) -> str:
    """Why ``entry`` is not scored, short enough for a table cell: "dims 0,2: output has 2
    dims" when the settings ask for a dimension the output lacks, else the engine's message
    (cut to 60 characters; the tooltip has it whole)."""
    settings = entry.scored_with
    n = entry.output.n_dims
    if settings is not None and settings.dims is not None and max(settings.dims) >= n:
        return f"dims {settings.dims_text}: output has {n} dim{'s' if n != 1 else ''}"
    text = entry.error.strip().splitlines()[0] if entry.error.strip() else "not scored"
    return text if len(text) <= 60 else text[:59] + "…"


def control_text(row, col: int, latent=None) -> str:
    """A control row's cell (gui.comparison.control_rows.ControlRow)."""
    s = row.scores
    if col == COL_METHOD:
        return row.label
    if col == COL_KIND:
        return row.kind
    if col in LATENT_COLUMNS:
        return latent_text(latent, col)
    if s is None:
        return row.status if col == COL_ACCURACY else NO_VALUE
    if col == COL_ACCURACY:
        return percent(s.accuracy) + (f" ({row.status})" if row.status else "")
    if col == COL_CI:
        return ci_text(row.ci)
    if col == COL_STD:
        return percent(s.recall_std)
    if col == COL_FRACTION:
        return fraction_text(row.fraction)
    if col == COL_SCORED:
        return f"{s.n_scored:,}"
    if col == COL_DIMS:
        return row.dims_text
    return ""

"""The ceiling and its controls beside the methods: table rows, JSON and report files.

Every method's accuracy is read between the floor ("random", chance) and the ceiling (the
ideal observer's Bayes label, engine.scoring.ceiling_dataset) measured on a subsample of the
same dataset, and as a fraction of that ceiling. Each accuracy has its 95 % confidence
interval (engine.scoring.ceiling.accuracy_ci: independent binomial recalls per well).

- :func:`ceiling_table`: Table 1 style text, the four control/ceiling rows, then the methods
  with their CI and fraction of the ceiling;
- :func:`ceiling_json`: {"subsample", "seed", "snr", ..., "controls", "ceiling", "methods",
  "snr_sweep"} (fractions 0..1);
- :func:`write_ceiling_files`: ``ceiling.json``, ``ceiling.csv`` and (when swept)
  ``snr_sweep.csv`` in a report folder.

Example::

    c = dataset_ceiling("runs/ds1", 2000)
    print(ceiling_table(c, reports))                       # reports: engine.scoring.report.MethodReport
    doc = ceiling_json(c, reports, sweep=dataset_snr_sweep("runs/ds1", [0.1, 1]))
    write_ceiling_files("report/", c, reports, sweep)
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from engine.atomic_files import write_text_atomic
from engine.scoring.ceiling import accuracy_ci


def ceiling_table(ceiling, reports=()) -> str:
    """Rows: the controls and the ceiling (subsample), then each method (its own particles)."""
    rows = [(s.label, s.accuracy, ceiling.ci[s.label], s.recall_std, s.n_scored) for s in ceiling.rows]
    rows += [(r.output.label, r.scores.accuracy, accuracy_ci(r.scores), r.scores.recall_std, r.scores.n_scored)
             for r in reports]
    width = max(len(label) for label, *_ in rows + [("method",)])
    top = ceiling.ceiling.accuracy
    lines = [f"Floor and ceiling: {len(ceiling.subsample)} random particles (seed {ceiling.seed}), SNR "
             f"{ceiling.snr:g}; 95 % CI; methods on their own particles, also as a fraction of the ceiling",
             f"{'method':<{width}}  {'accuracy %':>10}  {'95 % CI':>13}  {'std of recall %':>15}  {'scored':>9}  "
             f"{'of ceiling':>10}"]
    for k, (label, accuracy, (lo, hi), std, n) in enumerate(rows):
        fraction = ""  # the controls and the posterior mean are not read against the ceiling
        if k >= len(ceiling.rows) - 1:
            fraction = f"{accuracy / top:.3f}" if top > 0 else "-"
        lines.append(f"{label:<{width}}  {100 * accuracy:>10.2f}  {f'{100 * lo:.1f}-{100 * hi:.1f}':>13}  "
                     f"{100 * std:>15.2f}  {n:>9}  {fraction:>10}")
    return "\n".join(lines)


def ceiling_json(ceiling, reports=(), sweep=None) -> dict:
    """The ceiling object of ``evaluate --json`` and ``ceiling.json`` (module docstring)."""
    doc = ceiling.as_dict()
    doc["methods"] = [{"label": r.output.label, "accuracy": r.scores.accuracy, "ci": list(accuracy_ci(r.scores)),
                       "n_scored": r.scores.n_scored, "fraction_of_ceiling": _finite(ceiling.fraction_of_ceiling(r.scores.accuracy))}
                      for r in reports]
    doc["snr_sweep"] = [] if sweep is None else [{"snr": p.snr, "accuracy": p.accuracy, "ci": list(p.ci)}
                                                 for p in sweep]
    return doc


def write_ceiling_files(folder, ceiling, reports=(), sweep=None) -> list[Path]:
    """Write ``ceiling.json``, ``ceiling.csv`` (one row per control, ceiling and method) and,
    with a sweep, ``snr_sweep.csv`` into ``folder``; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    doc = ceiling_json(ceiling, reports, sweep)
    files = {"ceiling.json": json.dumps(doc, indent=2) + "\n",
             "ceiling.csv": _csv([["row", "label", "accuracy_pct", "ci_low_pct", "ci_high_pct", "n_scored",
                                   "fraction_of_ceiling"]] +
                                 [[kind, r["label"], _pct(r["accuracy"]), _pct(r["ci"][0]), _pct(r["ci"][1]),
                                   r.get("n_scored", ""), "" if r.get("fraction_of_ceiling") is None
                                   else f"{r['fraction_of_ceiling']:.4f}"]
                                  for kind in ("controls", "ceiling", "methods") for r in doc[kind]])}
    if sweep is not None:
        files["snr_sweep.csv"] = _csv([["snr", "ceiling_accuracy_pct", "ci_low_pct", "ci_high_pct"]] +
                                      [[f"{p.snr:g}", _pct(p.accuracy), _pct(p.ci[0]), _pct(p.ci[1])]
                                       for p in sweep])
    for name, text in files.items():
        write_text_atomic(folder / name, text)
    return [folder / name for name in files]


def sweep_table(sweep, dataset_snr: float | None = None) -> str:
    """The SNR sweep as text: SNR, ceiling accuracy % and its 95 % CI, the dataset's SNR marked."""
    lines = ["SNR sweep (ideal observer, Bayes label, particles simulated in memory):",
             f"{'SNR':>8}  {'accuracy %':>10}  {'95 % CI':>13}"]
    for p in sweep:
        mark = "  <- this dataset" if dataset_snr is not None and math.isclose(p.snr, dataset_snr) else ""
        lines.append(f"{p.snr:>8g}  {100 * p.accuracy:>10.2f}  {f'{100 * p.ci[0]:.1f}-{100 * p.ci[1]:.1f}':>13}{mark}")
    return "\n".join(lines)


def _finite(value: float):
    return value if math.isfinite(value) else None


def _pct(value: float) -> str:
    return f"{100 * value:.4f}"


def _csv(rows) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()

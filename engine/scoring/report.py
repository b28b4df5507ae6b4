"""Evaluate method outputs against a dataset and write the scores as JSON and CSV.

``evaluate_output`` bundles everything the report shows for one output: the metric on the
chosen dimensions and on all dimensions, the recovered landscape of the first two chosen
dimensions, and the per-well comparison. ``write_report`` writes, into a folder:

- ``scores.json``: every number (format_version 1; fractions 0..1, kcal/mol);
- ``scores.csv``: one row per method and choice of dimensions (accuracy and spread in %);
- ``recall_per_well.csv``: the paper's SI table, one row per well, one column per method;
- ``confusion_<method>.csv`` and ``confusion_<method>_all_dims.csv``: rows ground-truth
  well, columns assigned well;
- ``wells_<method>.csv``: occupancy and delta-G per well, ground truth vs recovered;
- ``latent_metrics.csv``: CryoBench's neighbourhood similarity and information imbalance of
  each output's full dimensions against the true (cc1, cc2) (engine.scoring.latent_metrics);
- ``paths_<method>.csv``: per neighbouring well pair, true vs recovered barrier and visit
  sequence, and the pair's share of the path-agreement score (engine.scoring.path_agreement);
- ``occupancy_<name>.csv`` for occupancy maps (no per-particle scores).

Example::

    reports = [evaluate_output(ds, load_output(p, ds)) for p in paths]
    print(table1(reports))
    write_report("report", ds, reports)
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.atomic_files import write_text_atomic
from engine.scoring.latent_metrics import LatentMetrics, latent_metrics
from engine.scoring.path_agreement import PathAgreement, path_agreement_of
from engine.scoring.recovered_landscape import RecoveredLandscape, WellComparison, compare_wells, recovered_landscape
from engine.scoring.metric import Scores, score

FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class MethodReport:
    """One output's evaluation: scores on the chosen dims and on all dims, the recovered
    landscape of the first two chosen dims (None for a 1-D choice), the per-well comparison,
    and the latent metrics of all dims (None when not asked for or without true cc), and the
    path agreement (None without a 2-D landscape, a designed landscape or true cc)."""

    output: object
    scores: Scores
    scores_all_dims: Scores
    landscape: RecoveredLandscape | None
    comparison: WellComparison
    slug: str = ""
    latent: LatentMetrics | None = None
    paths: PathAgreement | None = None


def evaluate_output(dataset, output, dims=(0, 1), core_only: bool = False, wells=None,
                    latent: bool = False) -> MethodReport:
    """Score ``output`` (MethodOutput) on ``dataset`` (engine.formats.dataset.Dataset);
    ``latent``: also CryoBench's latent metrics on the particles scored with all dims."""
    gt = dataset.ground_truth
    chosen = score(gt, output, dims=dims, core_only=core_only, wells=wells)
    all_dims = chosen if len(chosen.dims) == output.n_dims else \
        score(gt, output, dims=None, core_only=core_only, wells=wells)
    landscape = None
    if len(chosen.dims) >= 2:
        scored_rows = _rows_of(output, chosen.particle_index)
        landscape = recovered_landscape(output.coords[np.ix_(scored_rows, chosen.dims[:2])], gt.kT_kcal_per_mol)
    return MethodReport(output, chosen, all_dims, landscape, compare_wells(chosen, landscape, gt.kT_kcal_per_mol),
                        latent=_latent_of(gt, output, all_dims) if latent else None,
                        paths=path_agreement_of(dataset, chosen, landscape))


def _latent_of(gt, output, scores: Scores) -> LatentMetrics | None:
    """Latent metrics of all of ``output``'s dimensions against the true (cc1, cc2) of the
    particles ``scores`` counted; None for a ground truth without true coordinates."""
    truth = np.column_stack([gt.cc1_deg, gt.cc2_deg])[scores.particle_index]
    if not np.all(np.isfinite(truth)):
        return None
    return latent_metrics(truth, output.coords[_rows_of(output, scores.particle_index)])


def _rows_of(output, particle_index: np.ndarray) -> np.ndarray:
    """Rows of ``output`` holding ``particle_index`` (each present exactly once)."""
    if len(particle_index) == output.n_rows:
        return np.arange(output.n_rows)
    row_of = np.full(output.n_particles, -1, dtype=np.int64)
    row_of[output.particle_index] = np.arange(output.n_rows)
    return row_of[particle_index]


def table1(reports) -> str:
    """The paper's Table 1: method, accuracy (%) and standard deviation of recall (%).

    A row whose accuracy leaves out wells with no scored particle ends with "! over k of m
    wells, missing [...]" (Scores.missing_wells)."""
    width = max([len("method")] + [len(r.output.label) for r in reports])
    lines = [f"{'method':<{width}}  {'dims':>9}  {'accuracy %':>10}  {'std of recall %':>15}  {'scored':>9}"]
    for r in reports:
        for s in (r.scores,) + ((r.scores_all_dims,) if r.scores_all_dims is not r.scores else ()):
            lines.append(f"{r.output.label:<{width}}  {_dims_text(s.dims, r.output.n_dims):>9}  "
                         f"{100 * s.accuracy:>10.2f}  {100 * s.recall_std:>15.2f}  {s.n_scored:>9}"
                         + (f"  ! over {len(s.wells)} of {len(s.wells) + len(s.missing_wells)} wells, "
                            f"missing {list(s.missing_wells)}" if s.missing_wells else ""))
    return "\n".join(lines)


def latent_table(reports) -> str:
    """CryoBench's latent metrics, one row per output that has them ("" when none has)."""
    rows = [r for r in reports if r.latent is not None]
    if not rows:
        return ""
    width = max([len("method")] + [len(r.output.label) for r in rows])
    lines = [f"{'method':<{width}}  {'dims':>5}  {'particles':>9}  {'neighbourhood similarity':>24}  "
             f"{'imbalance truth->output':>23}  {'output->truth':>13}"]
    for r in rows:
        m = r.latent
        lines.append(f"{r.output.label:<{width}}  {m.output_dims:>5}  {m.n_used:>9}  {m.similarity_summary:>24.3f}  "
                     f"{m.imbalance_truth_to_output:>23.3f}  {m.imbalance_output_to_truth:>13.3f}")
    return "\n".join(lines)


def paths_table(reports) -> str:
    """One line per output with a path agreement: score, same routes, barrier error ("" when none)."""
    rows = [r for r in reports if r.paths is not None]
    width = max([len("method")] + [len(r.output.label) for r in rows])
    return "\n".join(f"{r.output.label:<{width}}  {r.paths.summary_line()}" for r in rows)


def methods_json(reports) -> dict:
    """{"methods": [{"label", "accuracy", "recall_std", "recall": {well: r}, "n_scored", "dims",
    "latent"}]} for the chosen dimensions (fractions 0..1; well numbers as JSON keys; "latent"
    is LatentMetrics.as_dict() or null)."""
    return {"methods": [{"label": r.output.label, "accuracy": r.scores.accuracy,
                         "recall_std": r.scores.recall_std,
                         "recall": {str(w): v for w, v in r.scores.recall_by_well().items()},
                         "n_scored": r.scores.n_scored, "dims": list(r.scores.dims),
                         "missing_wells": list(r.scores.missing_wells),
                         "latent": _json_safe(r.latent.as_dict()) if r.latent is not None else None,
                         "paths": _json_safe(r.paths.as_dict()) if r.paths is not None else None}
                        for r in reports]}


def write_report(folder, dataset, reports, occupancy_maps=()) -> list[Path]:
    """Write the JSON and CSV files (module docstring) into ``folder``; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    reports = assign_slugs(reports)
    written = []

    def put(name: str, text: str) -> None:
        write_text_atomic(folder / name, text)
        written.append(folder / name)

    put("scores.json", json.dumps(_json_safe(report_dict(dataset, reports, occupancy_maps)), indent=2) + "\n")
    put("scores.csv", _csv([["method", "kind", "dims", "accuracy_pct", "recall_std_pct", "n_scored",
                             "n_dropped", "core_only"]] +
                           [[r.output.label, r.output.kind, " ".join(map(str, s.dims)), f"{100 * s.accuracy:.4f}",
                             f"{100 * s.recall_std:.4f}", s.n_scored, s.n_dropped, s.core_only]
                            for r in reports for s in _both(r)]))
    wells = sorted({int(w) for r in reports for w in r.scores.wells})
    rows = [["well", "n_particles"] + [f"{r.output.label} recall_pct" for r in reports]]
    gt_counts = np.bincount(dataset.ground_truth.well, minlength=dataset.n_wells + 1)
    for w in wells:
        rows.append([w, int(gt_counts[w])] + [_pct(r.scores.recall_by_well().get(w)) for r in reports])
    rows.append(["accuracy", ""] + [_pct(r.scores.accuracy) for r in reports])
    rows.append(["std", ""] + [_pct(r.scores.recall_std) for r in reports])
    put("recall_per_well.csv", _csv(rows))
    for r in reports:
        put(f"confusion_{r.slug}.csv", _confusion_csv(r.scores))
        if r.scores_all_dims is not r.scores:
            put(f"confusion_{r.slug}_all_dims.csv", _confusion_csv(r.scores_all_dims))
        c = r.comparison
        put(f"wells_{r.slug}.csv", _csv(
            [["well", "gt_occupancy", "recovered_occupancy", "gt_dG_kcal_per_mol", "recovered_dG_kcal_per_mol",
              "centre_G_kcal_per_mol"]] +
            [[int(w), f"{a:.6g}", f"{b:.6g}", f"{g:.6g}", f"{h:.6g}", f"{k:.6g}"]
             for w, a, b, g, h, k in zip(c.wells, c.gt_occupancy, c.recovered_occupancy, c.gt_dG_kcal,
                                         c.recovered_dG_kcal, c.centre_G_kcal)]))
        if r.paths is not None:
            put(f"paths_{r.slug}.csv", _csv(r.paths.csv_rows()))
    latent = [r for r in reports if r.latent is not None]
    if latent:
        put("latent_metrics.csv", _csv(
            [["method", "output_dims", "n_used", "neighbourhood_similarity", "imbalance_truth_to_output",
              "imbalance_output_to_truth"]] +
            [[r.output.label, r.latent.output_dims, r.latent.n_used, f"{r.latent.similarity_summary:.6g}",
              f"{r.latent.imbalance_truth_to_output:.6g}", f"{r.latent.imbalance_output_to_truth:.6g}"]
             for r in latent]))
    for om in occupancy_maps:
        g = om.free_energy(dataset.kT_kcal_per_mol)
        put(f"occupancy_{slugify(om.label)}.csv", _csv(
            [["bin", "count", "G_kcal_per_mol"]] +
            [[i, int(n), f"{e:.6g}"] for i, (n, e) in enumerate(zip(om.counts.ravel(), g.ravel()))]))
    return written


def report_dict(dataset, reports, occupancy_maps=()) -> dict:
    """Everything in scores.json, as plain Python values."""
    return {
        "format_version": FORMAT_VERSION,
        "dataset": dataset.source,
        "n_particles": dataset.n_particles,
        "kT_kcal_per_mol": dataset.kT_kcal_per_mol,
        "methods": [_method_dict(r) for r in reports],
        "occupancy_maps": [{"label": om.label, "source": om.path, "shape": list(om.counts.shape),
                            "n_counted": om.n_counted,
                            "note": "an occupancy map has no per-particle assignment: no recall or accuracy"}
                           for om in occupancy_maps],
    }


def _method_dict(r: MethodReport) -> dict:
    out = r.output
    c = r.comparison
    return {"label": out.label, "kind": out.kind, "sources": list(out.sources), "dim_names": list(out.dim_names),
            "n_rows": out.n_rows, "n_dropped": out.n_dropped, "notes": list(r.scores.notes),
            **_scores_dict(r.scores), "all_dims": _scores_dict(r.scores_all_dims),
            "wells_comparison": {"wells": c.wells.tolist(), "gt_occupancy": c.gt_occupancy.tolist(),
                                 "recovered_occupancy": c.recovered_occupancy.tolist(),
                                 "gt_dG_kcal_per_mol": c.gt_dG_kcal.tolist(),
                                 "recovered_dG_kcal_per_mol": c.recovered_dG_kcal.tolist(),
                                 "centre_G_kcal_per_mol": c.centre_G_kcal.tolist(),
                                 "spearman_rho": c.spearman_rho, "spearman_rho_centre": c.spearman_rho_centre},
            "landscape": None if r.landscape is None else {
                "extent": list(r.landscape.extent), "bins": list(r.landscape.counts.shape[::-1]),
                "n_outside": r.landscape.n_outside},
            "latent": None if r.latent is None else r.latent.as_dict(),
            "paths": None if r.paths is None else r.paths.as_dict()}


def _scores_dict(s: Scores) -> dict:
    return {"dims": list(s.dims), "accuracy": s.accuracy, "recall_std": s.recall_std,
            "recall": {str(w): v for w, v in s.recall_by_well().items()}, "n_scored": s.n_scored,
            "core_only": s.core_only, "wells": s.wells.tolist(), "n_true": s.n_true.tolist(),
            "confusion": s.confusion.tolist(), "centres": s.centres.tolist(),
            "missing_wells": list(s.missing_wells)}


def assign_slugs(reports) -> list[MethodReport]:
    """Give each report a unique file-name-safe slug derived from its label."""
    seen: dict[str, int] = {}
    result = []
    for r in reports:
        base = slugify(r.output.label)
        seen[base] = seen.get(base, 0) + 1
        slug = base if seen[base] == 1 else f"{base}_{seen[base]}"
        result.append(replace(r, slug=slug))
    return result


def slugify(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.") or "method"


def _both(r: MethodReport):
    return (r.scores,) if r.scores_all_dims is r.scores else (r.scores, r.scores_all_dims)


def _dims_text(dims, n_dims: int) -> str:
    return "all" if len(dims) == n_dims and len(dims) > 2 else ",".join(map(str, dims))


def _confusion_csv(s: Scores) -> str:
    header = ["true\\assigned"] + [f"well {w}" for w in s.wells]
    return _csv([header] + [[f"well {w}"] + row.tolist() for w, row in zip(s.wells, s.confusion)])


def _pct(value) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def _csv(rows) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _json_safe(value):
    """NaN and infinities become null (JSON has neither)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value

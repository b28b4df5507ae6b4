"""Score method outputs against a dataset's ground truth (the paper's Table 1) and write a report.

DATASET is a dataset folder (ground_truth.npz, landscape.json, ...) or a ground-truth .npz.
Each OUTPUT is a method's result: cryoDRGN z.N.pkl / umap.pkl, cryoSPARC .cs, RELION
*_projections_along_eigenvectors_all_particles.txt, RECOVAR folder / embeddings.pkl /
latent_coords.npy, a generic .npy/.npz/.csv/.txt/.star table, or a ManifoldEM S2_OM occupancy
map (shown, not scored: it has no per-particle assignment). --label, --kind and --ind are
given once per OUTPUT in order (or once for all); "-" leaves that OUTPUT's value unset.

Prints, per output, accuracy (mean per-well recall) and the standard deviation of recall on the
chosen dimensions (default 0,1; an output with one dimension, ManifoldEM's tau, is then scored
on dim 0 with the note "1D output: scored on dim 0", while a --dims it lacks is an error) and on
all dimensions (a row ending "! over k of m wells, missing [...]" averages over fewer wells than
asked for: the method left no scored particle in those; a note line says why), then CryoBench's latent metrics of all dimensions (neighbourhood similarity,
information imbalance both ways; --no-latent leaves them out), and writes REPORT_DIR:
scores.json, scores.csv, recall_per_well.csv, confusion_*.csv, wells_*.csv,
latent_metrics.csv, paths_*.csv (each output's path agreement: true vs recovered minimum-energy
paths between neighbouring wells, one line each in the printed output) and PNG figures (recall bars, lineage scatter, recovered landscape). --json prints only {"methods": [...]} (fractions 0..1) and
writes the report only when --out is given.

--ceiling adds the floor and the ceiling (a dataset made by elbench, with its maps): rows
"ground truth", "random", "ideal observer (posterior mean)" and "ideal observer (Bayes label)"
on a random subsample (--subsample N, default 2000) with 95 % CIs, every method's accuracy as
a fraction of the ceiling (engine.scoring.ceiling_dataset), and with --snr-sweep the ceiling
at other SNRs (particles simulated in memory); --json gets a "ceiling" object, the report
ceiling.json, ceiling.csv and snr_sweep.csv. OUTPUTs may then be left out. --scheduler
tcp://HOST:PORT runs the ideal observer on a Dask cluster's workers instead of local processes.

Example::

    python main.py evaluate runs/paper-3x4 train/z.25.pkl J42_particles.cs --label cryoDRGN \\
        --label 3DVA --dims 0,1 --out report
    python main.py evaluate runs/paper-3x4 train/z.25.pkl --ceiling --subsample 2000 --snr-sweep 0.1,1,10
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_OUT = "evaluate_report"


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DATASET", help="dataset folder or ground-truth .npz")
    parser.add_argument("outputs", metavar="OUTPUT", nargs="*", help="method output files or folders "
                                                                     "(at least one unless --ceiling)")
    parser.add_argument("--dims", help="output dimensions to score, 0-based, comma separated (negative "
                                       "counts from the last, as in numpy: -1,0), or 'all' (default 0,1; "
                                       "a 1D output is then scored on dim 0, with a note)")
    parser.add_argument("--label", action="append", metavar="NAME", help="method name, once per OUTPUT")
    parser.add_argument("--kind", action="append", metavar="KIND",
                        help="cryodrgn, cryosparc, relion_multibody, recovar, manifoldem, "
                             "manifoldem_occupancy or generic (default: detected)")
    parser.add_argument("--ind", action="append", metavar="FILE",
                        help="particle-index file of a run given --ind (cryoDRGN, RECOVAR)")
    parser.add_argument("--zdim", type=int, help="RECOVAR embedding to use (default: the largest)")
    parser.add_argument("--core-only", action="store_true", help="leave transition particles out")
    parser.add_argument("--wells", metavar="N,N,...", help="score only these wells (1-based)")
    parser.add_argument("--out", metavar="REPORT_DIR", help=f"report folder (default ./{DEFAULT_OUT})")
    parser.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    parser.add_argument("--no-figures", action="store_true", help="write JSON and CSV only")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier report in REPORT_DIR")
    parser.add_argument("--no-latent", action="store_true",
                        help="leave out CryoBench's latent metrics (neighbourhood similarity, "
                             "information imbalance; about a second per output)")
    parser.add_argument("--ceiling", action="store_true",
                        help="add the controls and the ideal-observer ceiling (an elbench dataset folder)")
    parser.add_argument("--subsample", type=int, default=2000, metavar="N",
                        help="particles the ceiling is computed on (default 2000; seed 0)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="with --ceiling: run the ideal observer on this Dask scheduler's workers (as simulate "
                             "--scheduler; they must see the dataset at the same path)")
    parser.add_argument("--snr-sweep", metavar="SNR,SNR,...",
                        help="with --ceiling: the ceiling at these SNRs too, e.g. 0.03,0.1,0.3,1,3")
    parser.add_argument("--sweep-particles", type=int, default=300, metavar="N",
                        help="particles simulated per SNR of the sweep (default 300)")


def main(args: argparse.Namespace) -> int:
    from engine.formats.dataset import DatasetError, load_dataset
    from engine.formats.loaders import LoaderError, detect_kind, load_occupancy_map, load_output
    from engine.scoring.report import assign_slugs, evaluate_output, write_report
    from engine.scoring.metric import ScoringError
    from engine.scoring.ceiling_dataset import CeilingError, ceiling_geometry
    from engine.scoring.comparison import DEFAULT_DIMS, default_dims_for, dims_from_the_end, parse_dims

    try:
        dims = DEFAULT_DIMS if args.dims is None else parse_dims(args.dims, "--dims")
        wells = _parse_ints(args.wells, "--wells") if args.wells else None
        labels = _per_output(args.label, args.outputs, "--label", broadcast=False)
        kinds = _per_output(args.kind, args.outputs, "--kind")
        inds = _per_output(args.ind, args.outputs, "--ind")
        snrs = _parse_snrs(args.snr_sweep) if args.snr_sweep else None
        if args.subsample < 1 or args.sweep_particles < 1:
            raise ValueError("--subsample and --sweep-particles: need at least 1 particle")
    except ValueError as exc:
        return _fail(str(exc))
    if not args.outputs and not args.ceiling:
        return _fail("give at least one OUTPUT (or --ceiling for the controls and the ceiling alone)")
    if args.snr_sweep and not args.ceiling:
        return _fail("--snr-sweep needs --ceiling")
    if args.scheduler and not args.ceiling:
        return _fail("--scheduler needs --ceiling (it runs the ideal observer)")
    folder = Path(args.out or DEFAULT_OUT) if args.out or not args.json else None
    if folder is not None and not args.overwrite and _holds_files(folder):
        return _fail(f"{folder}: already holds files (an earlier report?); give --overwrite to "
                     "replace them, or another --out")
    say = (lambda text: print(text, file=sys.stderr)) if args.json else print
    try:
        dataset = load_dataset(args.dataset)
        if args.ceiling:  # refuse a dataset that cannot have one before the outputs are scored
            ceiling_geometry(args.dataset)
        reports, maps = [], []
        for path, label, kind, ind in zip(args.outputs, labels, kinds, inds):
            kind = kind or detect_kind(path)
            if kind == "manifoldem_occupancy":
                maps.append(load_occupancy_map(path, label=label))
                continue
            output = load_output(path, dataset, kind, label=label, ind=ind,
                                 zdim=args.zdim if kind == "recovar" else None)
            chosen, output = default_dims_for(output, dims_from_the_end(dims, output.n_dims), args.dims is not None)
            reports.append(evaluate_output(dataset, output, dims=chosen, core_only=args.core_only, wells=wells,
                                           latent=not args.no_latent))
        ceiling, sweep = _ceiling(args, snrs, say) if args.ceiling else (None, None)
    except (DatasetError, LoaderError, ScoringError, CeilingError) as exc:
        return _fail(str(exc))
    reports = assign_slugs(reports)
    print_scores(dataset, reports, maps, core_only=args.core_only, as_json=args.json, ceiling=ceiling, sweep=sweep)
    if folder is None:
        return 0
    try:
        written = write_report(folder, dataset, reports, maps)
        figure_writer = getattr(args, "figure_writer", None)
        if not args.no_figures and figure_writer is not None:
            written += figure_writer(folder, dataset, reports, maps)
        if ceiling is not None:
            from engine.scoring.ceiling_report import write_ceiling_files

            written += write_ceiling_files(folder, ceiling, reports, sweep)
    except OSError as exc:
        print(f"error: cannot write the report in {folder}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    say(f"wrote {len(written)} files to {folder}")
    return 0


def print_scores(dataset, reports, maps=(), core_only: bool = False, as_json: bool = False, ceiling=None,
                 sweep=None) -> None:
    """Print the scores of ``reports`` (MethodReport) and ``maps`` (OccupancyMap) on ``dataset``:
    a line on the dataset and its notes, Table 1, the latent metrics, each output's notes, and
    with a ``ceiling`` (engine.scoring.ceiling_dataset.DatasetCeiling) its controls, the
    methods as fractions of it and the SNR ``sweep``. With ``as_json`` these go to stderr and
    stdout holds only {"methods": [...]} (and "ceiling") (``elbench run`` prints its scores
    with this too, so both commands print the same)."""
    from engine.scoring.ceiling_report import ceiling_json, ceiling_table, sweep_table
    from engine.scoring.report import latent_table, methods_json, paths_table, table1

    say = (lambda text: print(text, file=sys.stderr)) if as_json else print
    say(f"{dataset.source}: {dataset.n_particles} particles, {dataset.n_wells} wells"
        + ("  (core particles only)" if core_only else ""))
    for note in dataset.notes:
        say(f"  note: {note}")
    if reports:
        say(table1(reports))
        latent = latent_table(reports)
        if latent:
            say("\nCryoBench latent metrics (all output dims against the true cc1, cc2; k-NN on a subsample):")
            say(latent)
        paths = paths_table(reports)
        if paths:
            say("\nPaths between neighbouring wells (1 = every route and barrier as in the truth):")
            say(paths)
    for r in reports:
        for note in r.scores.notes:
            say(f"  {r.output.label}: {note}")
    for om in maps:
        say(f"{om.label}: occupancy map with {om.n_counted} counts in {om.counts.size} bins; "
            "no per-particle assignment, so no recall (see its figure)")
    if ceiling is not None:
        say("\n" + ceiling_table(ceiling, reports))
    if sweep:
        say("\n" + sweep_table(sweep, ceiling.snr))
    if as_json:
        doc = methods_json(reports)
        if ceiling is not None:
            doc["ceiling"] = ceiling_json(ceiling, reports, sweep)
        print(json.dumps(doc))


def _ceiling(args, snrs, say):
    """(DatasetCeiling, SNR sweep or None) of ``args.dataset`` (CeilingError when it cannot have one)."""
    from engine.scoring.ceiling_dataset import dataset_ceiling, dataset_snr_sweep

    ceiling = dataset_ceiling(args.dataset, args.subsample, seed=0, core_only=args.core_only, log=say,
                              scheduler=args.scheduler)
    sweep = dataset_snr_sweep(args.dataset, snrs, args.sweep_particles) if snrs else None
    return ceiling, sweep


def _parse_snrs(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--snr-sweep: expected comma-separated numbers, got {text!r}") from None
    if not values or min(values) <= 0:
        raise ValueError(f"--snr-sweep: expected SNR values > 0, got {text!r}")
    return values


def _parse_ints(text: str, option: str):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{option}: expected comma-separated integers, got {text!r}") from None
    if not values:
        raise ValueError(f"{option}: no value given")
    return tuple(values)


def _per_output(values, outputs, option: str, broadcast: bool = True) -> list:
    if not values:
        return [None] * len(outputs)
    if len(values) == 1 and broadcast:
        values = values * len(outputs)
    if len(values) != len(outputs):
        raise ValueError(f"{option}: given {len(values)} times for {len(outputs)} outputs "
                         f"(give it {'once, or ' if broadcast else ''}once per OUTPUT)")
    return [None if v == "-" else v for v in values]


def _holds_files(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2

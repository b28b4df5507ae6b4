"""Reconstruct each well from the particles a method assigns to it, and compare with the truth.

The assignment is the paper's metric (``evaluate``): OUTPUT's coordinates on --dims (default
0,1), well centres from the ground-truth labels, each scored particle to its nearest centre.
Each well's particles are reconstructed with their true poses and CTF by RELION's
``relion_reconstruct --ctf`` (engine.methods.well_maps; no numpy fallback: install RELION) and
compared with ``DATASET/maps/well_NN.mrc``, the ground-truth map at the well's centre, inside a
soft mask of that map's object (engine.structure.fsc): FSC 0.5 and FSC 0.143 resolution (A;
against a noiseless truth 0.5 is the criterion that matches the gold-standard 0.143) and the
real-space correlation. --ground-truth adds the same for the true labels (every particle in
its own well): the ceiling of what a perfect assignment recovers from these particles.
--ideal-observer adds the ideal observer's Bayes labels (engine.scoring.ceiling_dataset, as
``evaluate --ceiling`` computes them, on the same --subsample N random particles, default 2000,
seed 0): the maps the best possible use of these images would recover from that subsample
(the other particles are in no well's map; --max-particles makes the counts comparable).
Read the columns together with the particle count: a method that pools several wells into
one gives that map more particles, so less noise and often a finer FSC, while its SSU is a
blur of the pooled conformations, which the correlation shows (on a 300-particle paper-3x4
set, all particles in well 1: 27.1 A and 0.965, against 34.9 A and 0.988 from its own 15).

At low SNR the correlation of an unfiltered reconstruction is dominated by its
high-frequency noise (paper-3x4, 3,000 particles, SNR 1, 80 a well: true labels 0.44-0.78
well to well); low-passed to 30-40 A it ranks labellings cleanly (0.998 true, 0.988 RELION
multibody, 0.968 cryoDRGN, 0.895 random) whatever the counts. So the last column is the same
correlation with both maps low-passed to --lowpass A (default 30): a Fourier filter, weight 1
below 1 / 30 A^-1 and 0 above, with a raised-cosine edge one Fourier shell wide centred on the
cutoff (engine.methods.well_map_scores.lowpass), in the same soft mask. A cutoff finer than the
maps' Nyquist (2 x pixel size) leaves them as they are.

--max-particles N makes every map from at most N of its well's particles (drawn at random,
--seed), so that maps of different labellings carry the same noise and differ by which
particles they hold.

Prints one table per labelling: well, particles (used/assigned when --max-particles cut
them), FSC 0.5 (A), FSC 0.143 (A), correlation, low-passed correlation, and the mean over
the wells that have a map;
a well with no particle assigned is listed with "-" and left out of the mean (the mean line
says over how many). Writes into --out DIR
(default ./maps_report): ``maps_<label>.csv`` (those rows, the mean last), ``fsc_<label>.csv``
(every well's FSC curve by shell) and the job folder ``<label>/`` (subsets, maps, logs; the
same command again resumes, reconstructing only wells whose particles changed). --json prints
{"maps": [...]} (resolutions in A, null where a well has no map or nothing resolved; each
labelling's "lowpass_A"); the rest
goes to stderr. Exit status: 0 done; 1 a reconstruction failed; 2 bad input or RELION missing;
128 + the signal's number when cancelled (Ctrl-C, SIGTERM).

Example::

    elbench maps runs/paper-3x4 train/z.25.pkl --label cryoDRGN --ground-truth --out maps_report
    elbench maps runs/paper-3x4 z.25.pkl --label cryoDRGN --ground-truth --max-particles 80
    elbench maps runs/paper-3x4 --ground-truth --json
    elbench maps runs/paper-3x4 z.25.pkl --ground-truth --ideal-observer --subsample 1000 --max-particles 60
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where used, so that --help stays quick
    from engine.methods.well_map_scores import LabelMaps

DEFAULT_OUT = "maps_report"
GROUND_TRUTH_LABEL = "ground truth"
IDEAL_OBSERVER_LABEL = "ideal observer"
LOWPASS_A = 30.0   # engine.methods.well_maps.LOWPASS_A, here so that --help imports nothing
_COLUMNS = ("well", "n_particles", "n_assigned", "resolution_fsc05_A", "resolution_fsc0143_A", "correlation",
            "correlation_lowpass")


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DATASET", help="dataset folder (particles.star, maps/, ground_truth.npz)")
    parser.add_argument("output", metavar="OUTPUT", nargs="?", help="a method's output file or folder (as for evaluate)")
    parser.add_argument("--kind", metavar="KIND", help="OUTPUT's loader (default: detected), as for evaluate")
    parser.add_argument("--dims", help="output dimensions the metric uses, 0-based, comma separated (negative "
                                       "counts from the last), or 'all' (default 0,1; a 1D output: dim 0)")
    parser.add_argument("--label", metavar="NAME", help="the method's name (default: the loader's)")
    parser.add_argument("--ind", metavar="FILE", help="particle-index file of a run given --ind (cryoDRGN, RECOVAR)")
    parser.add_argument("--zdim", type=int, help="RECOVAR embedding to use (default: the largest)")
    parser.add_argument("--ground-truth", action="store_true",
                        help="also reconstruct each well from its true particles (the ceiling)")
    parser.add_argument("--ideal-observer", action="store_true",
                        help="also reconstruct each well from the ideal observer's Bayes labels (on --subsample)")
    parser.add_argument("--subsample", type=int, default=2000, metavar="N",
                        help="particles the ideal observer labels, drawn at random as evaluate --ceiling draws "
                             "them (default 2000)")
    parser.add_argument("--out", metavar="DIR", default=DEFAULT_OUT, help=f"folder for the tables and the "
                                                                          f"reconstructions (default ./{DEFAULT_OUT})")
    parser.add_argument("--cpus", type=int, help="CPUs a reconstruction may use (default: those this process may "
                                                 "use; large wells run relion_reconstruct_mpi on them)")
    parser.add_argument("--max-particles", type=int, metavar="N",
                        help="reconstruct a well from at most N of its particles, drawn at random (--seed), so "
                             "that every map carries the same noise (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --max-particles draw (default 0)")
    parser.add_argument("--lowpass", type=float, default=LOWPASS_A, metavar="A",
                        help=f"cutoff (Angstrom) of the low-passed correlation column (default {LOWPASS_A:g})")
    parser.add_argument("--no-resume", action="store_true", help="reconstruct every well again")
    parser.add_argument("--json", action="store_true", help="print the tables as one JSON object")


def maps_table(maps: LabelMaps) -> str:
    """The per-well table, and the mean over the wells with a map."""
    lowpass = f"corr. {maps.wells[0].lowpass_A:g} A" if maps.wells else "corr. low-pass"
    lines = [f"{'well':>4}  {'particles':>9}  {'FSC 0.5 (A)':>11}  {'FSC 0.143 (A)':>13}  {'correlation':>11}  "
             f"{lowpass:>11}"]
    for w in maps.wells:
        lines.append(f"{w.well:>4}  {w.count_text:>9}  " + _cells(w.values())
                     + ("" if w.comparison is not None else "  no particle assigned"))
    counted = maps.with_map
    lines.append(f"{'mean':>4}  {sum(w.n_particles for w in counted):>9}  " + _cells(maps.mean())
                 + f"  over {len(counted)} of {len(maps.wells)} wells")
    return "\n".join(lines)


def _cells(values) -> str:
    res05, res0143, corr, smooth = values
    return (f"{_text(res05, '.1f'):>11}  {_text(res0143, '.1f'):>13}  {_text(corr, '.4f'):>11}  "
            f"{_text(smooth, '.4f'):>11}")


def _text(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


def maps_csv(maps: LabelMaps) -> str:
    """``maps_<label>.csv``: _COLUMNS per well (empty cells for a well without a map), then a
    "mean" row over the wells with a map."""
    rows = [_COLUMNS]
    rows += [(w.well, w.n_particles, w.n_assigned, *(_csv_number(v) for v in w.values())) for w in maps.wells]
    counted = maps.with_map
    rows.append(("mean", sum(w.n_particles for w in counted), sum(w.n_assigned for w in counted),
                 *(_csv_number(v) for v in maps.mean())))
    return _csv(rows)


def fsc_csv(maps: LabelMaps) -> str:
    """``fsc_<label>.csv``: one row per shell (frequency 1/A, resolution A), one column of
    masked FSC per well with a map."""
    counted = maps.with_map
    if not counted:
        return _csv([("frequency_per_A", "resolution_A")])
    freq = counted[0].comparison.frequency_per_A
    rows = [("frequency_per_A", "resolution_A", *(f"well_{w.well:02d}" for w in counted))]
    for k, f in enumerate(freq):
        rows.append((f"{f:.6g}", "inf" if f == 0 else f"{1 / f:.4g}", *(f"{w.comparison.curve[k]:.6f}" for w in counted)))
    return _csv(rows)


def maps_json(all_maps) -> dict:
    """{"maps": [{"label", "reconstructor", "lowpass_A", "wells": [{well, n_particles, n_assigned,
    resolution_fsc05_A, resolution_fsc0143_A, correlation, correlation_lowpass, map}], "mean":
    {...}, "wells_with_map", "note"}]}."""
    def numbers(values) -> dict:
        return {name: (v if math.isfinite(v) else None) for name, v in zip(_COLUMNS[3:], values)}

    return {"maps": [{"label": m.label, "reconstructor": m.reconstructor, "note": m.note,
                      "lowpass_A": m.wells[0].lowpass_A if m.wells else None,
                      "wells": [{"well": w.well, "n_particles": w.n_particles, "n_assigned": w.n_assigned,
                                 **numbers(w.values()),
                                 "map": None if w.map_path is None else str(w.map_path)} for w in m.wells],
                      "mean": numbers(m.mean()), "wells_with_map": len(m.with_map)} for m in all_maps]}


def _csv_number(value: float) -> str:
    return "" if math.isnan(value) else ("inf" if math.isinf(value) else f"{value:.6g}")


def _csv(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def method_labels(dataset, args) -> tuple[str, np.ndarray, str]:
    """(label, (N,) int64 well the metric assigns each particle, 0 where it scores none, note)."""
    from engine.formats.loaders import load_output
    from engine.scoring.comparison import DEFAULT_DIMS, default_dims_for, dims_from_the_end, parse_dims
    from engine.scoring.metric import score

    dims = DEFAULT_DIMS if args.dims is None else parse_dims(args.dims, "--dims")
    output = load_output(args.output, dataset, args.kind, label=args.label, ind=args.ind, zdim=args.zdim)
    dims, output = default_dims_for(output, dims_from_the_end(dims, output.n_dims), args.dims is not None)
    scores = score(dataset.ground_truth, output, dims=dims)
    labels = np.zeros(dataset.n_particles, dtype=np.int64)
    labels[scores.particle_index] = scores.assigned
    note = (f"the metric's assignment on dims {','.join(map(str, scores.dims))}: accuracy "
            f"{100 * scores.accuracy:.1f} % over {scores.n_scored} particles")
    return output.label, labels, note


def ideal_observer_labels(dataset, n_subsample: int, say) -> tuple[str, np.ndarray, str]:
    """(label, (N,) int64 Bayes label of each subsampled particle, 0 elsewhere, note)."""
    from engine.scoring.ceiling_dataset import dataset_ceiling

    ceiling = dataset_ceiling(dataset.root, n_subsample, seed=0, log=say)
    s = ceiling.ceiling
    return (IDEAL_OBSERVER_LABEL, ceiling.bayes_labels(dataset.n_particles),
            f"the ideal observer's Bayes labels on {len(ceiling.subsample)} random particles (seed 0): accuracy "
            f"{100 * s.accuracy:.1f} % over {s.n_scored} particles")


def main(args: argparse.Namespace) -> int:
    from engine.atomic_files import write_text_atomic
    from engine.commands.run import StepBars
    from engine.stop_signals import StopOnSignals
    from engine.formats.dataset import load_dataset
    from engine.methods.process import StepError
    from engine.methods.tools import ToolMissingError
    from engine.methods.well_map_scores import LabelMaps, score_well_maps
    from engine.methods.well_maps import WellMapOptions, plan_well_maps, require_relion_reconstruct, run_well_maps
    from engine.scoring.report import slugify

    if args.output is None and not args.ground_truth and not args.ideal_observer:
        return _fail("give an OUTPUT, --ground-truth or --ideal-observer (or several)")
    if args.subsample < 1:
        return _fail(f"--subsample: needs at least 1 particle (got {args.subsample})")
    if not (math.isfinite(args.lowpass) and args.lowpass > 0):
        return _fail(f"--lowpass: expected a resolution in Angstrom > 0, got {args.lowpass:g}")
    say = (lambda text: print(text, file=sys.stderr)) if args.json else print
    try:
        reconstructor = require_relion_reconstruct()
        options = WellMapOptions(cpus=args.cpus, max_particles=args.max_particles, seed=args.seed)
        dataset = load_dataset(args.dataset)
        if dataset.root is None:
            return _fail(f"{args.dataset}: needs a dataset folder (particles.star and maps/), not a ground-truth file")
        labellings = [method_labels(dataset, args)] if args.output is not None else []
        if args.ground_truth:
            labellings.append((GROUND_TRUTH_LABEL, np.asarray(dataset.ground_truth.well, dtype=np.int64),
                               "every particle in its true well (the ceiling)"))
        if args.ideal_observer:
            labellings.append(ideal_observer_labels(dataset, args.subsample, say))
        slugs = [slugify(label) for label, _, _ in labellings]
        if len(set(slugs)) != len(slugs):
            return _fail(f"--label {labellings[0][0]!r} would share the ground truth's files: give another")
    except (ValueError, ToolMissingError) as exc:  # DatasetError, LoaderError, ScoringError are ValueErrors
        return _fail(exc)
    out = Path(args.out)
    say(f"{dataset.source}: {dataset.n_particles} particles, {dataset.n_wells} wells; each well reconstructed by "
        f"{reconstructor} with the true poses and CTF, compared with maps/well_NN.mrc in a soft mask of its object "
        f"(the last column: both maps low-passed to {args.lowpass:g} A)"
        + (f"; at most {args.max_particles} particles a well, drawn at random (seed {args.seed})"
           if args.max_particles else ""))
    stop = threading.Event()
    signals = StopOnSignals(stop, StepBars().write,
                            "cancelling: ending the running step (Ctrl-C again to stop at once)...")  # tqdm.write: a message above whichever bar is drawn
    all_maps = []
    try:
        for (label, labels, note), slug in zip(labellings, slugs):
            bars = StepBars()  # a labelling's wells are a job of their own: its bars count from [1/n]
            try:
                plan = plan_well_maps(dataset.root, labels, out / slug, dataset.n_wells, options)
                result = run_well_maps(plan, resume=not args.no_resume, progress=bars.update,
                                       should_stop=stop.is_set)
            finally:  # before any message, which would otherwise land on a bar's line
                bars.close()
            if result.status != "complete":
                print(f"cancelled; the finished wells are kept in {out / slug}: the same command resumes",
                      file=sys.stderr)
                return 128 + signals.last
            maps = LabelMaps(label, slug, result.reconstructor, score_well_maps(result, dataset.root, args.lowpass),
                             note)
            write_text_atomic(out / f"maps_{slug}.csv", maps_csv(maps))
            write_text_atomic(out / f"fsc_{slug}.csv", fsc_csv(maps))
            all_maps.append(maps)
            say(f"\n{label}: {note}\n{maps_table(maps)}")
    except StepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, ToolMissingError) as exc:  # a STAR or map file that cannot be used
        return _fail(exc)
    except OSError as exc:
        return _fail(f"{exc.filename or out}: {exc.strerror or exc}")
    except KeyboardInterrupt:  # a second Ctrl-C: the runner has ended its processes on the way out
        print(f"aborted; the finished wells are kept in {out}: the same command resumes", file=sys.stderr)
        return 128 + signals.last
    finally:
        signals.restore()
    if args.json:
        print(json.dumps(maps_json(all_maps)))
    say(f"wrote {', '.join(f'maps_{m.slug}.csv, fsc_{m.slug}.csv' for m in all_maps)} and the maps to {out}")
    return 0


def _fail(message) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2

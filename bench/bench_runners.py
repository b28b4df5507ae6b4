"""The method runners end to end: wall time per step and the accuracy each reached, on the
3,000-particle box-64 paper-3x4 dataset of tests/fixtures/elbench_paper3x4_3000.

The dataset is made from that fixture's manifest plan (``simulate --preset paper-3x4 --n 3000
--box 64 --snr 1 --seed 11``; deterministic: its stack's SHA-256 and its particles.star are
checked against the fixture's), or taken with --dataset. On it run, here (LocalRunner):

- RELION multibody (engine.methods.relion_multibody) and cryoDRGN (engine.methods.cryodrgn),
  each with two sets of options: ``defaults`` (what ``elbench run METHOD DATASET`` uses) and
  ``handmade`` (those of the fixture's hand-made runs: RELION on 2 CPUs = 3 MPI ranks with the
  SSU mask extended 4 px; cryoDRGN with encoder and decoder 256 x 2 instead of 256 x 3). The
  runner still makes its SSU mask from the SSU's envelope over its motion and its particle
  diameter from the object (332 A here; the hand-made run gave 300 A and masked the SSU at rest);
- each output scored as ``elbench evaluate`` scores it (engine.scoring.report.evaluate_output,
  components 1, 2): the paper's Accuracy (mean recall over the wells) +- the std of the recalls,
  printed next to the paper's 17.5 +- 14.4 % (Sci. Rep. 2023, Table 1) and to the hand-made runs'
  outputs in the fixture, scored here the same way (30.9 % RELION multibody, 11.3 % cryoDRGN).

The whole benchmark takes about an hour of 2 cores (the hand-made runs: RELION 26 min,
cryoDRGN 27 min, each set of options). --dry-run prints the exact commands of every job and
runs nothing (the dataset is made first when missing: RELION's commands depend on its maps).
--n makes a smaller dataset of the same plan (not the fixture's: the fixture's scores are then
shown for reference only), --epochs / --max-iterations shorten cryoDRGN / RELION, --only picks
one method and --options one set of options. The tools' own lines go to each job's run.log.

Measured on 2 cores, ``--options defaults`` (the full 3,000 particles, 42 min in all): RELION
multibody 1,052 s (consensus 635 s, multibody 417 s, flex 0.5 s), 27.0 +- 12.0 %; cryoDRGN
1,454 s (train 25 epochs 1,414 s, analyze 40 s), 17.5 +- 14.6 %.

Measured on 2 shared cores, ``--n 300 --epochs 1 --only cryodrgn`` (the code path, not the
benchmark): defaults train 31 s + analyze 42 s, 11.5 +- 16.2 %; handmade train 21 s + analyze
62 s, 13.2 +- 20.8 % (300 particles, one epoch: chance is 8.3 %); 2 min 38 s in all.

    python bench/bench_runners.py --dry-run
    python bench/bench_runners.py --n 300 --epochs 1 --only cryodrgn     # ~3 min
    python bench/bench_runners.py --work runs/bench                     # the whole benchmark
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.commands.run import check_dataset  # noqa: E402
from engine.formats.dataset import load_dataset  # noqa: E402
from engine.formats.loaders import load_output  # noqa: E402
from engine.methods.catalog import METHODS  # noqa: E402
from engine.methods.cryodrgn import CryodrgnOptions, run_cryodrgn  # noqa: E402
from engine.methods.process import LocalRunner  # noqa: E402
from engine.methods.relion_multibody import MultibodyOptions, plan_multibody, run_relion_multibody  # noqa: E402
from engine.methods.tools import ToolMissingError  # noqa: E402
from engine.scoring.report import evaluate_output  # noqa: E402
from engine.simulation.plan import plan_from_dict, with_overrides  # noqa: E402
from engine.simulation.run import run_simulation  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "elbench_paper3x4_3000"
PAPER = (0.175, 0.144)                         # Sci. Rep. 2023 Table 1: accuracy, std of recall
HANDMADE_OUTPUTS = {"relion_multibody": FIXTURE / "relion_multibody", "cryodrgn": FIXTURE / "cryodrgn" / "z.25.pkl"}
OPTIONS = {
    "relion_multibody": {"defaults": MultibodyOptions(), "handmade": MultibodyOptions(cpus=2, ssu_extend_px=4)},
    "cryodrgn": {"defaults": CryodrgnOptions(), "handmade": CryodrgnOptions(enc_layers=2, dec_layers=2)},
}
SCORED_DIMS = (0, 1)                           # evaluate's default: components 1, 2


@dataclasses.dataclass
class BenchRun:
    """One job of the benchmark: its steps' wall times (s) and its score (fractions)."""

    method: str
    options_name: str
    step_seconds: list[tuple[str, float]]
    accuracy: float
    recall_std: float
    n_scored: int

    @property
    def total_s(self) -> float:
        return sum(seconds for _, seconds in self.step_seconds)


def fixture_plan(n_particles: int | None = None):
    """The plan of the fixture's dataset, with ``n_particles`` instead of 3,000 if given."""
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    return with_overrides(plan_from_dict(manifest["plan"], str(FIXTURE / "manifest.json")), n_particles=n_particles)


def make_dataset(folder: Path, n_particles: int | None) -> float:
    """Simulate the fixture's dataset (or its plan with ``n_particles``) into ``folder`` unless
    it is there; check it is the fixture's, byte for byte, when it should be. Seconds taken."""
    plan = fixture_plan(n_particles)
    t0 = time.perf_counter()
    if not (folder / "manifest.json").exists():
        if run_simulation(plan, folder).status != "complete":
            raise SystemExit(f"{folder}: the simulation did not complete")
    seconds = time.perf_counter() - t0
    if plan.n_particles == 3000:
        (chunk,) = json.loads((FIXTURE / "manifest.json").read_text())["chunks"]
        digest = hashlib.sha256((folder / chunk["file"]).read_bytes()).hexdigest()
        for what, same in ((chunk["file"], digest == chunk["sha256"]),
                           ("particles.star", (folder / "particles.star").read_bytes()
                            == (FIXTURE / "particles.star").read_bytes())):
            if not same:
                raise SystemExit(f"{folder / what}: differs from the fixture's {FIXTURE / what} (is {folder} "
                                 "another dataset? give a new --work folder)")
    return seconds


def options_for(method: str, name: str, epochs: int | None, max_iterations: int | None, analyze: bool):
    options = OPTIONS[method][name]
    if method == "cryodrgn":
        return dataclasses.replace(options, epochs=epochs or options.epochs, analyze=analyze)
    return dataclasses.replace(options, max_iterations=max_iterations or options.max_iterations)


def run_job(method: str, dataset: Path, job: Path, options, say) -> tuple[list, Path]:
    """Run one job from scratch (no resume: every step is timed); its steps' (name, s) and the
    file to score."""
    if job.exists():
        shutil.rmtree(job)
    job.mkdir(parents=True)
    with open(job / "run.log", "a", encoding="utf-8", buffering=1) as log_file:
        started = set()

        def progress(report):
            if report.step not in started:
                started.add(report.step)
                say(f"  [{report.index + 1}/{report.count}] {report.step} ...")

        args = dict(runner=LocalRunner(), resume=False, progress=progress, log=lambda line: log_file.write(line + "\n"))
        if method == "cryodrgn":
            result = run_cryodrgn(dataset, job, options, **args)
            steps, status, output = result.job.steps, result.job.status, result.z_path
        else:
            result = run_relion_multibody(plan_multibody(dataset, job, options), **args)
            steps, status, output = result.steps, result.status, result.projections_path
    if status != "complete":
        raise SystemExit(f"{method} in {job}: {status}")
    return [(s.step, s.elapsed_s) for s in steps], output


def score(dataset_dir: Path, output_path: Path, method: str):
    """(accuracy, std of recall, particles scored) as ``elbench evaluate`` gives them."""
    dataset = load_dataset(dataset_dir)
    output = load_output(output_path, dataset, METHODS[method].output_kind, label=METHODS[method].title)
    scores = evaluate_output(dataset, output, dims=SCORED_DIMS).scores
    return scores.accuracy, scores.recall_std, scores.n_scored


def pct(accuracy: float, std: float) -> str:
    return f"{100 * accuracy:5.1f} +- {100 * std:4.1f} %"


def report(runs: list[BenchRun], dataset_dir: Path, simulate_s: float | None) -> str:
    lines = [f"dataset {dataset_dir}" + (f" (simulated in {simulate_s:.1f} s)" if simulate_s else "")]
    for run in runs:
        title = f"{METHODS[run.method].title} ({run.options_name})"
        lines.append(f"{title:<32} {run.total_s:8.1f} s  accuracy {pct(run.accuracy, run.recall_std)}  "
                     f"({run.n_scored} particles scored)")
        lines += [f"    {name:<12} {seconds:8.1f} s" for name, seconds in run.step_seconds]
    lines.append(f"{'paper (Sci. Rep. 2023)':<32} {'':10}  accuracy {pct(*PAPER)}")
    same = (plan := _plan_of(dataset_dir)) is not None and plan.content_key == fixture_plan().content_key
    for method in sorted({run.method for run in runs}):
        accuracy, std, n = score(FIXTURE, HANDMADE_OUTPUTS[method], method)
        where = "same dataset" if same else "the 3,000-particle dataset, for reference"
        lines.append(f"{'hand-made ' + METHODS[method].title:<32} {'':10}  accuracy {pct(accuracy, std)}  "
                     f"({where}: {HANDMADE_OUTPUTS[method].relative_to(REPO)})")
    lines.append(f"chance: {100 / 12:.1f} % (12 wells)")
    return "\n".join(lines)


def _plan_of(dataset_dir: Path):
    try:
        manifest = json.loads((dataset_dir / "manifest.json").read_text())
        return plan_from_dict(manifest["plan"], str(dataset_dir / "manifest.json"))
    except (OSError, ValueError, KeyError):
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, help="an elbench dataset to use (default: make the fixture's)")
    parser.add_argument("--work", type=Path, help="folder for the dataset and the jobs (kept; default: a "
                                                  "temporary one, removed at the end)")
    parser.add_argument("--n", type=int, help="particles of the made dataset (default 3000, the fixture's)")
    parser.add_argument("--only", choices=("relion", "cryodrgn"), help="one method only")
    parser.add_argument("--options", choices=("defaults", "handmade"), help="one set of options only")
    parser.add_argument("--epochs", type=int, help="cryoDRGN epochs (default: the options', 25)")
    parser.add_argument("--max-iterations", type=int, help="RELION --auto_iter_max (default: until converged)")
    parser.add_argument("--no-analyze", action="store_true", help="skip cryodrgn analyze (not needed to score)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands of every job, run nothing")
    args = parser.parse_args(argv)
    if args.dataset and args.n:
        parser.error("--n makes a dataset; --dataset takes one: give one of them")
    methods = {"relion": ["relion_multibody"], "cryodrgn": ["cryodrgn"]}.get(args.only, list(OPTIONS))
    names = [args.options] if args.options else ["defaults", "handmade"]
    work = args.work or Path(tempfile.mkdtemp(prefix="elbench-bench-runners-"))
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    try:
        simulate_s = None
        if args.dataset:
            dataset = args.dataset.resolve()
            check_dataset(dataset)  # DatasetError (a ValueError) names what is missing
        else:
            dataset = (work / f"paper3x4_{args.n or 3000}").resolve()
            say(f"dataset {dataset} ...")
            simulate_s = make_dataset(dataset, args.n)
        jobs = [(m, name, options_for(m, name, args.epochs, args.max_iterations, not args.no_analyze))
                for m in methods for name in names]
        if args.dry_run:
            for method, name, options in jobs:
                print(f"## {METHODS[method].title} ({name}): {options!r}")
                print(METHODS[method].command_lines(dataset, work / f"{method}_{name}", options), end="")
            return 0
        for method in methods:
            METHODS[method].check()  # ToolMissingError says how to install it, before anything runs
        runs = []
        for method, name, options in jobs:
            job = work / f"{method}_{name}"
            say(f"{METHODS[method].title} ({name}) in {job}")
            steps, output = run_job(method, dataset, job, options, say)
            runs.append(BenchRun(method, name, steps, *score(dataset, output, method)))
        print(report(runs, dataset, simulate_s))
        return 0
    except (ValueError, ToolMissingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

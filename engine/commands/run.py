"""Run a method (RELION multibody, cryoDRGN, RECOVAR) on a dataset, here or on SLURM, and score it.

METHOD is one of engine.methods.catalog.METHODS; ``elbench run METHOD --help`` lists its
options, made from its options dataclass (``zdim`` is ``--zdim 4``, a bool ``analyze`` is
``--analyze/--no-analyze``, an optional one takes ``auto`` or ``none`` for "decide for me").
The job runs in --job DIR (default: DATASET_METHOD next to the dataset) as local processes or,
with --where slurm, as one sbatch job per step (--partition, --time-limit-min, --cpus, --gpus,
--memory-GB, --template FILE: lines added to every script). The tool's lines go to
JOB/run.log only (each step's own also to JOB/logs/); the terminal shows a bar per step:
its fraction, from the tool's own lines, and ETA. --dry-run prints the exact commands and
exits without running or writing anything.

Ctrl-C or SIGTERM cancels: the running step's whole process group ends (or its SLURM job is
cancelled) and the finished steps are kept, so the same command again resumes (--no-resume
runs every step again). When the job ends its output is scored and printed exactly as
``evaluate`` prints it (--json: the same JSON as ``evaluate --json``, the rest on stderr).
Exit status: 0 scored; 1 the run failed (the tool's last lines are printed) or its output
cannot be scored; 2 bad input or a missing tool; 128 + the signal's number when cancelled.

Examples::

    elbench run cryodrgn runs/ds1 --zdim 4 --epochs 10
    elbench run relion_multibody runs/ds1 --cpus 8 --max-iterations 10 --dry-run
    elbench run recovar runs/ds1 --where slurm --partition gpu --gpus 1 --time-limit-min 240 \\
        --memory-GB 64 --template ~/site.sbatch --json
"""
from __future__ import annotations

import argparse
import shlex
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from engine.methods.catalog import METHODS
from engine.stop_signals import StopOnSignals

WHERE = ("local", "slurm")
# Generated options are stored under this prefix, so that no field name can clash with the
# command's own arguments (dataset, job, ...).
_OPTION_DEST = "option_"
# Method options that are the command's own --cpus: RELION's ``cpus`` (its MPI ranks) is what
# a SLURM job's CPUs set too (catalog.with_resources), so one option sets both.
_SHARED = ("cpus",)
# The SLURM settings, and the field of StepResources each one sets (None: a SlurmSettings one).
_SLURM_ONLY = {"partition": None, "template": None, "time_limit_min": "time_limit_min", "gpus": "gpus",
               "memory_GB": "memory_GB"}
_LOG_FILE = "run.log"


def add_args(parser: argparse.ArgumentParser) -> None:
    methods = parser.add_subparsers(dest="method_name", metavar="METHOD", required=True,
                                    help=", ".join(METHODS))
    for method in METHODS.values():
        sub = methods.add_parser(method.name, help=f"run {method.title}",
                                 description=f"{method.title}: {method.options_type.__doc__}",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        _add_method_args(sub, method)


def _add_method_args(parser: argparse.ArgumentParser, method) -> None:
    parser.add_argument("dataset", metavar="DATASET", help="elbench dataset folder (elbench simulate writes one)")
    options = parser.add_argument_group(f"{method.title} options (see above)")
    for f in method.option_fields():
        if f.name not in _SHARED:
            _add_option(options, f)
    parser.add_argument("--job", metavar="DIR", help=f"job folder (default: DATASET_{method.name} next to DATASET)")
    parser.add_argument("--where", choices=WHERE, default="local", help="run here or on SLURM (default local)")
    parser.add_argument("--no-resume", action="store_true",
                        help="run every step again (default: skip those an earlier run finished)")
    parser.add_argument("--dry-run", action="store_true", help="print the exact commands and exit")
    parser.add_argument("--json", action="store_true", help="print the scores as evaluate --json does")
    slurm = parser.add_argument_group("SLURM (--where slurm)")
    slurm.add_argument("--partition", help="partition (default: the cluster's)")
    slurm.add_argument("--time-limit-min", type=int, metavar="MIN", help="time limit of each step's job")
    cpus_help = "CPUs of each step's job (default 1)"
    if any(f.name == "cpus" for f in method.option_fields()):
        cpus_help += "; locally too: the CPUs its MPI ranks use (default: those this process may use)"
    slurm.add_argument("--cpus", type=int, metavar="N", help=cpus_help)
    slurm.add_argument("--gpus", type=int, metavar="N", help="GPUs of each step's job (default 0)")
    slurm.add_argument("--memory-GB", type=float, metavar="GB", help="memory of each step's job (default: the "
                                                                     "partition's)")
    slurm.add_argument("--template", metavar="FILE", help="lines added to every sbatch script "
                                                         "(#SBATCH --account=..., module load ...)")


def _add_option(group, f) -> None:
    flag, dest = "--" + f.name.replace("_", "-"), _OPTION_DEST + f.name
    if f.kind is bool:  # an optional bool left out is None: "auto"
        default = "auto" if f.default is None else ("yes" if f.default else "no")
        group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=f.default,
                           help=f"(default: {default})")
        return
    metavar = f.kind.__name__.upper() + ("|auto" if f.optional else "")
    group.add_argument(flag, dest=dest, type=_value_type(f), default=f.default, metavar=metavar,
                       help=f"(default: {'auto' if f.default is None else f.default})")


def _value_type(f):
    """The argparse type of a field: its kind, or None for 'auto' / 'none' when optional."""
    def convert(text: str):
        if f.optional and text.strip().lower() in ("auto", "none"):
            return None
        try:
            return f.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an' if f.kind is int else 'a'} {f.kind.__name__}"
                                             f"{' or auto' if f.optional else ''}, got {text!r}") from None
    return convert


def method_options(method, args: argparse.Namespace):
    """The method's options dataclass from the parsed arguments (ValueError names a bad one).
    Locally, RELION's ``cpus`` is --cpus; on SLURM the job's resources set it (with_resources)."""
    values = {f.name: getattr(args, _OPTION_DEST + f.name) for f in method.option_fields() if f.name not in _SHARED}
    values.update({name: getattr(args, name) for name in _SHARED if name in _field_names(method)})
    return method.options(**values)


def _field_names(method) -> set[str]:
    return {f.name for f in method.option_fields()}


def plan_run(method, args: argparse.Namespace):
    """``(options, runner)`` for ``args``; ValueError for a setting that does not apply where
    the job runs (a silently ignored one would surprise whoever reads the job's results)."""
    from engine.methods.catalog import with_resources
    from engine.methods.process import LocalRunner, StepResources
    from engine.methods.slurm import SlurmRunner, SlurmSettings

    options = method_options(method, args)
    given = [name for name in _SLURM_ONLY if getattr(args, name) is not None]
    if args.where == "local":
        if args.cpus is not None and "cpus" not in _field_names(method):
            given.insert(0, "cpus")
        if given:
            raise ValueError(f"{', '.join(_flag(n) for n in given)}: for --where slurm only ({method.title} "
                             "runs here on the CPUs and GPUs this machine lets it use)")
        return options, LocalRunner()
    if not hasattr(options, "resources"):
        dropped = [name for name in given if _SLURM_ONLY[name]]
        if dropped:
            raise ValueError(f"{', '.join(_flag(n) for n in dropped)}: {method.title} asks SLURM for CPUs only "
                             "(--cpus); leave them out, or add them as #SBATCH lines in --template")
    resources = StepResources(cpus_per_task=args.cpus or 1, gpus=args.gpus or 0, memory_GB=args.memory_GB,
                              time_limit_min=args.time_limit_min)
    settings = SlurmSettings(partition=args.partition, template_path=args.template)
    settings.template_text()  # an unreadable template is refused now, not at the first step
    return with_resources(options, resources), SlurmRunner(settings)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_dataset(path):
    """The Dataset of an elbench dataset folder; DatasetError names the file that is missing
    or unreadable (DESIGN.md section 5: what simulate writes)."""
    from engine.formats.dataset import DatasetError, load_dataset

    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'} "
                           "(DATASET is an elbench dataset folder)")
    dataset = load_dataset(folder)
    for name in ("manifest.json", "particles.star"):
        if not (folder / name).is_file():
            raise DatasetError(f"{folder / name}: missing, so {folder} is not an elbench dataset folder "
                               "(elbench simulate writes one)")
    return dataset


def main(args: argparse.Namespace) -> int:
    from engine.methods.process import StepError
    from engine.methods.slurm import SLURM_CLIENT
    from engine.methods.tools import ToolMissingError, require_tool

    method = METHODS[args.method_name]
    try:
        dataset = check_dataset(args.dataset)
        options, runner = plan_run(method, args)
        job = Path(args.job).resolve() if args.job else method.default_job_dir(args.dataset)
        if args.dry_run:
            print(method.command_lines(args.dataset, job, options), end="")
            return 0
        version = method.check()
        if runner.where == "slurm":
            require_tool(SLURM_CLIENT)
    except (ValueError, ToolMissingError) as exc:  # DatasetError and RelionInputError are ValueErrors
        return _fail(exc)
    log_path = job / _LOG_FILE
    print(f"{method.title} {version} on {dataset.source} ({runner.where}); job folder {job}\n"
          f"the tool's output: {log_path} (each step's own in {job / 'logs'})", file=sys.stderr)
    stop = threading.Event()
    bars = StepBars()
    signals = StopOnSignals(stop, bars.write,
                            "cancelling: ending the running step (Ctrl-C again to stop at once)...")
    try:
        try:
            job.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a", encoding="utf-8", buffering=1) as log:
                log.write(f"# elbench run {method.name} {dataset.source} ({runner.where}) at "
                          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC: {options!r}\n")
                run = method.run(args.dataset, job, options, runner=runner, resume=not args.no_resume,
                                 progress=bars.update, should_stop=stop.is_set,
                                 log=lambda line: log.write(line + "\n"))
        finally:  # before any message below, which would otherwise land on a bar's line
            bars.close()
            signals.restore()
    except StepError as exc:
        print(f"error: {exc}\n(the whole log: {log_path})", file=sys.stderr)
        return 1
    except (ValueError, ToolMissingError, FileNotFoundError) as exc:  # found only once a step has run
        return _fail(exc)
    except OSError as exc:
        return _fail(f"{exc.filename or job}: {exc.strerror or exc}")
    except KeyboardInterrupt:  # a second Ctrl-C: the runner has ended its processes on the way out
        print(f"aborted; {_resume_hint(job, args)}", file=sys.stderr)
        return 128 + signals.last
    if run.status != "complete":
        print(f"cancelled; {_resume_hint(job, args)}", file=sys.stderr)
        return 128 + signals.last
    return _score(method, run, dataset, args)


def _score(method, run, dataset, args) -> int:
    from engine.commands.evaluate import print_scores
    from engine.formats.loaders import LoaderError, load_output
    from engine.scoring.metric import ScoringError
    from engine.scoring.report import evaluate_output

    try:
        output = load_output(run.output_path, dataset, run.output_kind, label=method.title)
        # evaluate's default dims (0,1); a 1-D output (zdim 1) is scored on its one dim
        report = evaluate_output(dataset, output, dims=tuple(range(min(2, output.n_dims))), latent=True)
    except (LoaderError, ScoringError) as exc:
        print(f"error: the run finished, but its output cannot be scored: {exc}", file=sys.stderr)
        return 1
    print_scores(dataset, [report], as_json=args.json)
    evaluate_command = ["elbench", "evaluate", dataset.source, str(run.output_path), "--kind", run.output_kind,
                        "--label", method.title, "--out", "REPORT_DIR"]
    print(f"output: {run.output_path}\nthe report's files and figures: {shlex.join(evaluate_command)}",
          file=sys.stderr)
    return 0


def _resume_hint(job: Path, args) -> str:
    again = " without --no-resume" if args.no_resume else ""
    return f"the finished steps are kept in {job}: the same command{again} resumes from them"


def _fail(message) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


class StepBars:
    """One tqdm bar per step, fed with StepProgress: ``[2/6] consensus  40%|####  | 0:12 ETA 0:18``.
    The ETA is the step layer's (from the tool's own counts); tqdm's own would assume a
    constant rate since the bar began. A step whose tool reports no fraction shows 0% and
    "ETA ?"; a SLURM step waiting in the queue shows "pending"."""

    FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}{postfix}"

    def __init__(self, file=None):
        self._file, self._bar, self._key = file or sys.stderr, None, None

    def update(self, p) -> None:
        from tqdm import tqdm

        if (p.index, p.step) != self._key:
            self.close()
            self._key = (p.index, p.step)
            self._bar = tqdm(total=1.0, desc=f"[{p.index + 1}/{p.count}] {p.step}", bar_format=self.FORMAT,
                             file=self._file, dynamic_ncols=True, mininterval=0.5)
        eta = "" if p.eta_s is None else tqdm.format_interval(p.eta_s)
        self._bar.set_postfix_str({"pending": "pending", "done": "done"}.get(p.state, f"ETA {eta or '?'}"),
                                  refresh=False)
        self._bar.update(max((p.fraction or 0.0) - self._bar.n, 0.0))
        if p.state == "done":
            self.close()

    def write(self, message: str) -> None:
        from tqdm import tqdm

        tqdm.write(message, file=self._file)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

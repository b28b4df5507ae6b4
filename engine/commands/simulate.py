"""Simulate a cryo-EM dataset from a landscape (RELION / cryoDRGN / cryoSPARC ready).

Makes N particle images of the two-body object at conformations drawn from the landscape,
with CTF and noise, and writes the dataset folder of DESIGN.md section 5 (MRC stacks,
particles.star, cryodrgn/, cryosparc/, ground_truth.npz, maps/, manifest.json). A plan
file (JSON, see engine/simulation/plan.py) gives every parameter; without one, a built-in preset
landscape and the default parameters are used. --n, --box, --apix, --snr, --seed and
--chunk-size override the plan. With --slurm the chunks run on Dask workers that SLURM
starts as sbatch jobs (dask-jobqueue; --slurm-jobs jobs of --slurm-cpus single-threaded
workers, engine.simulation.slurm_cluster), cancelled when the run ends. Ctrl-C or SIGTERM
stops cleanly after the current batch (a second one aborts at once, keeping the finished
chunks); the same command with --resume finishes the dataset, byte-identical to an
uninterrupted run. Every refusal (a bad plan, too little disk or memory, a folder in use, a
full disk, an unreachable scheduler, a job sbatch refuses) is one line naming the file,
field, address or job.

Examples::

    python main.py simulate --preset paper-3x4 --n 10000 --out runs/ds1
    python main.py simulate plan.json --out runs/big --workers 2
    python main.py simulate plan.json --out /shared/big --scheduler tcp://10.0.0.5:8786
    python main.py simulate plan.json --out /shared/big --slurm --slurm-partition cpu --slurm-jobs 8 \\
        --slurm-cpus 16 --slurm-memory 64GB --slurm-time 04:00:00
    python main.py simulate --out runs/big --resume          # the plan comes from the manifest
"""
from __future__ import annotations

import argparse
import errno
import sys
import threading
from pathlib import Path

from engine.landscape.io import LandscapeFileError, load_landscape
from engine.stop_signals import StopOnSignals
from engine.landscape.presets import DEFAULT_PRESET, load_preset, preset_names


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan", nargs="?", metavar="PLAN.json", help="simulation plan (JSON)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=preset_names(), help=f"built-in landscape, without a plan file "
                        f"(default {DEFAULT_PRESET})")
    source.add_argument("--landscape", metavar="FILE", help="landscape JSON, without a plan file")
    parser.add_argument("--out", metavar="DIR", help="dataset folder (default: the plan's output_folder)")
    parser.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: the cores this job may use)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run the chunks on this Dask scheduler")
    _add_slurm_args(parser)
    parser.add_argument("--resume", action="store_true", help="finish an interrupted dataset in --out")
    parser.add_argument("--n", type=int, help="number of particles")
    parser.add_argument("--box", type=int, help="box size in pixels")
    parser.add_argument("--apix", type=float, help="pixel size in Angstrom")
    parser.add_argument("--snr", type=_snr, help="signal-to-noise ratio ('none': noiseless)")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--chunk-size", type=int, help="particles per stack file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_slurm_args(parser: argparse.ArgumentParser) -> None:
    slurm = parser.add_argument_group("SLURM (--slurm: Dask workers as sbatch jobs, dask-jobqueue)")
    slurm.add_argument("--slurm", action="store_true", help="run the chunks on Dask workers started as SLURM jobs")
    slurm.add_argument("--slurm-partition", metavar="P", help="partition (default: the cluster's)")
    slurm.add_argument("--slurm-time", metavar="T", help="time limit of each job, SLURM's format: minutes, HH:MM:SS, "
                                                        "D-HH:MM:SS (default: 3x the estimate, at least 30 min)")
    slurm.add_argument("--slurm-cpus", type=int, metavar="N", default=1,
                       help="CPUs of each job = its worker processes (default 1)")
    slurm.add_argument("--slurm-memory", metavar="M", help="memory of each job, e.g. 64GB (default: what its "
                                                          "workers need at this box size, at least 1 GB each)")
    slurm.add_argument("--slurm-jobs", type=int, metavar="J", default=1, help="number of jobs (default 1)")
    slurm.add_argument("--slurm-interface", metavar="IF", help="network interface of the workers and the "
                                                              "scheduler, e.g. ib0 (default: the default route's)")


def slurm_settings(args: argparse.Namespace):
    """SlurmDaskSettings from --slurm-*, or None without --slurm (ValueError: a --slurm-* flag
    without --slurm, or --slurm with --scheduler or --workers)."""
    from engine.simulation.slurm_cluster import SlurmDaskSettings, parse_memory

    given = [f"--slurm-{name}" for name in ("partition", "time", "memory", "interface")
             if getattr(args, f"slurm_{name}") is not None]
    given += [f"--slurm-{name}" for name in ("cpus", "jobs") if getattr(args, f"slurm_{name}") != 1]
    if not args.slurm:
        if given:
            raise ValueError(f"{', '.join(given)}: for --slurm only")
        return None
    for flag in ("scheduler", "workers"):
        if getattr(args, flag) is not None:
            raise ValueError(f"--slurm and --{flag}: give one (--slurm starts its own Dask workers)")
    memory = parse_memory(args.slurm_memory) if args.slurm_memory is not None else None
    return SlurmDaskSettings(partition=args.slurm_partition, time_limit=args.slurm_time, cpus_per_job=args.slurm_cpus,
                             memory_bytes=memory, jobs=args.slurm_jobs, interface=args.slurm_interface)


def _snr(text: str):
    if text.lower() in ("none", "inf"):
        return "none"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none' (got {text!r})") from None


def _build_plan(args):
    from engine.simulation.folder import unfinished_start
    from engine.simulation.manifest import read_manifest
    from engine.simulation.plan import SimulationPlan, load_plan, plan_from_dict, with_overrides

    if args.plan:
        if args.preset or args.landscape:
            raise ValueError("give a plan file or --preset/--landscape, not both")
        plan = load_plan(args.plan)
    elif args.resume and not (args.preset or args.landscape):
        if not args.out:
            raise ValueError("--resume needs --out DIR (the dataset to finish)")
        if unfinished_start(args.out):
            raise ValueError(f"{args.out}: the run that made it stopped before writing manifest.json, so its plan "
                             "is not recorded; run the first command again without --resume (it takes over the folder)")
        plan = plan_from_dict(read_manifest(args.out)["plan"], f"{args.out}/manifest.json")
    else:
        land = load_landscape(args.landscape) if args.landscape else load_preset(args.preset or DEFAULT_PRESET)
        plan = SimulationPlan(landscape=land)
    snr = None if args.snr == "none" else args.snr
    plan = with_overrides(plan, n_particles=args.n, box_size=args.box, apix_A=args.apix, snr=snr,
                          seed=args.seed, chunk_size=args.chunk_size)
    if args.snr == "none":
        from dataclasses import replace

        plan = replace(plan, snr=None)
    return plan


def main(args: argparse.Namespace) -> int:
    from engine.simulation.errors import SimulationError
    from engine.simulation.manifest import ManifestError
    from engine.simulation.plan import PlanError, estimate_disk_bytes, format_bytes, format_duration
    from engine.simulation.run import estimate_seconds, run_simulation

    try:
        plan = _build_plan(args)
        out = args.out or plan.output_folder
        if not out:
            raise ValueError("no output folder: give --out DIR (or output_folder in the plan)")
        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers must be at least 1 (got {args.workers})")
        slurm = slurm_settings(args)
        print(f"{plan.landscape.name}: {plan.n_particles:,} particles, box {plan.effective_box_size()} px at "
              f"{plan.effective_apix_A():.3g} A/px, SNR {plan.snr}, {_chunks_text(plan)}, "
              f"seed {plan.seed}")
        print(f"dataset: {out} ({format_bytes(estimate_disk_bytes(plan))}, about "
              f"{format_duration(estimate_seconds(plan, args.workers))} locally)")
    except (PlanError, ManifestError, LandscapeFileError, ValueError, KeyError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    signals = StopOnSignals(stop, lambda text: print(text, file=sys.stderr),
                            "\nstopping after the current batch (Ctrl-C again to abort)...")
    bar = _ProgressBar(plan.n_particles, disable=args.quiet)
    try:
        if slurm is None:
            result = run_simulation(plan, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                                    progress=bar.update, should_stop=stop.is_set, log=bar.write)
        else:
            result = _run_on_slurm(plan, out, slurm, args.resume, bar, stop)
            if result is None:
                print("stopped while waiting for the SLURM workers (their jobs are cancelled); nothing was "
                      "written", file=sys.stderr)
                return 128 + signals.last
    except (PlanError, SimulationError, ManifestError) as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        bar.close()
        print(f"error: {_os_error_text(exc)}; {_resume_hint(out)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        bar.close()
        print(f"aborted: the finished chunks are kept; {_resume_hint(out)}", file=sys.stderr)
        return 128 + signals.last
    finally:
        signals.restore()
    bar.close()
    if result.status != "complete":
        print(f"stopped: {result.particles_done:,} of {result.particles_total:,} particles done; "
              f"{_resume_hint(out)}", file=sys.stderr)
        return 128 + signals.last
    rate = result.particles_total / result.elapsed_s if result.elapsed_s else float("nan")
    print(f"wrote {out}: {result.particles_total:,} particles in {result.elapsed_s:.1f} s ({rate:.0f} images/s end to end, "
          f"{result.executor}); noise sigma {result.noise.sigma:.4g}")
    return 0


def _run_on_slurm(plan, out, settings, resume: bool, bar, stop):
    """The run on Dask workers started as SLURM jobs (scancelled when it ends, however it
    ends); None when stopped before a worker connected."""
    from engine.simulation.run import run_simulation
    from engine.simulation.slurm_cluster import SlurmWorkers, check_folder

    check_folder(plan, out, resume)  # before any job waits in the queue
    with SlurmWorkers(settings, plan, out, log=bar.write) as workers:
        if not workers.start(should_stop=stop.is_set):
            return None
        return run_simulation(plan, out, scheduler=workers.client, resume=resume, progress=bar.update,
                              should_stop=stop.is_set, log=bar.write)


def _resume_hint(out) -> str:
    if not (Path(out) / "manifest.json").exists():  # stopped while preparing: a new start takes the folder over
        return "run the same command again to start over (it takes over the folder)"
    return f"finish with: python main.py simulate --out {out} --resume"


def _os_error_text(exc: OSError) -> str:
    """'cannot write runs/ds/particles/particles_00003.mrcs: No space left on device (free
    some space first)': the file and the reason, without errno numbers."""
    where = f"cannot write {exc.filename}: " if exc.filename else ""
    reason = exc.strerror or str(exc)
    return where + reason + (" (free some space first)" if exc.errno == errno.ENOSPC else "")


def _chunks_text(plan) -> str:
    """'1 chunk of 100', '3 chunks of 10,000', '3 chunks (10,000 each, the last 5,000)'."""
    n = plan.n_chunks
    first = plan.chunk_range(0)[1] - plan.chunk_range(0)[0] if n else 0
    last = plan.chunk_range(n - 1)[1] - plan.chunk_range(n - 1)[0] if n else 0
    if n <= 1 or first == last:
        return f"{n} chunk{'s' if n != 1 else ''} of {first:,}"
    return f"{n} chunks ({first:,} each, the last {last:,})"


class _ProgressBar:
    """tqdm bar fed with SimulationProgress (images done; rate and ETA of this run only)."""

    def __init__(self, total: int, disable: bool):
        self._total, self._disable, self._bar = total, disable, None

    def update(self, p) -> None:
        from tqdm import tqdm

        if self._bar is None:  # created on the first report, so a resumed run's rate starts right
            self._bar = tqdm(total=p.particles_total, initial=p.particles_done, unit="img", unit_scale=True,
                             dynamic_ncols=True, smoothing=0.05, disable=self._disable, file=sys.stderr)
        delta = min(p.particles_done, p.particles_total) - self._bar.n
        if delta > 0:
            self._bar.update(delta)
        stage = "" if p.stage == "images" else f", {p.stage}"
        self._bar.set_postfix_str(f"chunks {p.chunks_done}/{p.n_chunks}{stage}", refresh=False)

    def write(self, message: str) -> None:
        if self._bar is None:
            print(message, file=sys.stderr)
        else:
            self._bar.write(message, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

"""cryoDRGN on an elbench dataset: ``train_vae`` on the dataset's own poses and CTF, then ``analyze``.

Two steps in the job folder ``JOB`` (see engine.methods.process for logs, stamps, cancel):

- ``train``: ``cryodrgn train_vae DATASET/particles.star --datadir DATASET --poses
  DATASET/cryodrgn/poses.pkl --ctf DATASET/cryodrgn/ctf.pkl --zdim Z -n EPOCHS -o JOB/train
  --enc-dim --enc-layers --dec-dim --dec-layers -b --seed --no-analysis [--lazy]``;
- ``analyze``: ``cryodrgn analyze JOB/train EPOCHS`` (PCA, k-means, UMAP when zdim > 2, in
  ``JOB/train/analyze.EPOCHS``).

Facts from cryoDRGN's source (3.5.0 and newer, checked against 4.3): epochs are numbered from 1,
so ``-n 25`` writes ``z.1.pkl`` .. ``z.25.pkl`` (``z.pkl`` is a copy of the last) and
``analyze`` takes the 1-based epoch; ``train_vae`` runs ``analyze`` itself unless given
``--no-analysis``, which we give so that analysis is its own step (own log, own stamp).
Our images are RELION-convention (protein white); cryoDRGN inverts the data by default for
exactly such images (DESIGN.md §7: default ``backproject_voxel`` reconstructs them right), so
``--uninvert-data`` is never passed. ``--seed`` is always passed: cryoDRGN's default seed is
random. A killed ``train`` resumes from its last checkpoint (``--load JOB/train/weights.K.pkl``)
when run again.

The score-ready output is ``JOB/train/z.EPOCHS.pkl`` (rows in ``particles.star`` order), read
by ``engine.formats.loaders.cryodrgn.load_cryodrgn``.

Example::

    options = CryodrgnOptions(zdim=8, epochs=25)
    steps = cryodrgn_steps("runs/ds1", "runs/ds1/jobs/cryodrgn", options)
    print("\\n".join(command_line(step) for step in steps))       # --dry-run
    run = run_cryodrgn("runs/ds1", "runs/ds1/jobs/cryodrgn", options, progress=print, log=print)
    run.z_path                                                   # .../train/z.25.pkl
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from engine.methods.process import JobResult, Step, StepResources, is_stamped, run_steps
from engine.methods.progress import ProgressParser, StageProgressParser
from engine.methods.tools import (VERSION_TIMEOUT_S, FoundTool, ToolMissingError, ToolRequirement, require_tool,
                                  version_at_least)

MINIMUM_VERSION = "3.5.0"          # 1-based epochs, --no-analysis
# cryoDRGN's own README (recommended usage: "--zdim 8 -n 25"); the networks are the small
# 256 x 3 ones, enough for our small boxes and feasible on CPUs (its default is 1024 x 3)
DEFAULT_ZDIM = 8
DEFAULT_EPOCHS = 25
DEFAULT_NETWORK_DIM = 256
DEFAULT_NETWORK_LAYERS = 3
DEFAULT_BATCH_SIZE = 16            # cryoDRGN 4.x's default, stated so the argv says what ran
DEFAULT_LOG_INTERVAL_IMAGES = 1000  # cryoDRGN's default: a batch line every 1000 images
# Eager loading keeps the images and their Fourier transforms in memory (about twice the
# stacks): above this, --lazy reads them from disk batch by batch
LAZY_ABOVE_GB = 8.0
TORCH_PIN = "torch==2.13.0"        # the CPU build on this machine's disk; a plain "torch" pulls CUDA (GBs)
TRAIN_DIR = "train"


@dataclass(frozen=True)
class CryodrgnOptions:
    """cryoDRGN settings. zdim: latent dimensions; epochs: passes over the data; enc/dec
    dim x layers: hidden-layer width and count of the encoder / decoder MLPs; batch_size:
    images per minibatch; seed: cryoDRGN's random seed; log_interval_images: a batch line
    (progress) every this many images; lazy: None decides from the size of the stacks
    (LAZY_ABOVE_GB), True / False forces it; analyze: run ``cryodrgn analyze`` after training;
    resources: what a SLURM job asks for (a local run uses what the machine has)."""

    zdim: int = DEFAULT_ZDIM
    epochs: int = DEFAULT_EPOCHS
    enc_dim: int = DEFAULT_NETWORK_DIM
    enc_layers: int = DEFAULT_NETWORK_LAYERS
    dec_dim: int = DEFAULT_NETWORK_DIM
    dec_layers: int = DEFAULT_NETWORK_LAYERS
    batch_size: int = DEFAULT_BATCH_SIZE
    seed: int = 0
    log_interval_images: int = DEFAULT_LOG_INTERVAL_IMAGES
    lazy: bool | None = None
    analyze: bool = True
    resources: StepResources = field(default_factory=StepResources)

    def __post_init__(self):
        for name in ("zdim", "epochs", "enc_dim", "enc_layers", "dec_dim", "dec_layers", "batch_size",
                     "log_interval_images"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


@dataclass(frozen=True)
class CryodrgnRun:
    """A finished (or cancelled) cryoDRGN job: the step results, and where its outputs are.
    z_path: ``JOB/train/z.EPOCHS.pkl``; umap_path: ``analyze.EPOCHS/umap.pkl`` when written
    (analysis ran and zdim > 2), else None."""

    job: JobResult
    z_path: Path
    umap_path: Path | None


@dataclass(frozen=True)
class TrainProgressParser(ProgressParser):
    """Fraction of ``train_vae`` done, from its own log lines::

        # [Train Epoch: 3/25] [1008/300000 particles] gen loss=...   (a batch of epoch 3)
        # =====> Epoch: 3 Average gen loss = ...; Finished in ...    (epoch 3 ended)

    A batch line gives ``(epoch - 1 + particles / N) / epochs``, an epoch line ``epoch / epochs``
    (``total`` = the run's epochs, which the epoch line does not print)."""

    pattern: str = (r"\[Train Epoch: (?P<done>\d+)/(?P<total>\d+)\] \[(?P<seen>\d+)/(?P<n>\d+) particles\]"
                    r"|=====> Epoch: (?P<ended>\d+) ")

    def fraction(self, line: str) -> float | None:
        match = self._regex.search(line)
        if match is None:
            return None
        if match["ended"] is not None:
            return min(int(match["ended"]) / self.total, 1.0) if self.total else None
        epochs, n = int(match["total"]), int(match["n"])
        if epochs <= 0 or n <= 0:
            return None
        within = min(int(match["seen"]) / n, 1.0)
        return min((int(match["done"]) - 1 + within) / epochs, 1.0)


# The stages ``cryodrgn analyze`` logs, in order, with the share of a real CPU run's time (300
# particles, box 32, 84 s) spent before each (imports; volumes along the PCs; k-means and its
# volumes; UMAP; plots); it prints no counts of its own.
ANALYZE_STAGES = {"Performing principal component analysis": 0.26, "K-means clustering": 0.45,
                  "Running UMAP": 0.58, "Generating plots": 0.93}


@dataclass(frozen=True)
class AnalyzeProgressParser(StageProgressParser):
    """Fraction of ``cryodrgn analyze`` done, from the stage a line announces (ANALYZE_STAGES)."""

    stages: tuple = tuple(ANALYZE_STAGES.items())


def install_command(python: str | Path | None = None) -> list[str]:
    """The pip command that installs cryoDRGN with the CPU build of PyTorch into the
    environment of ``python`` (default: the one running elbench)."""
    return [str(python or sys.executable), "-m", "pip", "install", TORCH_PIN, "cryodrgn"]


def install_hint(python: str | Path | None = None) -> str:
    return (" ".join(install_command(python)) + f"  (cryoDRGN >= {MINIMUM_VERSION}; '{TORCH_PIN}' is the "
            "CPU build of PyTorch: a plain 'torch' pulls a CUDA build of several GB, which a GPU node wants)")


def find_executable(executable: str | Path | None = None) -> str:
    """``executable`` if given, else ``cryodrgn`` on PATH, else the one beside this Python (a
    virtual environment that is not activated); the bare name when there is none (the check
    then says how to install it)."""
    if executable is not None:
        return str(executable)
    beside = Path(sys.executable).parent / "cryodrgn"
    return str(beside) if shutil.which("cryodrgn") is None and beside.is_file() else "cryodrgn"


def check_cryodrgn(executable: str | Path | None = None) -> FoundTool:
    """Raise ToolMissingError (saying how to install it) unless cryoDRGN >= 3.5 is there."""
    return require_python_tool(find_executable(executable), "cryodrgn", MINIMUM_VERSION, install_hint())


def require_python_tool(executable: str, distribution: str, minimum_version: str, install_hint: str) -> FoundTool:
    """A Python tool's console script, found (on PATH or as a path) and recent enough.

    The version comes from the package metadata of the interpreter in the script's ``#!``
    line, not from ``TOOL --version``: that imports the tool's whole stack first (torch for
    cryoDRGN: 47 s on a loaded 2-core machine, 4 minutes on its first run, past the 60 s
    that tools.require_tool allows). A script that is not Python is asked ``--version``."""
    found = require_tool(ToolRequirement(executable, version_args=None, install_hint=install_hint))
    interpreter = script_interpreter(found.path)
    if interpreter is None:
        return require_tool(ToolRequirement(str(found.path), minimum_version, ("--version",),
                                            install_hint=install_hint))
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    try:
        done = subprocess.run([*interpreter, "-c", code], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors="replace", timeout=VERSION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissingError(f"{found.path}: cannot run its interpreter {shlex.join(interpreter)} ({exc}). "
                               f"Install it: {install_hint}") from exc
    version = done.stdout.strip()
    if done.returncode != 0 or not re.match(r"\d+(\.\d+)*", version):
        said = (done.stdout + done.stderr).strip()[-300:]
        raise ToolMissingError(f"{found.path} is there, but its Python ({shlex.join(interpreter)}) has no "
                               f"{distribution} package: {said}. Install it: {install_hint}")
    if not version_at_least(version, minimum_version):
        raise ToolMissingError(f"{distribution} {version} ({found.path}) is too old: elbench needs "
                               f"{minimum_version} or newer. Install it: {install_hint}")
    return FoundTool(found.path, version)


def script_interpreter(path: Path) -> list[str] | None:
    """The Python command of a ``#!`` script (``#!/venv/bin/python`` or ``#!/usr/bin/env python3``), else None."""
    try:
        with open(path, "rb") as script:
            first = script.readline(4096).decode("utf-8", "replace")
    except OSError:
        return None
    if not first.startswith("#!"):
        return None
    words = first[2:].split()
    if words and Path(words[0]).name == "env":
        words = words[1:]
    return words if words and "python" in Path(words[0]).name else None


def z_path(job_dir, options: CryodrgnOptions) -> Path:
    """The latent means of the last epoch, the file to score."""
    return Path(job_dir).resolve() / TRAIN_DIR / f"z.{options.epochs}.pkl"


def analysis_dir(job_dir, options: CryodrgnOptions) -> Path:
    return Path(job_dir).resolve() / TRAIN_DIR / f"analyze.{options.epochs}"


def use_lazy_loading(dataset_dir, options: CryodrgnOptions) -> bool:
    if options.lazy is not None:
        return options.lazy
    stacks = Path(dataset_dir, "particles").glob("*.mrcs")
    return sum(path.stat().st_size for path in stacks) > LAZY_ABOVE_GB * 1e9


def train_argv(dataset_dir, job_dir, options: CryodrgnOptions, executable: str = "cryodrgn",
               load: Path | None = None) -> tuple[str, ...]:
    """``cryodrgn train_vae ...`` for the dataset (absolute paths, so the line can be copied);
    ``load``: a checkpoint ``weights.K.pkl`` to continue from."""
    dataset, train = Path(dataset_dir).resolve(), Path(job_dir).resolve() / TRAIN_DIR
    argv = [executable, "train_vae", str(dataset / "particles.star"), "--datadir", str(dataset),
            "--poses", str(dataset / "cryodrgn" / "poses.pkl"), "--ctf", str(dataset / "cryodrgn" / "ctf.pkl"),
            "--zdim", str(options.zdim), "-n", str(options.epochs), "-o", str(train),
            "--enc-dim", str(options.enc_dim), "--enc-layers", str(options.enc_layers),
            "--dec-dim", str(options.dec_dim), "--dec-layers", str(options.dec_layers),
            "-b", str(options.batch_size), "--seed", str(options.seed),
            "--log-interval", str(options.log_interval_images), "--no-analysis"]
    if use_lazy_loading(dataset, options):
        argv.append("--lazy")
    if load is not None:
        argv += ["--load", str(load)]
    return tuple(argv)


def checkpoints(job_dir) -> list[int]:
    """Epochs K whose checkpoint is complete, ascending: cryoDRGN writes ``weights.K.pkl`` and
    then ``z.K.pkl``, so a z file means its weights file was fully written."""
    train = Path(job_dir).resolve() / TRAIN_DIR
    epochs = {int(m.group(1)) for path in train.glob("z.*.pkl") if (m := re.fullmatch(r"z\.(\d+)\.pkl", path.name))}
    return sorted(k for k in epochs if (train / f"weights.{k}.pkl").is_file())


def cryodrgn_steps(dataset_dir, job_dir, options: CryodrgnOptions | None = None,
                   executable: str = "cryodrgn", resume: bool = True) -> list[Step]:
    """The job's steps (``train``, then ``analyze`` if asked). With ``resume``, a ``train``
    that an earlier run started and did not finish continues from its last checkpoint, and
    one that finished keeps the command it finished with, so that its stamp still matches
    and ``run_steps`` skips it."""
    options = options or CryodrgnOptions()
    job = Path(job_dir).resolve()
    train = _train_step(dataset_dir, job, options, executable, None)
    if not resume:
        return [train] + _analyze_steps(job, options, executable)
    done = [k for k in checkpoints(job) if k < options.epochs]
    resumed = [_train_step(dataset_dir, job, options, executable, job / TRAIN_DIR / f"weights.{k}.pkl")
               for k in done]
    stamped = next((step for step in [train, *resumed] if is_stamped(job, step)), None)
    return [stamped or (resumed[-1] if resumed else train)] + _analyze_steps(job, options, executable)


def _train_step(dataset_dir, job: Path, options: CryodrgnOptions, executable: str, load: Path | None) -> Step:
    return Step("train", train_argv(dataset_dir, job, options, executable, load), cwd=job,
                parser=TrainProgressParser(total=options.epochs), resources=options.resources)


def _analyze_steps(job: Path, options: CryodrgnOptions, executable: str) -> list[Step]:
    if not options.analyze:
        return []
    return [Step("analyze", (executable, "analyze", str(job / TRAIN_DIR), str(options.epochs)), cwd=job,
                 parser=AnalyzeProgressParser(), resources=options.resources)]


def run_cryodrgn(dataset_dir, job_dir, options: CryodrgnOptions | None = None, runner=None, resume: bool = True,
                 executable: str | Path | None = None, progress=None, should_stop=None, log=None) -> CryodrgnRun:
    """Check cryoDRGN, then run its steps in ``job_dir`` through ``runner`` (default local).
    Callbacks as in ``engine.methods.process.run_steps``; raises ToolMissingError before
    anything runs, StepError (with the tool's last lines) when a step fails."""
    options = options or CryodrgnOptions()
    dataset = Path(dataset_dir).resolve()
    for needed in (dataset / "particles.star", dataset / "cryodrgn" / "poses.pkl", dataset / "cryodrgn" / "ctf.pkl"):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed}: missing, so cryoDRGN cannot run on {dataset} "
                                    f"(an elbench dataset folder has it, DESIGN.md section 5)")
    found = check_cryodrgn(executable)
    job = Path(job_dir).resolve()
    job.mkdir(parents=True, exist_ok=True)
    steps = cryodrgn_steps(dataset, job, options, str(found.path), resume=resume)
    result = run_steps(steps, job, runner=runner, resume=resume, progress=progress, should_stop=should_stop, log=log)
    umap = analysis_dir(job, options) / "umap.pkl"
    return CryodrgnRun(result, z_path(job, options), umap if umap.is_file() else None)

"""RECOVAR on an elbench dataset: ``recovar pipeline`` with a solvent mask made from the dataset's maps.

One step, ``pipeline``, in the job folder ``JOB`` (see engine.methods.process for logs,
stamps, cancel)::

    recovar pipeline DATASET/particles.star --datadir DATASET --poses DATASET/cryodrgn/poses.pkl
        --ctf DATASET/cryodrgn/ctf.pkl --mask JOB/mask.mrc --zdim Z -o JOB/pipeline --accept-cpu [--lazy]

Facts from RECOVAR 1.0.5's source and real runs (DESIGN.md §6, shared/fixtures/recovar):

- ``--mask`` is required (an MRC, or ``sphere`` / ``from_halfmaps`` / ``none``). By default we
  write ``JOB/mask.mrc``: the union (voxel-wise maximum) of the dataset's ``maps/well_NN.mrc``,
  so that it covers the small subunit in every well, thresholded at MASK_THRESHOLD of its
  maximum, grown MASK_EXTEND_PX and given a MASK_SOFT_EDGE_PX raised-cosine edge
  (``engine.structure.object_model.make_soft_mask``); RECOVAR thresholds it at 0.5 and softens
  it again itself.
- ``--zdim`` takes a comma list (default 1,2,4,10,20); we ask for one, by default 4, the zdim
  RECOVAR's own ``analyze`` defaults to.
- ``--accept-cpu`` lets it run on JAX's CPU backend (it refuses otherwise when no GPU is seen);
  it does nothing on a GPU node.
- Half-sets come from the STAR file's ``rlnRandomSubset``, which our datasets carry; the data
  sign is left to RECOVAR (``--uninvert-data automatic``, which means no inversion).
- ``recovar`` has no ``--version``: the version is read from its package metadata.
- RECOVAR pins numpy < 2.3, pandas 2.2.3 and scipy 1.15.2, older than elbench's, so it lives in
  a virtual environment of its own (``install_commands``).

The score-ready output is ``JOB/pipeline/model/zdim_Z/latent_coords.npy``: one row per particle
of the input STAR, in its order (NaN-padded to max(ind)+1 rows for a run given ``--ind``; we
give none), no ``embeddings.pkl`` although ``model/metadata.json`` names one; read it with
``engine.formats.loaders.recovar.load_recovar``.

Example::

    options = RecovarOptions(zdim=4)
    steps = recovar_steps("runs/ds1", "runs/ds1/jobs/recovar", options)
    print(command_line(steps[0]))                                 # --dry-run
    run = run_recovar("runs/ds1", "runs/ds1/jobs/recovar", options, progress=print, log=print)
    run.latent_path                                               # .../pipeline/model/zdim_4/latent_coords.npy
"""
from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.methods.cryodrgn import LAZY_ABOVE_GB, require_python_tool
from engine.methods.process import JobResult, Step, StepResources, run_steps
from engine.methods.progress import StageProgressParser
from engine.methods.tools import FoundTool
from engine.structure.maps import read_map, write_map
from engine.structure.object_model import make_soft_mask

MINIMUM_VERSION = "1.0.5"          # the output layout (model/zdim_N/latent_coords.npy) checked here
DEFAULT_ZDIM = 4
DATASET_MASK = "dataset"           # RecovarOptions.mask: write JOB/mask.mrc from the dataset's maps
RECOVAR_MASKS = ("sphere", "from_halfmaps", "none")
MASK_THRESHOLD = 0.1               # of the union map's maximum
MASK_EXTEND_PX = 2
MASK_SOFT_EDGE_PX = 3
PIPELINE_DIR = "pipeline"
MASK_FILE = "mask.mrc"
# RECOVAR's own virtual environment: inside elbench's (a checkout's .venv/, which git ignores),
# or in the user's data folder when elbench runs from no virtual environment
DEFAULT_VENV = (Path(sys.prefix) / "tools" / "recovar" if sys.prefix != sys.base_prefix
                else Path.home() / ".local" / "share" / "elbench" / "recovar")


@dataclass(frozen=True)
class RecovarOptions:
    """RECOVAR settings. zdim: latent dimensions of the embedding to compute and score; mask:
    DATASET_MASK (write one from ``maps/``), one of RECOVAR_MASKS, or the path of an MRC mask;
    downsample_px: box RECOVAR downsamples to (None: its default, 256, skipped for smaller
    images); lazy: None decides from the size of the stacks (LAZY_ABOVE_GB); accept_cpu: run
    on JAX's CPU backend when no GPU is found; resources: what a SLURM job asks for."""

    zdim: int = DEFAULT_ZDIM
    mask: str = DATASET_MASK
    downsample_px: int | None = None
    lazy: bool | None = None
    accept_cpu: bool = True
    resources: StepResources = field(default_factory=StepResources)

    def __post_init__(self):
        if not isinstance(self.zdim, int) or isinstance(self.zdim, bool) or self.zdim < 1:
            raise ValueError(f"zdim must be a positive integer, got {self.zdim!r}")
        if self.downsample_px is not None and self.downsample_px < 8:
            raise ValueError(f"downsample_px must be >= 8, got {self.downsample_px}")
        if not self.mask:
            raise ValueError(f"mask must be {DATASET_MASK!r}, one of {RECOVAR_MASKS} or an MRC path")


@dataclass(frozen=True)
class RecovarRun:
    """A finished (or cancelled) RECOVAR job: the step results and the latent coordinates file."""

    job: JobResult
    latent_path: Path


# The stages ``recovar pipeline`` logs, in order, with the share of a real CPU run's time
# (300 images, box 32, 742 s) spent before each; it prints no counts of its own.
PIPELINE_STAGES = {
    "number of images:": 0.02,
    "mean computed in": 0.07,
    "time to estimate noise is": 0.13,
    "Time to cov": 0.39,
    "big SVD": 0.72,
    "end of covariance computation": 0.85,
    "end of solve": 0.93,
    "embedding time for zdim=": 0.94,
    "total time:": 0.96,
}


@dataclass(frozen=True)
class PipelineProgressParser(StageProgressParser):
    """Fraction of ``recovar pipeline`` done, from the stage a line announces (PIPELINE_STAGES)."""

    stages: tuple = tuple(PIPELINE_STAGES.items())


def install_commands(venv: str | Path = DEFAULT_VENV, python: str = "python3") -> list[list[str]]:
    """The commands that install RECOVAR with CPU JAX into a virtual environment of its own
    (``pip install recovar`` brings jax and the CPU jaxlib; a GPU node wants ``recovar[gpu]``)."""
    venv = Path(venv)
    return [[python, "-m", "venv", str(venv)], [str(venv / "bin" / "python"), "-m", "pip", "install", "recovar"]]


def install_hint(venv: str | Path = DEFAULT_VENV) -> str:
    return (" && ".join(" ".join(command) for command in install_commands(venv))
            + f"  (RECOVAR >= {MINIMUM_VERSION}, CPU JAX; its own environment because it pins numpy, pandas "
              "and scipy older than elbench's; on a GPU node install 'recovar[gpu]')")


def find_executable(executable: str | Path | None = None) -> str:
    """``executable`` if given, else ``recovar`` on PATH, else the one in DEFAULT_VENV; the bare
    name when there is none (the check then says how to install it)."""
    if executable is not None:
        return str(executable)
    in_venv = DEFAULT_VENV / "bin" / "recovar"
    return str(in_venv) if shutil.which("recovar") is None and in_venv.is_file() else "recovar"


def check_recovar(executable: str | Path | None = None) -> FoundTool:
    """Raise ToolMissingError (saying how to install it) unless RECOVAR >= 1.0.5 is there."""
    return require_python_tool(find_executable(executable), "recovar", MINIMUM_VERSION, install_hint())


def latent_path(job_dir, options: RecovarOptions) -> Path:
    """The latent coordinates of ``options.zdim``, the file to score."""
    return Path(job_dir).resolve() / PIPELINE_DIR / "model" / f"zdim_{options.zdim}" / "latent_coords.npy"


def mask_argument(job_dir, options: RecovarOptions) -> str:
    if options.mask == DATASET_MASK:
        return str(Path(job_dir).resolve() / MASK_FILE)
    if options.mask in RECOVAR_MASKS:
        return options.mask
    return str(Path(options.mask).resolve())


def write_dataset_mask(dataset_dir, path) -> Path:
    """Write the solvent mask of the module docstring to ``path`` (same box and pixel size as
    the dataset's images); returns ``path``. Uses ``maps/well_*.mrc``, or ``lsu.mrc`` +
    ``ssu.mrc`` when a dataset has no well maps."""
    maps = Path(dataset_dir) / "maps"
    sources = sorted(maps.glob("well_*.mrc")) or [maps / "lsu.mrc", maps / "ssu.mrc"]
    union, apix_A = None, None
    for source in sources:
        density, apix_A = read_map(source)
        if union is None:
            union = density
        elif source.name.startswith("well_"):
            np.maximum(union, density, out=union)
        else:
            union += density
    mask = make_soft_mask(union, apix_A, threshold=MASK_THRESHOLD, extend_A=MASK_EXTEND_PX * apix_A,
                          soft_edge_A=MASK_SOFT_EDGE_PX * apix_A)
    write_map(path, mask, apix_A)
    return Path(path)


def use_lazy_loading(dataset_dir, options: RecovarOptions) -> bool:
    if options.lazy is not None:
        return options.lazy
    return sum(path.stat().st_size for path in Path(dataset_dir, "particles").glob("*.mrcs")) > LAZY_ABOVE_GB * 1e9


def pipeline_argv(dataset_dir, job_dir, options: RecovarOptions, executable: str = "recovar") -> tuple[str, ...]:
    """``recovar pipeline ...`` for the dataset (absolute paths, so the line can be copied)."""
    dataset, job = Path(dataset_dir).resolve(), Path(job_dir).resolve()
    argv = [executable, "pipeline", str(dataset / "particles.star"), "--datadir", str(dataset),
            "--poses", str(dataset / "cryodrgn" / "poses.pkl"), "--ctf", str(dataset / "cryodrgn" / "ctf.pkl"),
            "--mask", mask_argument(job, options), "--zdim", str(options.zdim), "-o", str(job / PIPELINE_DIR)]
    if options.downsample_px is not None:
        argv += ["--downsample", str(options.downsample_px)]
    if use_lazy_loading(dataset, options):
        argv.append("--lazy")
    if options.accept_cpu:
        argv.append("--accept-cpu")
    return tuple(argv)


def recovar_steps(dataset_dir, job_dir, options: RecovarOptions | None = None,
                  executable: str = "recovar") -> list[Step]:
    options = options or RecovarOptions()
    job = Path(job_dir).resolve()
    return [Step("pipeline", pipeline_argv(dataset_dir, job, options, executable), cwd=job,
                 parser=PipelineProgressParser(), resources=options.resources)]


def run_recovar(dataset_dir, job_dir, options: RecovarOptions | None = None, runner=None, resume: bool = True,
                executable: str | Path | None = None, progress=None, should_stop=None, log=None) -> RecovarRun:
    """Check RECOVAR, write the mask (DATASET_MASK), then run the pipeline in ``job_dir``
    through ``runner`` (default local). Callbacks as in ``engine.methods.process.run_steps``;
    raises ToolMissingError before anything runs, StepError (with the tool's last lines)
    when the pipeline fails."""
    options = options or RecovarOptions()
    dataset = Path(dataset_dir).resolve()
    for needed in (dataset / "particles.star", dataset / "cryodrgn" / "poses.pkl", dataset / "cryodrgn" / "ctf.pkl"):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed}: missing, so RECOVAR cannot run on {dataset} "
                                    f"(an elbench dataset folder has it, DESIGN.md section 5)")
    found = check_recovar(executable)
    job = Path(job_dir).resolve()
    job.mkdir(parents=True, exist_ok=True)
    if options.mask == DATASET_MASK:
        write_dataset_mask(dataset, job / MASK_FILE)
    steps = recovar_steps(dataset, job, options, str(found.path))
    result = run_steps(steps, job, runner=runner, resume=resume, progress=progress, should_stop=should_stop, log=log)
    return RecovarRun(result, latent_path(job, options))

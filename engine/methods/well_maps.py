"""Per-well maps: each well reconstructed by RELION from the particles assigned to it.

Given a dataset folder (DESIGN.md section 5: ``particles.star`` with the true poses and CTF)
and one label per particle (1-based well, in ``particles.star`` order; 0 for a particle left
out, e.g. one the method dropped), each well with particles becomes one step of the step
layer (``engine.methods.process``): ``relion_reconstruct --ctf --i subsets/well_NN.star --o
maps/well_NN.mrc``, run in the job folder::

    JOB/subsets/well_NN.star    the dataset's data_optics and that well's rows of
                                data_particles, image names rewritten relative to JOB
    JOB/maps/well_NN.mrc        the reconstruction ([z, y, x], the dataset's pixel size)
    JOB/logs/reconstruct_well_NN.log, JOB/steps/reconstruct_well_NN.done.json

A well with no particle gets no step and no map (``WellMap.map_path`` None, so a caller
reports it). Each well is its own run of ``run_steps``, so a re-run redoes only the wells whose
subset changed or whose map is gone: the stamp of a step covers its command, not the content
of the STAR file it reads, so a changed subset removes its stamp.

CPUs: ``relion_reconstruct`` has no ``--j`` (RELION 3.1.3 ignores the option, and RELION's
current source reads none either); its parallel form is ``mpirun -n R
relion_reconstruct_mpi``, which splits the back-projection over R ranks and writes the same
map (checked: bit-identical). Starting mpirun costs about 3 s here, more than a small well's
whole reconstruction (0.6 s for 50 particles at box 32), so a well gets one rank per
``particles_per_rank`` particles, at most the CPUs available, and the serial program below two.

Each map is then compared with the dataset's ground-truth map of its well, ``maps/well_NN.mrc``
(engine.methods.well_map_scores.score_well_maps): masked FSC 0.5 and 0.143 resolution and the real-space correlation
(engine.structure.fsc.compare_maps, in one soft mask of the truth's object), and the same
correlation with both maps low-passed to ``LOWPASS_A`` (30 A; ``lowpass``: a Fourier filter
with a raised-cosine edge one shell wide centred on 1 / 30 A^-1). At low SNR the unfiltered
correlation is dominated by a reconstruction's high-frequency noise; low-passed it ranks
labellings by the conformations their maps hold. ``well_maps_job`` does all of it for several
labellings (a method's and the ground truth's) as one background job.

No reconstruction in numpy when RELION is missing: ``run_well_maps`` raises
ToolMissingError with the install hint instead. A fallback would be a second reconstructor
(gridding correction, CTF Wiener weights) whose FSCs differ from RELION's, so the same table
would mean different things on different machines, and it would need its own validation
against our projector; RELION is one ``apt-get install relion`` away and is the reconstructor
the other tests already prove on our data (tests/engine/simulation/test_relion_reconstruct.py).

Example::

    plan = plan_well_maps("runs/ds1", labels, "runs/ds1_maps/cryodrgn", n_wells=12)
    print(plan.command_lines())
    result = run_well_maps(plan, progress=print, log=print)
    [(m.well, m.n_particles, m.map_path) for m in result.wells]
    # then engine.methods.well_map_scores: score_well_maps(result, "runs/ds1"), well_maps_job(...)
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from engine.atomic_files import atomic_path
from engine.formats.image_names import format_image_names, parse_image_names
from engine.formats.star import StarFileError, read_star_blocks
from engine.methods.process import (LocalRunner, Step, StepResources, StepResult, command_line, run_steps,
                                    stamp_path)
from engine.cpus import available_cpus
from engine.methods.relion_multibody import INSTALL_HINT, open_mpi_env
from engine.methods.tools import ToolRequirement, require_tool

STAR_FILE = "particles.star"
TRUTH_MAP = "maps/well_{:02d}.mrc"   # the ground-truth map of a well, in the dataset folder
LOWPASS_A = 30.0                     # the low-passed correlation's cutoff (Angstrom)
SUBSET_DIR = "subsets"
MAP_DIR = "maps"
RELION_RECONSTRUCT = ToolRequirement("relion_reconstruct", minimum_version="3.1", version_args=("--version",),
                                     install_hint=INSTALL_HINT)
MPI_TOOLS = ("mpirun", "relion_reconstruct_mpi")
# RELION's progress bar: 60 dots when the back-projection is done; the gridding correction
# after it takes the rest of the step
_BAR = re.compile(r"(\.*)~~\(,_,\">")
_BAR_DOTS = 60
_BACKPROJECTION_SHARE = 0.9


class WellMapsError(ValueError):
    """Labels or a dataset that cannot give per-well maps; the message says which and why."""


@dataclass(frozen=True)
class WellMapOptions:
    """cpus: CPUs a reconstruction may use (None: those this process may run on);
    particles_per_rank: a well gets one MPI rank per this many particles (at most ``cpus``),
    since mpirun's start costs more than a small reconstruction. max_particles: a well with
    more is reconstructed from a random subset of this many (None: all), drawn from ``seed``
    and the well's number alone; maps of two labellings then carry the same noise, so they
    differ by what their particles are, not by how many."""

    cpus: int | None = None
    particles_per_rank: int = 2000
    max_particles: int | None = None
    seed: int = 0

    def __post_init__(self):
        if self.cpus is not None and self.cpus < 1:
            raise ValueError(f"cpus must be >= 1 or None, got {self.cpus}")
        if self.particles_per_rank < 1:
            raise ValueError(f"particles_per_rank must be >= 1, got {self.particles_per_rank}")
        if self.max_particles is not None and self.max_particles < 1:
            raise ValueError(f"max_particles must be >= 1 or None, got {self.max_particles}")


@dataclass(frozen=True, eq=False)
class WellSubset:
    """One well's particles: ``rows`` (M,) int64 indices into particles.star, ascending;
    ``ranks``: MPI ranks of its reconstruction (1: serial relion_reconstruct); n_assigned:
    particles the labels put in the well (more than M when WellMapOptions.max_particles cut it)."""

    well: int
    rows: np.ndarray
    ranks: int
    n_assigned: int

    @property
    def n_particles(self) -> int:
        return len(self.rows)

    @property
    def name(self) -> str:
        return f"well_{self.well:02d}"

    @property
    def step_name(self) -> str:
        return f"reconstruct_{self.name}"


@dataclass(frozen=True)
class WellMap:
    """A well's result: the particles its map is made of, those assigned to it, and its map
    (None: no particle, or the job was cancelled before it)."""

    well: int
    n_particles: int
    map_path: Path | None
    n_assigned: int


@dataclass(frozen=True)
class WellMapsResult:
    """status "complete" or "cancelled"; one WellMap per well asked for, in well order; the
    step results of the wells that ran; reconstructor: e.g. "relion_reconstruct 3.1.3"."""

    status: str
    job_dir: Path
    wells: tuple[WellMap, ...]
    steps: tuple[StepResult, ...]
    reconstructor: str


@dataclass(frozen=True, eq=False)
class WellMapsPlan:
    """Everything the steps need: ``dataset`` and ``job_dir`` (absolute), one WellSubset per
    well 1..n_wells (empty ones included), and the dataset's STAR blocks."""

    dataset: Path
    job_dir: Path
    subsets: tuple[WellSubset, ...]
    options: WellMapOptions
    optics: object = field(repr=False)
    particles: object = field(repr=False)

    def star_path(self, subset: WellSubset) -> Path:
        return self.job_dir / SUBSET_DIR / f"{subset.name}.star"

    def map_path(self, subset: WellSubset) -> Path:
        return self.job_dir / MAP_DIR / f"{subset.name}.mrc"

    def step(self, subset: WellSubset) -> Step:
        """The reconstruction of one non-empty well (paths relative to the job folder)."""
        io = ["--i", f"{SUBSET_DIR}/{subset.name}.star", "--o", f"{MAP_DIR}/{subset.name}.mrc", "--ctf"]
        if subset.ranks == 1:
            return Step(subset.step_name, ["relion_reconstruct", *io], parser=BackprojectionProgress())
        return Step(subset.step_name, ["mpirun", "-n", str(subset.ranks), "relion_reconstruct_mpi", *io],
                    env=open_mpi_env(), parser=BackprojectionProgress(),
                    resources=StepResources(tasks=1, cpus_per_task=subset.ranks))

    def steps(self) -> list[Step]:
        return [self.step(s) for s in self.subsets if s.n_particles]

    def command_lines(self) -> str:
        """The exact commands, one a line, for the user to copy."""
        return "\n".join(command_line(step, self.job_dir) for step in self.steps())


class BackprojectionProgress:
    """Fraction done of relion_reconstruct from its progress bar (one dot per 60th of the
    particles back-projected); the gridding correction after it is the last tenth."""

    def fraction(self, line: str) -> float | None:
        match = _BAR.search(line)
        if match is None:
            return None
        return _BACKPROJECTION_SHARE * min(len(match.group(1)), _BAR_DOTS) / _BAR_DOTS


def ranks_for(n_particles: int, cpus: int, particles_per_rank: int, mpi_available: bool = True) -> int:
    """MPI ranks for a well of ``n_particles``: one per ``particles_per_rank``, at most ``cpus``;
    1 (serial) when that is below two or MPI is not installed."""
    ranks = min(cpus, n_particles // particles_per_rank)
    return ranks if ranks >= 2 and mpi_available else 1


def plan_well_maps(dataset_dir, labels, job_dir, n_wells: int, options: WellMapOptions | None = None) -> WellMapsPlan:
    """Read ``DATASET/particles.star`` and split its particles by ``labels`` ((N,) int, 1-based
    wells, 0 = not assigned) into wells 1..``n_wells``. WellMapsError when the labels do not fit
    the STAR file; StarFileError (a ValueError) when it cannot be read."""
    options = options or WellMapOptions()
    dataset = Path(dataset_dir).resolve()
    blocks = read_star_blocks(dataset / STAR_FILE)
    if "optics" not in blocks or "particles" not in blocks:
        raise StarFileError(dataset / STAR_FILE, "needs a data_optics and a data_particles block (RELION 3.1+)")
    particles = blocks["particles"]
    labels = np.asarray(labels)
    if labels.shape != (len(particles),) or not np.issubdtype(labels.dtype, np.integer):
        raise WellMapsError(f"labels: expected ({len(particles)},) integers, one per particle of "
                            f"{dataset / STAR_FILE} (got {labels.dtype} of shape {labels.shape})")
    bad = labels[(labels < 0) | (labels > n_wells)]
    if bad.size:
        raise WellMapsError(f"labels: well {int(bad[0])} does not exist (wells 1..{n_wells}; 0 = not assigned)")
    cpus = options.cpus or available_cpus()
    mpi = all(shutil.which(tool) for tool in MPI_TOOLS)
    subsets = []
    for well in range(1, n_wells + 1):
        assigned = np.flatnonzero(labels == well)
        rows = assigned
        if options.max_particles is not None and len(assigned) > options.max_particles:
            rng = np.random.default_rng([options.seed, well])
            rows = np.sort(rng.choice(assigned, options.max_particles, replace=False))
        subsets.append(WellSubset(well, rows, ranks_for(len(rows), cpus, options.particles_per_rank, mpi),
                                  len(assigned)))
    return WellMapsPlan(dataset, Path(job_dir).resolve(), tuple(subsets), options, blocks["optics"], particles)


def require_relion_reconstruct() -> str:
    """"relion_reconstruct VERSION", or ToolMissingError saying how to install RELION."""
    return f"relion_reconstruct {require_tool(RELION_RECONSTRUCT).version}"


def run_well_maps(plan: WellMapsPlan, runner=None, resume: bool = True, progress=None, should_stop=None,
                  log=None) -> WellMapsResult:
    """Write the subsets and reconstruct every non-empty well in ``plan.job_dir``. progress
    reports (StepProgress) count the wells as the job's steps; should_stop() cancels between
    and within wells. Raises ToolMissingError (RELION missing) or StepError (a failed run)."""
    reconstructor = require_relion_reconstruct()
    runner = runner if runner is not None else LocalRunner()
    (plan.job_dir / SUBSET_DIR).mkdir(parents=True, exist_ok=True)
    (plan.job_dir / MAP_DIR).mkdir(parents=True, exist_ok=True)
    busy = [s for s in plan.subsets if s.n_particles]
    done: dict[int, Path] = {}
    results: list[StepResult] = []
    status = "complete"
    for subset in plan.subsets:
        if not subset.n_particles:
            _remove_outputs(plan, subset)  # an earlier run's map of this well is not this labelling's
    for index, subset in enumerate(busy):
        _write_subset(plan, subset)

        def well_progress(report, index=index):
            if progress is not None:
                progress(replace(report, index=index, count=len(busy)))

        job = run_steps([plan.step(subset)], plan.job_dir, runner, resume=resume, progress=well_progress,
                        should_stop=should_stop, log=log)
        results.extend(job.steps)
        if job.status == "cancelled":
            status = "cancelled"
            break
        done[subset.well] = plan.map_path(subset)
    wells = tuple(WellMap(s.well, s.n_particles, done.get(s.well), s.n_assigned) for s in plan.subsets)
    return WellMapsResult(status, plan.job_dir, wells, tuple(results), reconstructor)


def _write_subset(plan: WellMapsPlan, subset: WellSubset) -> None:
    """Write the well's STAR file (atomically) when its content changed, and forget the
    well's stamp when the subset changed or its map is gone, so that its step runs again."""
    from starfile.writer import loop_block  # as the dataset's own writer (engine.formats.star)

    table = plan.particles.iloc[subset.rows].copy()
    table["rlnImageName"] = _rebased_names(table["rlnImageName"].to_numpy(), plan.dataset, plan.job_dir)
    lines = ["# version 30001", "", *loop_block("optics", plan.optics), "# version 30001", "",
             *loop_block("particles", table)]
    text = "\n".join(lines) + "\n"
    path = plan.star_path(subset)
    unchanged = path.is_file() and path.read_text(encoding="utf-8") == text
    if not (unchanged and plan.map_path(subset).is_file()):
        # the stamp goes first: a crash before the new subset is written must leave no stamp
        # that would vouch for the old map
        stamp_path(plan.job_dir, subset.step_name).unlink(missing_ok=True)
    if not unchanged:
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")


def _rebased_names(names: np.ndarray, dataset: Path, job_dir: Path) -> np.ndarray:
    """Image names whose relative stack paths (from the dataset folder, as RELION resolves
    them from its working folder) are rewritten relative to the job folder; absolute ones kept."""
    position, stack, ok = parse_image_names(names)
    if not ok.all():
        bad = names[int(np.argmin(ok))]
        raise StarFileError(dataset / STAR_FILE, f"rlnImageName {bad!r} is not N@stack")
    unique, inverse = np.unique(stack, return_inverse=True)
    rebased = np.array([s if os.path.isabs(s) else os.path.relpath(dataset / s, job_dir) for s in unique])
    return format_image_names(position, rebased[inverse])


def _remove_outputs(plan: WellMapsPlan, subset: WellSubset) -> None:
    for path in (plan.star_path(subset), plan.map_path(subset), stamp_path(plan.job_dir, subset.step_name)):
        path.unlink(missing_ok=True)

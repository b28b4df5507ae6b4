"""RELION 3.1 multibody refinement of an elbench dataset, as one engine job of external steps.

Steps (each a ``engine.methods.process.Step``, run in a job folder next to the dataset):

1. ``mask_lsu``, ``mask_ssu``: ``relion_mask_create`` soft masks, threshold
   ``threshold_fraction`` (0.15) of each body's maximum, extended ``lsu_extend_px`` /
   ``ssu_extend_px`` (2 px), ``soft_edge_px`` (3 px) soft edge. The SSU mask is made from the
   SSU's envelope over its range of motion (``engine.methods.relion_inputs``) rather than from
   the SSU at rest grown by a guessed margin: it then covers the SSU at every well for any
   landscape, and no more of the LSU than the motion needs.
2. ``reference``: ``relion_image_handler`` LSU + SSU low-passed to ``lowpass_A`` (20 A).
3. ``consensus``: ``relion_refine(_mpi) --auto_refine`` from the dataset's own poses with
   local searches only (``--sigma_ang``, healpix order 4 from the start), ``--ctf``, no
   ``--firstiter_cc``, ``--particle_diameter`` from the object and its motion.
4. ``multibody``: ``--continue`` from the consensus's last optimiser with ``--multibody_masks
   bodies.star`` (written with ``_rlnBodySigmaOffsetAngst``, see relion_inputs).
5. ``flex``: ``relion_flex_analyse --PCA_orient --do_maps --k 3 --write_pca_projections``:
   ``MultiBody/analyse_projections_along_eigenvectors_all_particles.txt``, which
   ``engine.formats.loaders.relion_multibody`` reads.

The multibody step's ``--continue`` file (``Refine3D/run_itNNN_optimiser.star``, NNN the last
iteration before RELION joined the halves, which writes no optimiser) and the flex step's data
and model files are known only once the step before has run: :meth:`MultibodyPlan.steps`
names them from the job folder when they exist, else with ``<LAST>`` in their place, and
:func:`run_relion_multibody` runs the job in three parts, resolving them in between.

Example::

    plan = plan_multibody("runs/ds1", "runs/ds1_relion_multibody", MultibodyOptions(cpus=4))
    print(plan.command_lines())                   # the exact commands, for --dry-run
    result = run_relion_multibody(plan, progress=print, log=print)
    load_relion_projections(result.projections_path, load_dataset("runs/ds1"))
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from engine.landscape.io import load_landscape
from engine.methods.process import LocalRunner, Step, StepError, StepResources, command_line, is_stamped, run_steps
from engine.methods.relion_inputs import (LSU_MAP, REFERENCE, SSU_ENVELOPE, SSU_MAP, DatasetGeometry,
                                          last_optimiser, mask_create_argv, motion_conformations, num,
                                          particle_diameter_A, read_geometry, reference_argv, refinement_outputs,
                                          ssu_motion_envelope, write_job_inputs)
from engine.methods.tools import ToolRequirement, require_tool
from engine.structure.maps import read_map
from engine.cpus import available_cpus

INSTALL_HINT = "apt-get install relion openmpi-bin (Debian/Ubuntu), or build RELION 3.1+ (relion.readthedocs.io)"
RELION_REFINE = ToolRequirement("relion_refine", minimum_version="3.1", version_args=("--version",),
                                install_hint=INSTALL_HINT)
OTHER_TOOLS = tuple(ToolRequirement(name, version_args=None, install_hint=INSTALL_HINT)
                    for name in ("relion_mask_create", "relion_image_handler", "relion_flex_analyse"))
MPI_TOOLS = tuple(ToolRequirement(name, version_args=None, install_hint=INSTALL_HINT)
                  for name in ("mpirun", "relion_refine_mpi"))
LAST = "<LAST>"  # stands for an iteration number known only when the step before has run
CONSENSUS_ROOT = "Refine3D/run"
MULTIBODY_ROOT = "MultiBody/run"
FLEX_ROOT = "MultiBody/analyse"
PROJECTIONS_SUFFIX = "_projections_along_eigenvectors_all_particles.txt"
_NOT_MESSAGE = ("===", "---", "[", "in:", "RELION version", "exiting with an error")
TYPICAL_ITERATIONS = 12  # an auto-refine from good poses: the fixture's consensus took 11 + the final one


@dataclass(frozen=True)
class MultibodyOptions:
    """What a specialist would choose for a two-body dataset; units in the names.

    cpus: CPUs the job may use (None: those this process may run on); the refinements run
    ``1 + 2 * (cpus // 2)`` MPI ranks of one thread (a leader that mostly waits and an even
    number of followers, one per half set), 3 ranks sharing the CPU on one CPU.
    max_iterations: RELION's ``--auto_iter_max`` for both refinements (None: until converged;
    a bounded refinement stops without the final join, and its last iteration's files are used).
    offset_range_px / offset_step_px: consensus translational search; body_*: the multibody
    one, in pixels as RELION's GUI asks (divided by the pixel size on the command line, see
    :func:`multibody_offset_args`)."""

    cpus: int | None = None
    threshold_fraction: float = 0.15
    lsu_extend_px: int = 2
    ssu_extend_px: int = 2
    soft_edge_px: int = 3
    motion_n_sigma: float = 2.0
    lowpass_A: float = 20.0
    sigma_ang_deg: float = 2.0
    healpix_order: int = 4
    offset_range_px: float = 3.0
    offset_step_px: float = 1.0
    body_offset_range_px: float = 3.0
    body_offset_step_px: float = 1.5
    body_sigma_angles_deg: float = 10.0
    body_sigma_offset_A: float = 10.0
    n_components: int = 3
    max_iterations: int | None = None
    pool: int = 10

    def __post_init__(self):
        for name in ("cpus", "max_iterations"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {getattr(self, name)}")
        if not 0 < self.threshold_fraction < 1:
            raise ValueError(f"threshold_fraction must lie in (0, 1), got {self.threshold_fraction}")
        for name in ("lsu_extend_px", "ssu_extend_px", "soft_edge_px", "healpix_order"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("lowpass_A", "sigma_ang_deg", "offset_range_px", "offset_step_px", "body_offset_range_px",
                     "body_offset_step_px", "body_sigma_angles_deg", "body_sigma_offset_A", "motion_n_sigma"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.n_components < 1 or self.healpix_order < 0 or self.pool < 1:
            raise ValueError("n_components and pool must be >= 1, healpix_order >= 0")

class RelionProgress:
    """Fraction done of a RELION refinement from its own lines (a parser for
    ``engine.methods.progress.ProgressTracker``, which asks only ``fraction(line)``).

    ``Auto-refine: Iteration= N`` / ``Expectation iteration N`` start iteration N, so N - 1
    are done; the ETA bar of its expectation (``  12/  27 sec .......~~(,_,">``, one dot per
    60th of the particles, RELION's progress_bar) adds its share. The other bars (noise
    spectra, maximization) are short and restart at zero, so they are not counted.
    ``iterations``: the expected count (``--auto_iter_max``, else TYPICAL_ITERATIONS; the last
    is the final join). The fraction stays below 1 until the step ends: auto-refine decides
    when it stops."""

    _ITERATION = re.compile(r"(Auto-refine: Iteration=|Expectation iteration)\s*(\d+)")
    _BAR = re.compile(r"^\s*\d+(?:\.\d+)?/\s*\d+(?:\.\d+)? (?:sec|min|hrs) (\.*)~~\(,_,\">")
    _BAR_START = "000/???"
    _LAST = "entering last iteration"

    def __init__(self, iterations: int | None = None):
        self.iterations = iterations or TYPICAL_ITERATIONS
        self.done, self.in_expectation = 0, False

    def fraction(self, line: str) -> float | None:
        match = self._ITERATION.search(line)
        if match:
            self.done = max(int(match.group(2)) - 1, 0)
            self.in_expectation = match.group(1).startswith("Expectation")
            return self._share(0.0)
        match = self._BAR.search(line)
        if match:
            return self._share(len(match.group(1)) / 60.0) if self.in_expectation else None
        if self._LAST in line:
            self.done = max(self.done, self.iterations - 1)
        if line.strip() and not line.lstrip().startswith(self._BAR_START):
            self.in_expectation = False  # another phase of the iteration has begun
        return None

    def _share(self, within: float) -> float:
        return min((min(self.done, self.iterations - 1) + within) / self.iterations, 0.99)


def relion_error_lines(lines) -> tuple[str, ...]:
    """RELION's last error in a log: where (``in: FILE, line N``), ``ERROR:`` and the message
    lines after it (each rank prints its error around a backtrace, and Open MPI adds notices:
    those are left out); () when the log holds no error."""
    lines = [line.rstrip() for line in lines]
    starts = [i for i, line in enumerate(lines) if line.lstrip().startswith("ERROR")]
    if not starts:
        return ()
    start = starts[-1]
    while start > 0 and lines[start - 1].lstrip().startswith("ERROR"):  # "ERROR: " then "ERROR!!! ..."
        start -= 1
    block = [lines[start].strip()]
    for line in lines[start + 1:start + 12]:
        if not line.strip() or line.lstrip().startswith(_NOT_MESSAGE):
            break
        block.append(line)
    where = next((line for line in reversed(lines[:start]) if "in: " in line and ", line " in line), None)
    return tuple(([f"in: {where.rsplit('in: ', 1)[1]}"] if where else []) + block)


def mpi_ranks(cpus: int) -> int:
    """Ranks for ``cpus`` CPUs: a leader plus an even number of followers, because a
    gold-standard refinement splits the followers between the halves; at least 3, also on one
    CPU (serial relion_refine refuses --split_random_halves: "Cannot split data into random
    halves without using MPI!"), where the ranks share it."""
    return 1 + 2 * max(1, cpus // 2)


def open_mpi_env() -> dict[str, str]:
    """Environment for mpirun: ranks = CPUs + 1 is meant (the leader rank only hands out work),
    and Open MPI refuses more ranks than cores unless told, and to run as root unless told twice."""
    env = {"OMPI_MCA_rmaps_base_oversubscribe": "1"}
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def multibody_offset_args(range_px: float, step_px: float, apix_A: float) -> list[str]:
    """``--offset_range R --offset_step S`` for a multibody continuation, R and S being the
    wanted pixels divided by the pixel size: RELION multiplies these values by the pixel size
    twice in a multibody continuation (3dem/relion#1085, "Multibody refinement initial offset
    search parameters are multiplied by an extra factor of pixel size"), so 3 px at 5 A/px is
    given as 0.6 and its log reports the intended 15 A."""
    return ["--offset_range", num(range_px / apix_A), "--offset_step", num(step_px / apix_A)]


@dataclass(frozen=True)
class MultibodyPlan:
    """Everything the steps need, read from the dataset once: ``dataset`` and ``job_dir``
    (absolute), the geometry, the thresholds (density units of each map), the particle
    diameter (Angstrom), the CPUs / ranks the refinements use, and the SSU's envelope over its
    motion ((D, D, D) float32 [z, y, x], written as inputs/ssu_motion.mrc)."""

    dataset: Path
    job_dir: Path
    options: MultibodyOptions
    geometry: DatasetGeometry
    lsu_threshold: float
    ssu_threshold: float
    particle_diameter_A: float
    cpus: int
    ranks: int
    ssu_envelope: np.ndarray = field(repr=False, compare=False)

    @property
    def projections_path(self) -> Path:
        return self.job_dir / f"{FLEX_ROOT}{PROJECTIONS_SUFFIX}"

    def _refine(self) -> list[str]:
        return ["mpirun", "-n", str(self.ranks), "relion_refine_mpi"]

    def _refine_env(self) -> dict[str, str]:
        return open_mpi_env()

    def _resources(self) -> StepResources:
        # one task of all the CPUs: mpirun places its ranks in them (a leader more than CPUs)
        return StepResources(tasks=1, cpus_per_task=self.cpus)

    def _iteration_cap(self) -> list[str]:
        return [] if self.options.max_iterations is None else ["--auto_iter_max", str(self.options.max_iterations)]

    def input_steps(self) -> list[Step]:
        """Masks and reference (seconds)."""
        o, apix, lsu = self.options, self.geometry.apix_A, str(self.dataset / LSU_MAP)
        return [Step("mask_lsu", mask_create_argv(lsu, "masks/lsu_mask.mrc", self.lsu_threshold, o.lsu_extend_px,
                                                  o.soft_edge_px, apix, self.cpus), cwd=self.job_dir),
                Step("mask_ssu", mask_create_argv(SSU_ENVELOPE, "masks/ssu_mask.mrc", self.ssu_threshold,
                                                  o.ssu_extend_px, o.soft_edge_px, apix, self.cpus), cwd=self.job_dir),
                Step("reference", reference_argv(lsu, str(self.dataset / SSU_MAP), o.lowpass_A, apix, REFERENCE),
                     cwd=self.job_dir)]

    def consensus_step(self) -> Step:
        o = self.options
        argv = [*self._refine(), "--i", str(self.dataset / "particles.star"), "--o", CONSENSUS_ROOT,
                "--auto_refine", "--split_random_halves", "--ref", REFERENCE,
                "--ini_high", num(o.lowpass_A), "--particle_diameter", num(self.particle_diameter_A),
                "--healpix_order", str(o.healpix_order), "--auto_local_healpix_order", str(o.healpix_order),
                "--sigma_ang", num(o.sigma_ang_deg), "--offset_range", num(o.offset_range_px),
                "--offset_step", num(o.offset_step_px), "--ctf", "--flatten_solvent", "--zero_mask",
                "--norm", "--scale", "--oversampling", "1", "--pad", "2", "--low_resol_join_halves", "40",
                "--pool", str(o.pool), "--dont_combine_weights_via_disc", "--j", "1", *self._iteration_cap()]
        return Step("consensus", argv, cwd=self.job_dir, env=self._refine_env(),
                    parser=RelionProgress(o.max_iterations), resources=self._resources())

    def multibody_step(self, optimiser: str) -> Step:
        """``optimiser``: the consensus's ``Refine3D/run_itNNN_optimiser.star`` (job-relative)."""
        o = self.options
        argv = [*self._refine(), "--continue", optimiser, "--o", MULTIBODY_ROOT, "--multibody_masks", "bodies.star",
                "--solvent_correct_fsc", "--reconstruct_subtracted_bodies", "--oversampling", "1",
                "--healpix_order", str(o.healpix_order), "--auto_local_healpix_order", str(o.healpix_order),
                *multibody_offset_args(o.body_offset_range_px, o.body_offset_step_px, self.geometry.apix_A),
                "--pad", "2", "--pool", str(o.pool), "--dont_combine_weights_via_disc", "--j", "1",
                *self._iteration_cap()]
        return Step("multibody", argv, cwd=self.job_dir, env=self._refine_env(),
                    parser=RelionProgress(o.max_iterations), resources=self._resources())

    def flex_step(self, data: str, model: str) -> Step:
        """``data``, ``model``: the multibody's final (or last) data.star and model.star."""
        argv = ["relion_flex_analyse", "--PCA_orient", "--do_maps", "--k", str(self.options.n_components),
                "--write_pca_projections", "--data", data, "--model", model, "--bodies", "bodies.star",
                "--o", FLEX_ROOT]
        return Step("flex", argv, cwd=self.job_dir, parser=RelionProgress(1))

    def steps(self) -> list[Step]:
        """All six steps; files not yet written by the step before are named with ``<LAST>``."""
        optimiser = last_optimiser(self.job_dir, CONSENSUS_ROOT) or f"{CONSENSUS_ROOT}_it{LAST}_optimiser.star"
        found = refinement_outputs(self.job_dir, MULTIBODY_ROOT)
        data, model = found or (f"{MULTIBODY_ROOT}_data.star", f"{MULTIBODY_ROOT}_model.star")
        return [*self.input_steps(), self.consensus_step(), self.multibody_step(optimiser), self.flex_step(data, model)]

    def command_lines(self) -> str:
        """The job as shell lines to copy (``--dry-run``), one per step."""
        lines = [f"# RELION multibody of {self.dataset} in {self.job_dir} ({self.cpus} CPUs, {self.ranks} ranks)",
                 f"# elbench first writes {SSU_ENVELOPE} (the SSU over its motion), bodies.star and the link "
                 f"particles -> {self.dataset / 'particles'}"]
        for step in self.steps():
            lines.append(f"# {step.name}")
            lines.append(command_line(step))
        if any(LAST in " ".join(step.argv) for step in self.steps()):
            lines.append(f"# {LAST}: the last iteration the step before writes (known when it has run)")
        return "\n".join(lines) + "\n"

    def write_inputs(self) -> None:
        """Write what elbench makes itself (see relion_inputs.write_job_inputs)."""
        write_job_inputs(self.job_dir, self.dataset, self.ssu_envelope, self.geometry.apix_A,
                         self.options.body_sigma_angles_deg, self.options.body_sigma_offset_A)


def plan_multibody(dataset_dir, job_dir=None, options: MultibodyOptions | None = None) -> MultibodyPlan:
    """Read the dataset (geometry, maps, landscape) and fix every number of the job. job_dir:
    default ``<dataset>_relion_multibody`` next to the dataset."""
    options = options or MultibodyOptions()
    geometry = read_geometry(dataset_dir)
    dataset = geometry.root
    job = Path(job_dir).resolve() if job_dir is not None else dataset.with_name(dataset.name + "_relion_multibody")
    lsu, _ = read_map(dataset / LSU_MAP)
    ssu, _ = read_map(dataset / SSU_MAP)
    conformations = motion_conformations(load_landscape(dataset / "landscape.json"), options.motion_n_sigma)
    envelope = ssu_motion_envelope(ssu, geometry, conformations)
    cpus = options.cpus or available_cpus()
    return MultibodyPlan(dataset, job, options, geometry, options.threshold_fraction * float(lsu.max()),
                         options.threshold_fraction * float(ssu.max()),
                         particle_diameter_A(lsu, envelope, geometry.apix_A), cpus, mpi_ranks(cpus), envelope)


def require_relion() -> str:
    """Check the RELION tools and MPI are installed; the version of relion_refine. Raises
    ToolMissingError saying how to install what is missing."""
    found = require_tool(RELION_REFINE)
    for requirement in OTHER_TOOLS + MPI_TOOLS:
        require_tool(requirement)
    return found.version


@dataclass(frozen=True)
class MultibodyResult:
    """How the job ended: status "complete" or "cancelled"; step results in order;
    projections_path: the flex-analyse projections file (there when complete)."""

    status: str
    steps: tuple
    projections_path: Path


def run_relion_multibody(plan: MultibodyPlan, runner=None, resume: bool = True, progress=None, should_stop=None,
                         log=None) -> MultibodyResult:
    """Run the plan's steps in ``plan.job_dir`` (see the module docstring); progress reports
    count the six steps as one job. Raises StepError with RELION's own error lines on failure."""
    require_relion()
    runner = runner if runner is not None else LocalRunner()
    plan.job_dir.mkdir(parents=True, exist_ok=True)
    plan.write_inputs()
    results: list = []
    parts = [lambda: [*plan.input_steps(), plan.consensus_step()],
             lambda: [plan.multibody_step(_resolved(last_optimiser(plan.job_dir, CONSENSUS_ROOT), "consensus"))],
             lambda: [plan.flex_step(*_resolved(refinement_outputs(plan.job_dir, MULTIBODY_ROOT), "multibody"))]]
    outputs = {"consensus": "Refine3D", "multibody": "MultiBody"}
    for part in parts:
        steps, part_resume = part(), resume
        if not (resume and all(is_stamped(plan.job_dir, step) for step in steps)):
            resume = False  # this part runs (from its first unstamped step), so all after it too
            for step in steps:  # an older run's iterations would be taken for this run's
                if step.name in outputs:
                    shutil.rmtree(plan.job_dir / outputs[step.name], ignore_errors=True)
                    (plan.job_dir / outputs[step.name]).mkdir()
        offset = len(results)

        def part_progress(report, offset=offset):
            if progress is not None:
                progress(replace(report, index=offset + report.index, count=6))

        try:
            job = run_steps(steps, plan.job_dir, runner=runner, resume=part_resume, progress=part_progress,
                            should_stop=should_stop, log=log)
        except StepError as exc:
            raise with_relion_error(exc) from exc
        results.extend(job.steps)
        if job.status != "complete":
            return MultibodyResult(job.status, tuple(results), plan.projections_path)
    return MultibodyResult("complete", tuple(results), plan.projections_path)


def _resolved(value, step: str):
    if value is None:
        raise StepError(f"step {step!r} finished but left no output to continue from", step)
    return value


def with_relion_error(exc: StepError) -> StepError:
    """The same failure, quoting RELION's error block instead of the log's last lines (with
    MPI these are mostly backtraces and Open MPI's abort notice)."""
    try:
        lines = exc.log_path.read_text(encoding="utf-8", errors="replace").splitlines() if exc.log_path else []
    except OSError:
        lines = []
    error = relion_error_lines(lines)
    if not error:
        return exc
    first = str(exc).split("\nlast lines of", 1)[0]
    text = f"{first}\nRELION said (in {exc.log_path}):\n" + "\n".join(f"  {line}" for line in error)
    return StepError(text, exc.step, exc.command, exc.log_path, error)

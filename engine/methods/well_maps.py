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
(``score_well_maps``): masked FSC 0.5 and 0.143 resolution and the real-space correlation
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
    scores = score_well_maps(result, "runs/ds1")     # WellMapScore per well: FSC, correlations
    job = well_maps_job("runs/ds1", [Labelling("cryoDRGN", labels), Labelling("ground truth", truth)],
                        "runs/ds1_maps", n_wells=12)    # LabelMaps per labelling
"""
from __future__ import annotations

import math
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


# --- comparison with the ground-truth maps ----------------------------------------------
def lowpass(volume: np.ndarray, apix_A: float, cutoff_A: float) -> np.ndarray:
    """``volume`` (D, D, D) low-passed to ``cutoff_A`` Angstrom by a Fourier filter: weight 1
    below 1 / cutoff_A, 0 above, a raised-cosine edge one Fourier shell (1 / (D apix_A)) wide
    centred on 1 / cutoff_A between (a hard edge would ring). float64."""
    if not (cutoff_A > 0 and apix_A > 0):
        raise ValueError(f"lowpass: cutoff_A and apix_A must be > 0 (got {cutoff_A}, {apix_A})")
    import scipy.fft

    volume = np.asarray(volume, dtype=np.float64)
    d = volume.shape[0]
    f = np.fft.fftfreq(d, apix_A)
    radius = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + np.fft.rfftfreq(d, apix_A)[None, None, :] ** 2)
    width = 1.0 / (d * apix_A)
    t = np.clip((radius - (1.0 / cutoff_A - width / 2)) / width, 0.0, 1.0)
    return scipy.fft.irfftn(scipy.fft.rfftn(volume) * np.cos(0.5 * np.pi * t) ** 2, s=volume.shape)


@dataclass(frozen=True, eq=False)
class WellMapScore:
    """One well's map against the truth: ``comparison`` (engine.structure.fsc.MapComparison)
    is None when the well has no map (no particle assigned); n_particles of n_assigned used;
    ``lowpass_correlation``: the correlation of both maps low-passed to ``lowpass_A``."""

    well: int
    n_particles: int
    n_assigned: int
    map_path: Path | None
    comparison: object | None
    lowpass_correlation: float = math.nan
    lowpass_A: float = LOWPASS_A

    @property
    def count_text(self) -> str:
        """"N", or "N/M" when only N of the M assigned particles were used."""
        return str(self.n_particles) if self.n_particles == self.n_assigned else f"{self.n_particles}/{self.n_assigned}"

    def values(self) -> tuple:
        """(resolution FSC 0.5 A, resolution FSC 0.143 A, correlation, low-passed correlation),
        NaN without a map."""
        c = self.comparison
        return (math.nan,) * 4 if c is None else (c.resolution_fsc05_A, c.resolution_fsc0143_A, c.correlation,
                                                  self.lowpass_correlation)


@dataclass(frozen=True, eq=False)
class LabelMaps:
    """The per-well maps of one labelling (a method's, or the ground truth's)."""

    label: str
    slug: str
    reconstructor: str
    wells: tuple[WellMapScore, ...]
    note: str = ""

    @property
    def with_map(self) -> tuple[WellMapScore, ...]:
        return tuple(w for w in self.wells if w.comparison is not None)

    def mean(self) -> tuple:
        """Mean over the wells with a map of each of WellMapScore.values (NaN when none has;
        a well where nothing is resolved makes the mean resolution infinite)."""
        rows = [w.values() for w in self.with_map]
        return tuple(float(np.mean(column)) for column in zip(*rows)) if rows else (math.nan,) * 4


def score_well_maps(result: WellMapsResult, dataset_dir, lowpass_A: float = LOWPASS_A) -> tuple[WellMapScore, ...]:
    """Compare every map of ``result`` with the dataset's ``maps/well_NN.mrc`` in the soft mask
    of the truth's object, unfiltered and low-passed to ``lowpass_A`` (MapFileError naming the
    file when one is missing or does not match the reconstruction's box)."""
    from engine.structure.fsc import compare_maps, real_space_correlation
    from engine.structure.maps import MapFileError, read_map
    from engine.structure.object_model import make_soft_mask

    scores = []
    for m in result.wells:
        comparison, smooth = None, math.nan
        if m.map_path is not None:
            truth_path = Path(dataset_dir) / TRUTH_MAP.format(m.well)
            truth, apix_A = read_map(truth_path)
            volume, _ = read_map(m.map_path)
            if volume.shape != truth.shape:
                raise MapFileError(f"{m.map_path}: box {volume.shape[0]} differs from {truth_path} ({truth.shape[0]})")
            mask = make_soft_mask(truth, apix_A)
            comparison = compare_maps(volume, truth, apix_A, mask=mask)
            smooth = real_space_correlation(lowpass(volume, apix_A, lowpass_A), lowpass(truth, apix_A, lowpass_A),
                                            mask)
        scores.append(WellMapScore(m.well, m.n_particles, m.n_assigned, m.map_path, comparison, smooth, lowpass_A))
    return tuple(scores)


@dataclass(frozen=True, eq=False)
class Labelling:
    """One particle-to-well labelling to make maps of: ``labels`` (N,) 1-based wells in
    particles.star order, 0 = not assigned; ``slug``: its job folder's name (None: from the
    label); ``note``: how the labels were made."""

    label: str
    labels: np.ndarray
    note: str = ""
    slug: str | None = None

    @property
    def folder_name(self) -> str:
        return self.slug or re.sub(r"[^A-Za-z0-9._-]+", "_", self.label).strip("_.") or "labels"


@dataclass(frozen=True, eq=False)
class WellMapsJob:
    """What ``well_maps_job`` returns: status "complete" or "cancelled", the LabelMaps of the
    labellings done (in order), the reconstructor and the cutoff of the low-passed correlation."""

    status: str
    maps: tuple[LabelMaps, ...]
    reconstructor: str
    lowpass_A: float


def well_maps_job(dataset_dir, labellings, job_root, n_wells: int, options: WellMapOptions | None = None,
                  lowpass_A: float = LOWPASS_A, resume: bool = True, *, progress=None, should_stop=None,
                  log=None) -> WellMapsJob:
    """A job (engine habit 7): reconstruct and score each Labelling's wells in
    ``job_root/<folder_name>``. progress(fraction 0..1 of all the labellings' wells); a
    cancel keeps the labellings done. ToolMissingError without RELION, StepError on a failed run."""
    reconstructor = require_relion_reconstruct()
    if log is not None:
        log(f"per-well maps by {reconstructor} with the true poses and CTF; correlation also low-passed to "
            f"{lowpass_A:g} A")
    labellings = list(labellings)
    names = [lab.folder_name for lab in labellings]
    if len(set(names)) != len(names):
        raise WellMapsError(f"labellings: two share the job folder name {names!r}; give them other slugs")
    done = []
    for k, (labelling, name) in enumerate(zip(labellings, names)):
        plan = plan_well_maps(dataset_dir, labelling.labels, Path(job_root) / name, n_wells, options)

        def step_progress(report, k=k):
            if progress is not None:
                progress((k + report.overall_fraction) / len(labellings))

        result = run_well_maps(plan, resume=resume, progress=step_progress, should_stop=should_stop, log=log)
        if result.status != "complete":
            return WellMapsJob("cancelled", tuple(done), reconstructor, lowpass_A)
        done.append(LabelMaps(labelling.label, name, result.reconstructor,
                              score_well_maps(result, dataset_dir, lowpass_A), labelling.note))
    if progress is not None:
        progress(1.0)
    return WellMapsJob("complete", tuple(done), reconstructor, lowpass_A)


"""RELION multibody runner: its exact commands, the traps of 3.1.3, masks that cover the bodies,
and one real run (Debian's RELION 3.1.3) whose flex-analyse output the loader reads.

One dataset for the module: paper-3x4, 200 particles, box 32 (11.837 A/px), SNR 10, seed 0.
The real run bounds both refinements to 2 iterations (``--auto_iter_max``), enough to prove
the chain: consensus optimiser -> multibody continuation -> flex analysis -> loaded output.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from engine.formats.dataset import load_dataset
from engine.formats.loaders.relion_multibody import load_relion_projections
from engine.formats.star import read_star_blocks
from engine.landscape.presets import load_preset
from engine.methods.process import StepError, run_steps
from engine.methods.progress import LineSplitter, ProgressTracker
from engine.methods.relion_inputs import bodies_star_text, last_optimiser, motion_conformations, refinement_outputs
from engine.methods.relion_multibody import (MultibodyOptions, RelionProgress, mpi_ranks, multibody_offset_args,
                                             plan_multibody, relion_error_lines, require_relion, run_relion_multibody,
                                             with_relion_error)
from engine.methods.slurm import SlurmRunner, SlurmSettings
from engine.methods.tools import ToolMissingError, version_at_least
from engine.simulation.plan import SimulationPlan
from engine.simulation.run import run_simulation

N_PARTICLES = 200
APIX_A = 11.837  # the built-in object's pixel size at box 32 (manifest derived.apix_A)
ROOT_ENV = ["OMPI_MCA_rmaps_base_oversubscribe=1", "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("relion_mb") / "ds"
    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=N_PARTICLES, box_size=32, snr=10.0,
                          seed=0, chunk_size=1000, write_cryosparc=False)
    assert run_simulation(plan, folder, workers=1).status == "complete"
    return folder


@pytest.fixture(scope="module")
def plan(dataset):
    return plan_multibody(dataset, options=MultibodyOptions(cpus=2))


def maximum(path) -> float:
    return float(mrcfile.read(path).max())


def test_exact_command_lines_of_a_known_dataset(dataset, plan):
    ds, job = dataset.resolve(), plan.job_dir
    assert job == ds.with_name("ds_relion_multibody")
    assert (plan.cpus, plan.ranks) == (2, 3)
    lsu_t, ssu_t = (f"{0.15 * maximum(ds / f'maps/{b}.mrc'):.6g}" for b in ("lsu", "ssu"))
    steps = {step.name: step for step in plan.steps()}
    assert list(steps) == ["mask_lsu", "mask_ssu", "reference", "consensus", "multibody", "flex"]
    assert list(steps["mask_lsu"].argv) == [
        "relion_mask_create", "--i", f"{ds}/maps/lsu.mrc", "--o", "masks/lsu_mask.mrc", "--ini_threshold", lsu_t,
        "--extend_inimask", "2", "--width_soft_edge", "3", "--angpix", "11.837", "--j", "2"]
    assert list(steps["mask_ssu"].argv) == [
        "relion_mask_create", "--i", "inputs/ssu_motion.mrc", "--o", "masks/ssu_mask.mrc", "--ini_threshold", ssu_t,
        "--extend_inimask", "2", "--width_soft_edge", "3", "--angpix", "11.837", "--j", "2"]
    assert list(steps["reference"].argv) == [
        "relion_image_handler", "--i", f"{ds}/maps/lsu.mrc", "--add", f"{ds}/maps/ssu.mrc", "--lowpass", "20",
        "--angpix", "11.837", "--o", "inputs/reference.mrc"]
    mpi = ["mpirun", "-n", "3", "relion_refine_mpi"]
    assert list(steps["consensus"].argv) == mpi + [
        "--i", f"{ds}/particles.star", "--o", "Refine3D/run", "--auto_refine", "--split_random_halves",
        "--ref", "inputs/reference.mrc", "--ini_high", "20", "--particle_diameter", "356", "--healpix_order", "4",
        "--auto_local_healpix_order", "4", "--sigma_ang", "2", "--offset_range", "3", "--offset_step", "1", "--ctf",
        "--flatten_solvent", "--zero_mask", "--norm", "--scale", "--oversampling", "1", "--pad", "2",
        "--low_resol_join_halves", "40", "--pool", "10", "--dont_combine_weights_via_disc", "--j", "1"]
    assert "--firstiter_cc" not in steps["consensus"].argv
    assert list(steps["multibody"].argv) == mpi + [
        "--continue", "Refine3D/run_it<LAST>_optimiser.star", "--o", "MultiBody/run", "--multibody_masks",
        "bodies.star", "--solvent_correct_fsc", "--reconstruct_subtracted_bodies", "--oversampling", "1",
        "--healpix_order", "4", "--auto_local_healpix_order", "4", "--offset_range", "0.253443", "--offset_step",
        "0.126721", "--pad", "2", "--pool", "10", "--dont_combine_weights_via_disc", "--j", "1"]
    assert list(steps["flex"].argv) == [
        "relion_flex_analyse", "--PCA_orient", "--do_maps", "--k", "3", "--write_pca_projections", "--data",
        "MultiBody/run_data.star", "--model", "MultiBody/run_model.star", "--bodies", "bodies.star", "--o",
        "MultiBody/analyse"]
    assert all(step.working_folder(job) == job for step in steps.values())
    assert (steps["consensus"].resources.tasks, steps["consensus"].resources.cpus_per_task) == (1, 2)
    text = plan.command_lines()
    assert f"cd {job} && " + " ".join(ROOT_ENV) + " mpirun -n 3 relion_refine_mpi --i" in text
    assert "# <LAST>: the last iteration" in text
    assert not job.exists(), "planning (a dry run) writes nothing"


def test_particle_diameter_holds_the_object_and_its_motion(plan):
    # the box is 32 px of 11.837 A = 379 A; the SNR mask of this object is 328 A across
    assert 328.0 < plan.particle_diameter_A <= 32 * APIX_A


def test_ranks_from_cpus_a_leader_and_two_halves():
    assert [mpi_ranks(c) for c in (1, 2, 3, 4, 5, 16)] == [3, 3, 3, 5, 5, 17]


def test_one_cpu_still_runs_three_ranks(dataset):
    """Serial relion_refine cannot split the data into half sets: 3 ranks share the one CPU."""
    single = plan_multibody(dataset, options=MultibodyOptions(cpus=1))
    consensus = single.consensus_step()
    assert single.ranks == 3 and consensus.argv[:4] == ("mpirun", "-n", "3", "relion_refine_mpi")
    assert dict(consensus.env)["OMPI_MCA_rmaps_base_oversubscribe"] == "1"


def test_iteration_cap_reaches_both_refinements(dataset):
    capped = plan_multibody(dataset, options=MultibodyOptions(cpus=2, max_iterations=4))
    for step in (capped.consensus_step(), capped.multibody_step("Refine3D/run_it004_optimiser.star")):
        assert list(step.argv[-2:]) == ["--auto_iter_max", "4"]


def test_multibody_offsets_are_divided_by_the_pixel_size():
    # the fixture run (5 A/px): 3 px / 1.5 px given as 0.6 / 0.3, RELION's log then said 15 A / 7.5 A
    assert multibody_offset_args(3.0, 1.5, 5.0) == ["--offset_range", "0.6", "--offset_step", "0.3"]
    assert multibody_offset_args(3.0, 1.5, APIX_A) == ["--offset_range", "0.253443", "--offset_step", "0.126721"]


def test_bodies_star_uses_sigma_offset_in_angstrom(tmp_path):
    path = tmp_path / "bodies.star"
    path.write_text(bodies_star_text(("masks/lsu_mask.mrc", "masks/ssu_mask.mrc"), 10.0, 10.0))
    text = path.read_text()
    assert "_rlnBodySigmaOffsetAngst" in text and "_rlnBodySigmaOffset\n" not in text
    (table,) = read_star_blocks(path).values()
    assert list(table.columns) == ["rlnBodyMaskName", "rlnBodyRotateRelativeTo", "rlnBodySigmaAngles",
                                   "rlnBodySigmaOffsetAngst"]
    assert table["rlnBodyMaskName"].tolist() == ["masks/lsu_mask.mrc", "masks/ssu_mask.mrc"]
    assert table["rlnBodyRotateRelativeTo"].tolist() == [2, 1]
    assert table["rlnBodySigmaAngles"].tolist() == [10, 10] and table["rlnBodySigmaOffsetAngst"].tolist() == [10, 10]


def test_motion_conformations_reach_two_sigma_around_every_well():
    land = load_preset("paper-3x4")
    points = motion_conformations(land, n_sigma=2.0)
    assert points.shape == (5 * len(land.wells), 2)
    well = land.wells[0]
    assert [well.cc1_deg, well.cc2_deg] in points.tolist()
    assert [well.cc1_deg + 2 * well.sigma1_deg, well.cc2_deg] in points.tolist()
    assert points[:, 0].min() >= land.cc1_range_deg[0] and points[:, 1].max() <= land.cc2_range_deg[1]


def test_relion_check_says_how_to_install(tmp_path, monkeypatch):
    assert version_at_least(require_relion(), "3.1")  # Debian's 3.1.3 here
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match="relion_refine was not found on PATH.*apt-get install relion"):
        require_relion()


def test_outputs_of_a_converged_and_of_a_bounded_refinement(tmp_path):
    (tmp_path / "MultiBody").mkdir()
    for name in ("run_it000_optimiser", "run_it009_optimiser", "run_it010_optimiser", "run_it010_data",
                 "run_it010_half1_model", "run_it010_half2_model"):
        (tmp_path / "MultiBody" / f"{name}.star").touch()
    assert last_optimiser(tmp_path, "MultiBody/run") == "MultiBody/run_it010_optimiser.star"
    assert last_optimiser(tmp_path, "Refine3D/run") is None
    # stopped by --auto_iter_max: no joint model, the last iteration's data and half-1 model
    assert refinement_outputs(tmp_path, "MultiBody/run") == ("MultiBody/run_it010_data.star",
                                                             "MultiBody/run_it010_half1_model.star")
    for name in ("run_data", "run_model"):  # converged: the final join's files
        (tmp_path / "MultiBody" / f"{name}.star").touch()
    assert refinement_outputs(tmp_path, "MultiBody/run") == ("MultiBody/run_data.star", "MultiBody/run_model.star")


def test_masks_cover_their_bodies(dataset, tmp_path):
    require_relion()
    plan = plan_multibody(dataset, tmp_path / "job", MultibodyOptions(cpus=2))
    plan.write_inputs()
    assert run_steps(plan.input_steps(), plan.job_dir).status == "complete"
    job, maps = plan.job_dir, dataset / "maps"
    lsu, ssu = mrcfile.read(maps / "lsu.mrc"), mrcfile.read(maps / "ssu.mrc")
    lsu_mask, ssu_mask = mrcfile.read(job / "masks/lsu_mask.mrc"), mrcfile.read(job / "masks/ssu_mask.mrc")
    with mrcfile.open(job / "masks/ssu_mask.mrc") as mrc:
        assert mrc.data.shape == (32, 32, 32) and mrc.voxel_size.x == pytest.approx(APIX_A)
    assert min(lsu_mask.min(), ssu_mask.min()) >= 0 and max(lsu_mask.max(), ssu_mask.max()) <= 1
    assert lsu_mask[lsu > plan.lsu_threshold].min() >= 0.99
    rest_only = ssu > plan.ssu_threshold
    uncovered_at_rest = 0
    for well in sorted(maps.glob("well_*.mrc")):
        moved = mrcfile.read(well) - lsu  # the SSU alone at that well centre
        inside = moved > plan.ssu_threshold
        assert ssu_mask[inside].min() >= 0.99, f"SSU mask misses the SSU at {well.name}"
        uncovered_at_rest += int((inside & ~rest_only).sum())
    assert uncovered_at_rest > 0, "control: the SSU at rest does not cover where the wells put it"
    reference = mrcfile.read(job / "inputs/reference.mrc")
    assert np.allclose(reference, lsu + ssu, atol=1e-3 * float(ssu.max()))  # 20 A is beyond Nyquist (23.7 A) here


# Lines of a real RELION 3.1.3 consensus (this dataset's kind, box 32), as LineSplitter cuts them
CONSENSUS_LOG = [
    " Auto-refine: Iteration= 1", " Expectation iteration 1",
    "000/??? sec ~~(,_,\">                                                          [oo]",
    "   4/  13 sec ..................~~(,_,\">", "  20/  20 sec ............................................................~~(,_,\">",
    " Maximization ...", "000/??? sec ~~(,_,\">                                                          [oo]",
    "   3/   3 sec ............................................................~~(,_,\">",
    " Auto-refine: Iteration= 2", " Auto-refine: Resolution= 37.8784 (no gain for 1 iter) ", " Expectation iteration 2",
    "  11/  47 sec ..............~~(,_,\">", "  33/  43 sec ..............................................~~(,_,\">",
    " Auto-refine: Refinement has converged, entering last iteration where two halves will be combined...",
    " Expectation iteration 3", "   6/  25 sec ..............~~(,_,\">",
]


def test_progress_from_relion_iteration_and_bar_lines():
    parser, reports = RelionProgress(3), []
    tracker = ProgressTracker("consensus", parser, progress=reports.append)
    for line in CONSENSUS_LOG:
        tracker.feed(line)
    fractions = [r.fraction for r in reports]
    # iteration 1 starts; its expectation bar (18, 60 dots); maximization's bar is not counted;
    # iteration 2's bar (14, 46 dots); the final join starts as iteration 3; its bar (14 dots)
    expected = [0.0, 18 / 60 / 3, 1 / 3, (1 + 14 / 60) / 3, (1 + 46 / 60) / 3, 2 / 3, (2 + 14 / 60) / 3]
    assert fractions == pytest.approx(expected)
    assert RelionProgress(3).fraction(" Maximization ...") is None
    assert LineSplitter().feed(b"   4/  13 sec ....~~(,_,\">\r   5/  13 sec .....~~(,_,\">\r") == [
        "   4/  13 sec ....~~(,_,\">"]


# What relion_refine_mpi 3.1.3 printed with 3 ranks and a missing reference (abridged backtraces)
MPI_ERROR_LOG = """ Running CPU instructions in double precision.
in: ./src/image.h, line 264
ERROR: 
Cannot read file missing_ref.mrc It does not exist
=== Backtrace  ===
relion_refine_mpi(main+0x5d) [0x55f2fa82071d]
==================
ERROR: 
Cannot read file missing_ref.mrc It does not exist
--------------------------------------------------------------------------
MPI_ABORT was invoked on rank 1 in communicator MPI_COMM_WORLD
with errorcode 1.
--------------------------------------------------------------------------
[vm:27912] 2 more processes have sent help message help-mpi-api.txt / mpi-abort
"""


def test_relion_error_lines():
    assert relion_error_lines(MPI_ERROR_LOG.splitlines()) == (
        "in: ./src/image.h, line 264", "ERROR:", "Cannot read file missing_ref.mrc It does not exist")
    assert relion_error_lines(["in: ./src/ml_optimiser.cpp, line 7037", "ERROR: ",
                               "ERROR!!! zero sum of weights....", "=== Backtrace  ==="]) == (
        "in: ./src/ml_optimiser.cpp, line 7037", "ERROR:", "ERROR!!! zero sum of weights....")
    assert relion_error_lines([" Auto-refine: Iteration= 2"]) == ()


def test_a_failed_step_quotes_relion_error(dataset, tmp_path):
    require_relion()
    plan = plan_multibody(dataset, tmp_path / "job", MultibodyOptions(cpus=2))
    plan.write_inputs()  # but no reference: the consensus must fail, and say why
    with pytest.raises(StepError) as info:
        run_steps([plan.consensus_step()], plan.job_dir)
    error = with_relion_error(info.value)
    assert "RELION said" in str(error) and "inputs/reference.mrc" in str(error)
    assert error.last_lines[1] == "ERROR:"


def test_real_run_produces_projections_the_loader_reads(dataset, tmp_path):
    assert shutil.which("relion_refine"), "Debian's relion package must be installed (make deps-test)"
    assert require_relion().startswith("3.")
    plan = plan_multibody(dataset, tmp_path / "job", MultibodyOptions(cpus=2, max_iterations=2))
    reports = []
    t0 = time.monotonic()
    result = run_relion_multibody(plan, progress=reports.append)
    elapsed = time.monotonic() - t0
    assert result.status == "complete", result
    assert [s.step for s in result.steps] == ["mask_lsu", "mask_ssu", "reference", "consensus", "multibody", "flex"]
    out = load_relion_projections(result.projections_path, load_dataset(dataset))
    assert out.coords.shape == (N_PARTICLES, 12)  # 6 parameters x 2 bodies
    assert out.n_dropped == 0 and np.isfinite(out.coords).all() and out.coords[:, 0].std() > 0
    assert sorted(out.particle_index.tolist()) == list(range(N_PARTICLES))
    multibody_log = (plan.job_dir / "logs/multibody.log").read_text()
    # the divided offsets come out as the pixels meant, 1.5 px steps within 3 px of 11.837 A
    # (undivided, RELION would have searched 210 A steps within 420 A)
    assert " TranslationalSampling= 17.7555 NrTranslations= 13" in multibody_log
    assert " Auto-refine: Offset search range= 35.5111 Angstroms" in multibody_log
    overall = [r.overall_fraction for r in reports]
    assert overall == sorted(overall) and overall[-1] == 1.0
    assert {r.step for r in reports if r.state == "running" and r.fraction} >= {"consensus", "multibody"}
    print(f"real RELION multibody run: {N_PARTICLES} particles, box 32, {elapsed:.0f} s")
    again = run_relion_multibody(plan)
    assert [s.status for s in again.steps] == ["skipped"] * 6


def test_masks_and_a_consensus_iteration_through_slurm(slurm_cluster, dataset, tmp_path):
    require_relion()
    plan = plan_multibody(dataset, tmp_path / "job", MultibodyOptions(cpus=2, max_iterations=1))
    plan.write_inputs()
    runner = SlurmRunner(SlurmSettings(poll_interval_s=0.2))
    result = run_steps([*plan.input_steps(), plan.consensus_step()], plan.job_dir, runner=runner)
    assert [(s.step, s.status, s.where) for s in result.steps] == [
        (name, "complete", "slurm") for name in ("mask_lsu", "mask_ssu", "reference", "consensus")]
    script = (plan.job_dir / "slurm/consensus.sbatch").read_text()
    assert "#SBATCH --ntasks=1" in script and "#SBATCH --cpus-per-task=2" in script
    assert "exec mpirun -n 3 relion_refine_mpi" in script
    assert (plan.job_dir / "Refine3D/run_it001_optimiser.star").is_file()
    lsu = mrcfile.read(dataset / "maps/lsu.mrc")
    assert mrcfile.read(plan.job_dir / "masks/lsu_mask.mrc")[lsu > plan.lsu_threshold].min() >= 0.99


def processes_in(folder) -> list[int]:
    """Live processes whose working folder is ``folder`` (RELION's ranks run in the job folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and Path(entry, "cwd").resolve() == folder and \
                    Path(entry, "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_cancel_during_the_consensus_leaves_no_relion_process(dataset, tmp_path):
    require_relion()
    plan = plan_multibody(dataset, tmp_path / "job", MultibodyOptions(cpus=2))
    running = []

    def progress(report):
        if report.step == "consensus" and report.fraction and not running:  # RELION is iterating
            running.extend(processes_in(plan.job_dir))

    result = run_relion_multibody(plan, progress=progress, should_stop=lambda: bool(running))
    assert len(running) >= 4, "mpirun and its 3 ranks were running"
    assert result.status == "cancelled"
    assert [(s.step, s.status) for s in result.steps][-1] == ("consensus", "cancelled")
    assert processes_in(plan.job_dir) == []
    assert not (plan.job_dir / "steps/consensus.done.json").exists()

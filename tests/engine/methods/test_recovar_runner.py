"""The RECOVAR runner: the exact pipeline command, the solvent mask made from the dataset's maps,
progress from RECOVAR's own log lines, the message that says how to install it.

No real RECOVAR run here: 300 images at box 32 took 742 s (5 CPU-minutes, 7 GB resident) on
2 shared cores, far past a test's budget, and installing it alone (its own venv, CPU JAX) takes
about 7 minutes, which proves little without a run. Instead, the file the runner names is read by the
existing loader from a real RECOVAR 1.0.5 run on an elbench dataset made with the same command
(tests/fixtures/elbench_paper3x4_3000/recovar); the log excerpt below is from the 742 s run."""
import stat
from pathlib import Path

import numpy as np
import pytest

from engine.formats.dataset import load_dataset
from engine.formats.loaders.recovar import load_recovar
from engine.methods.process import command_line
from engine.methods.progress import ProgressTracker
from engine.methods.recovar import (MASK_THRESHOLD, PipelineProgressParser, RecovarOptions,
                                    check_recovar, install_commands, latent_path, recovar_steps,
                                    write_dataset_mask)
from engine.methods.tools import ToolMissingError
from engine.structure.maps import read_map, write_map

ELBENCH_RUN = Path(__file__).resolve().parents[2] / "fixtures" / "elbench_paper3x4_3000"

# Real lines of RECOVAR 1.0.5 (pipeline, CPU JAX, 300 images at box 32, --zdim 4, 742 s on a loaded
# 2-core machine), as the step's log kept them
PIPELINE_LOG = """\
2026-12-01 21:57:23,657.657 INFO pipeline - standard_recovar_pipeline: number of images: 300
2026-12-01 21:57:23,657.657 INFO pipeline - standard_recovar_pipeline: image size: 32x32
2026-12-01 21:57:30,613.613 INFO pipeline - standard_recovar_pipeline: Setting noise model to radial
2026-12-01 21:58:01,386.386 INFO pipeline - standard_recovar_pipeline: mean computed in 37.86486625671387
2026-12-01 21:58:44,250.250 INFO pipeline - _estimate_noise: time to estimate noise is 19.569504737854004
2026-12-01 22:01:57,782.782 INFO covariance_estimation - compute_both_H_B: Time to cov 86.8210334777832
2026-12-01 22:02:46,375.375 INFO covariance_estimation - compute_both_H_B: Time to cov 135.41419076919556
2026-12-01 22:05:59,987.987 INFO principal_components - randomized_real_svd_of_columns: big SVD 60.21261286735535
2026-12-01 22:07:40,336.336 INFO covariance_estimation - compute_projected_covariance: end of covariance computation - before solve
2026-12-01 22:08:35,852.852 INFO covariance_estimation - compute_projected_covariance: end of solve
2026-12-01 22:08:44,254.254 INFO pipeline - _compute_embeddings: embedding time for zdim=4: 7.927776575088501
2026-12-01 22:08:45,568.568 INFO pipeline - _compute_embeddings: embedding time for zdim=4_noreg: 1.313600778579712
2026-12-01 22:09:02,597.597 INFO pipeline - standard_recovar_pipeline: total time: 699.0759501457214
2026-12-01 22:09:27,198.198 INFO job - complete: Job completed: pipeline (723.7s)
"""


def fake_dataset(folder: Path, stack_bytes: int = 1000) -> Path:
    (folder / "cryodrgn").mkdir(parents=True)
    (folder / "particles").mkdir()
    for name in ("particles.star", "cryodrgn/poses.pkl", "cryodrgn/ctf.pkl"):
        (folder / name).write_text("")
    with open(folder / "particles" / "particles_00000.mrcs", "wb") as stack:
        stack.truncate(stack_bytes)
    return folder


def test_pipeline_command_line_for_a_dataset(tmp_path):
    ds, job = fake_dataset(tmp_path / "ds"), tmp_path / "job"
    (step,) = recovar_steps(ds, job, RecovarOptions(), executable="recovar")
    assert step.argv == (
        "recovar", "pipeline", f"{ds}/particles.star", "--datadir", str(ds),
        "--poses", f"{ds}/cryodrgn/poses.pkl", "--ctf", f"{ds}/cryodrgn/ctf.pkl",
        "--mask", f"{job}/mask.mrc", "--zdim", "4", "-o", f"{job}/pipeline", "--accept-cpu")
    assert step.cwd == job
    assert command_line(step).startswith(f"cd {job} && recovar pipeline {ds}/particles.star")
    assert latent_path(job, RecovarOptions()) == job / "pipeline" / "model" / "zdim_4" / "latent_coords.npy"


def test_the_named_output_of_a_real_run_loads_in_input_order():
    # that run: pipeline particles.star --poses cryodrgn/poses.pkl --ctf cryodrgn/ctf.pkl --datadir .
    # --mask sphere --zdim 2 --accept-cpu -o recovar (3000 particles, no --ind)
    job = ELBENCH_RUN / "job"
    named = latent_path(job, RecovarOptions(zdim=2))
    real = ELBENCH_RUN / "recovar" / named.relative_to(job / "pipeline")
    assert real.is_file() and not (real.parent.parent / "embeddings.pkl").exists()
    out = load_recovar(real, load_dataset(ELBENCH_RUN))
    assert out.coords.shape == (3000, 2) and out.n_dropped == 0
    assert np.array_equal(out.particle_index, np.arange(3000))


def test_options_reach_the_command(tmp_path):
    ds, job = fake_dataset(tmp_path / "ds", stack_bytes=9 * 10**9), tmp_path / "job"
    options = RecovarOptions(zdim=2, mask="sphere", downsample_px=64, accept_cpu=False)
    (step,) = recovar_steps(ds, job, options)
    argv = " ".join(step.argv)
    assert "--mask sphere --zdim 2" in argv and "--downsample 64" in argv
    assert step.argv[-1] == "--lazy" and "--accept-cpu" not in step.argv
    (own_mask,) = recovar_steps(ds, job, RecovarOptions(mask=str(tmp_path / "m.mrc"), lazy=False))
    assert f"--mask {tmp_path}/m.mrc" in " ".join(own_mask.argv) and "--lazy" not in own_mask.argv
    with pytest.raises(ValueError, match="zdim must be a positive integer"):
        RecovarOptions(zdim=0)


def test_dataset_mask_covers_the_object_in_every_well(tmp_path):
    box, apix = 32, 10.0
    z, y, x = np.mgrid[:box, :box, :box] - box // 2
    maps = tmp_path / "ds" / "maps"
    wells = []
    for n, centre in enumerate(((0, 0, -6), (0, 0, 6), (0, 6, 0)), start=1):   # a blob that moves
        blob = np.exp(-((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2) / 8.0)
        wells.append(blob)
        write_map(maps / f"well_{n:02d}.mrc", blob, apix)
    mask_path = write_dataset_mask(tmp_path / "ds", tmp_path / "job" / "mask.mrc")
    mask, mask_apix = read_map(mask_path)
    assert mask_apix == pytest.approx(apix) and mask.shape == (box, box, box)
    assert mask.min() >= 0.0 and mask.max() == pytest.approx(1.0)
    for blob in wells:               # RECOVAR thresholds at 0.5: every well's density is inside
        assert np.all(mask[blob > MASK_THRESHOLD * blob.max()] == 1.0)
    assert mask[0, 0, 0] == 0.0 and 0.0 < mask.mean() < 0.2     # solvent outside, a soft edge between
    assert np.any((mask > 0.0) & (mask < 1.0))


def test_pipeline_progress_from_real_log_lines():
    parser = PipelineProgressParser()
    clock = iter(range(1000))
    reports = []
    tracker = ProgressTracker("pipeline", parser, reports.append, clock=lambda: float(next(clock)))
    for line in PIPELINE_LOG.splitlines():
        tracker.feed(line)
    fractions = [r.fraction for r in reports]
    # one report per stage, growing (the second "Time to cov" and the noreg embedding add nothing)
    assert fractions == [0.02, 0.07, 0.13, 0.39, 0.72, 0.85, 0.93, 0.94, 0.96]
    assert "mean computed in" in reports[1].line and all(r.eta_s > 0 for r in reports)
    assert parser.fraction("INFO pipeline - standard_recovar_pipeline: image size: 32x32") is None


def fake_script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_missing_or_old_recovar_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    install = r"not found on PATH\. Install it: python3 -m venv .* -m pip install recovar"
    with pytest.raises(ToolMissingError, match=install):
        check_recovar(tmp_path / "recovar")
    python = fake_script(tmp_path, "python3", "#!/bin/sh\necho 0.4.2\n")
    old = fake_script(tmp_path, "recovar", f"#!{python}\n")
    with pytest.raises(ToolMissingError, match=r"recovar 0\.4\.2 .* is too old: elbench needs 1\.0\.5"):
        check_recovar(old)
    assert install_commands("/v") == [["python3", "-m", "venv", "/v"], ["/v/bin/python", "-m", "pip", "install",
                                                                        "recovar"]]

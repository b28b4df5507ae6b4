"""The cryoDRGN runner: exact command lines, resume from checkpoints, progress from cryoDRGN's own
lines, the install check; and real runs (cryoDRGN installed into this venv when missing): one
cancelled mid-training, resumed from its checkpoint and analysed, its z file and UMAP read by the
existing loader; one through a real one-node SLURM cluster (conftest.py); a failing step's tail."""
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.formats.dataset import load_dataset
from engine.formats.loaders.cryodrgn import load_cryodrgn
from engine.methods.cryodrgn import (AnalyzeProgressParser, CryodrgnOptions, TrainProgressParser, check_cryodrgn,
                                     checkpoints, cryodrgn_steps, install_command, run_cryodrgn, z_path)
from engine.methods.process import (StepError, StepResources, StepResult, command_line, log_path, run_steps,
                                   write_stamp)
from engine.methods.slurm import SlurmRunner, SlurmSettings
from engine.methods.progress import ProgressTracker
from engine.methods.tools import ToolMissingError

REPO = Path(__file__).resolve().parents[3]
INSTALL_TIMEOUT_S = 1500

# Real lines of cryoDRGN 4.3.1 on 300 particles at box 32, as the step's log kept them. A fresh
# `-n 2` run with the default --log-interval (1000 images: no batch line in so small an epoch):
TRAIN_LOG_FRESH = """\
(INFO) (train_vae.py) (01-Dec-2026 21:53:09) cryoDRGN 4.3.1
(WARNING) (train_vae.py) (01-Dec-2026 21:53:09) WARNING: No GPUs detected
(INFO) (train_vae.py) (01-Dec-2026 21:53:18) Using 0 workers for data loading
/work/main/.venv/lib/python3.11/site-packages/torch/cuda/amp/autocast_mode.py:54: UserWarning: CUDA is not available or torch_xla is imported. Disabling autocast.
  super().__init__(
(INFO) (train_vae.py) (01-Dec-2026 21:53:38) # =====> Epoch: 1 Average gen loss = 0.888087, KLD = 0.286110, total loss = 0.888177; Finished in 0:00:20.450389
(INFO) (train_vae.py) (01-Dec-2026 21:53:38) Evaluating z
(INFO) (train_vae.py) (01-Dec-2026 21:53:54) # =====> Epoch: 2 Average gen loss = 0.86976, KLD = 0.420320, total loss = 0.869892; Finished in 0:00:13.353919
(INFO) (train_vae.py) (01-Dec-2026 21:53:56) Training complete
(INFO) (train_vae.py) (01-Dec-2026 21:53:59) Finished in 0:00:50.345475 (0:00:25.172738 per epoch)
"""
# ... and the same run resumed for epoch 2 from weights.1.pkl with --log-interval 64:
TRAIN_LOG_RESUMED = """\
(INFO) (train_vae.py) (01-Dec-2026 22:01:04) Loading checkpoint from JOB/train/weights.1.pkl
(INFO) (train_vae.py) (01-Dec-2026 22:01:04) Using 0 workers for data loading
(INFO) (train_vae.py) (01-Dec-2026 22:01:08) # [Train Epoch: 2/2] [64/300 particles] gen loss=0.870541, kld=0.341776, beta=0.250000, loss=0.870648
(INFO) (train_vae.py) (01-Dec-2026 22:01:13) # [Train Epoch: 2/2] [128/300 particles] gen loss=0.863823, kld=0.461436, beta=0.250000, loss=0.863968
(INFO) (train_vae.py) (01-Dec-2026 22:01:18) # [Train Epoch: 2/2] [192/300 particles] gen loss=0.875483, kld=0.410830, beta=0.250000, loss=0.875612
(INFO) (train_vae.py) (01-Dec-2026 22:01:22) # [Train Epoch: 2/2] [256/300 particles] gen loss=0.867858, kld=0.430388, beta=0.250000, loss=0.867993
(INFO) (train_vae.py) (01-Dec-2026 22:01:28) # =====> Epoch: 2 Average gen loss = 0.869709, KLD = 0.428661, total loss = 0.869844; Finished in 0:00:24.080615
(INFO) (train_vae.py) (01-Dec-2026 22:01:28) Evaluating z
(INFO) (train_vae.py) (01-Dec-2026 22:01:32) Training complete
(INFO) (train_vae.py) (01-Dec-2026 22:01:34) Finished in 0:00:37.677893 (0:00:37.677893 per epoch)
"""
ANALYZE_LOG = """\
(INFO) (analyze.py) (01-Dec-2026 21:54:22) Saving results to /tmp/cm/job_cd/train/analyze.2
(INFO) (analyze.py) (01-Dec-2026 21:54:22) Performing principal component analysis...
(INFO) (analyze.py) (01-Dec-2026 21:54:22) Generating volumes...
(INFO) (eval_vol.py) (01-Dec-2026 21:54:22) Generating 10 volumes
(INFO) (analyze.py) (01-Dec-2026 21:54:38) K-means clustering...
(INFO) (analyze.py) (01-Dec-2026 21:54:49) Running UMAP...
(INFO) (analyze.py) (01-Dec-2026 21:55:18) Generating plots...
(INFO) (analyze.py) (01-Dec-2026 21:55:24) Finished in 0:01:01.987640
"""


def fake_dataset(folder: Path, stack_bytes: int = 1000) -> Path:
    """The files the runner reads: STAR, the cryoDRGN pickles, a stack of the given size
    (sparse: a lazy-loading size costs no disk)."""
    (folder / "cryodrgn").mkdir(parents=True)
    (folder / "particles").mkdir()
    for name in ("particles.star", "cryodrgn/poses.pkl", "cryodrgn/ctf.pkl"):
        (folder / name).write_text("")
    with open(folder / "particles" / "particles_00000.mrcs", "wb") as stack:
        stack.truncate(stack_bytes)
    return folder


def test_train_and_analyze_command_lines_for_a_dataset(tmp_path):
    ds, job = fake_dataset(tmp_path / "ds"), tmp_path / "job"
    train, analyze = cryodrgn_steps(ds, job, CryodrgnOptions(), executable="cryodrgn")
    assert train.argv == (
        "cryodrgn", "train_vae", f"{ds}/particles.star", "--datadir", str(ds),
        "--poses", f"{ds}/cryodrgn/poses.pkl", "--ctf", f"{ds}/cryodrgn/ctf.pkl",
        "--zdim", "8", "-n", "25", "-o", f"{job}/train",
        "--enc-dim", "256", "--enc-layers", "3", "--dec-dim", "256", "--dec-layers", "3",
        "-b", "16", "--seed", "0", "--log-interval", "1000", "--no-analysis")
    assert analyze.argv == ("cryodrgn", "analyze", f"{job}/train", "25")     # 1-based: z.25.pkl
    assert train.cwd == analyze.cwd == job
    assert "--uninvert-data" not in train.argv     # RELION-convention images: cryoDRGN's default inversion
    assert command_line(train).startswith(f"cd {job} && cryodrgn train_vae {ds}/particles.star --datadir")
    assert z_path(job, CryodrgnOptions()) == job / "train" / "z.25.pkl"


def test_options_reach_the_command_and_big_stacks_load_lazily(tmp_path):
    ds, job = fake_dataset(tmp_path / "ds", stack_bytes=9 * 10**9), tmp_path / "job"
    options = CryodrgnOptions(zdim=4, epochs=2, enc_dim=64, enc_layers=2, dec_dim=32, dec_layers=1,
                              batch_size=8, seed=7, analyze=False)
    (train,) = cryodrgn_steps(ds, job, options)
    argv = " ".join(train.argv)
    assert "--zdim 4 -n 2" in argv and "--enc-dim 64 --enc-layers 2 --dec-dim 32 --dec-layers 1" in argv
    assert "-b 8 --seed 7" in argv and train.argv[-1] == "--lazy"
    (eager,) = cryodrgn_steps(ds, job, CryodrgnOptions(lazy=False, analyze=False))
    assert "--lazy" not in eager.argv
    with pytest.raises(ValueError, match="zdim must be a positive integer"):
        CryodrgnOptions(zdim=0)


def test_a_killed_training_resumes_from_its_last_complete_checkpoint(tmp_path):
    ds, job = fake_dataset(tmp_path / "ds"), tmp_path / "job"
    options = CryodrgnOptions(epochs=5)
    train_dir = job / "train"
    train_dir.mkdir(parents=True)
    for name in ("weights.1.pkl", "z.1.pkl", "weights.2.pkl", "z.2.pkl", "weights.3.pkl"):  # killed writing z.3
        (train_dir / name).write_text("")
    assert checkpoints(job) == [1, 2]
    train = cryodrgn_steps(ds, job, options)[0]
    assert train.argv[-2:] == ("--load", f"{train_dir}/weights.2.pkl")
    # once that run finished, its stamped command is the one kept, so the step is skipped
    write_stamp(job, train, StepResult("train", "complete", "local", 1.0))
    for epoch in (3, 4, 5):
        (train_dir / f"weights.{epoch}.pkl").write_text("")
        (train_dir / f"z.{epoch}.pkl").write_text("")
    assert cryodrgn_steps(ds, job, options)[0] == train
    # resume=False starts again from scratch
    assert "--load" not in cryodrgn_steps(ds, job, options, resume=False)[0].argv


def test_training_progress_from_real_log_lines():
    parser = TrainProgressParser(total=2)
    fresh = [f for line in TRAIN_LOG_FRESH.splitlines() if (f := parser.fraction(line)) is not None]
    assert fresh == [0.5, 1.0]                         # epoch lines: epochs done / epochs
    resumed = [f for line in TRAIN_LOG_RESUMED.splitlines() if (f := parser.fraction(line)) is not None]
    expected = [(1 + n / 300) / 2 for n in (64, 128, 192, 256)] + [1.0]    # (epoch - 1 + seen / N) / epochs
    assert resumed == pytest.approx(expected)
    clock = iter(range(100))
    reports = []
    tracker = ProgressTracker("train", parser, reports.append, clock=lambda: float(next(clock)))
    for line in TRAIN_LOG_RESUMED.splitlines():
        tracker.feed(line)
    assert [r.fraction for r in reports] == pytest.approx(expected)
    first = reports[0]                      # ETA = elapsed * (1 - f) / f
    assert first.eta_s == pytest.approx(first.elapsed_s * (1 - first.fraction) / first.fraction)
    assert "[64/300 particles]" in first.line


def test_analysis_progress_from_its_stage_lines():
    parser = AnalyzeProgressParser()
    fractions = [f for line in ANALYZE_LOG.splitlines() if (f := parser.fraction(line)) is not None]
    assert fractions == sorted(fractions) and len(fractions) == 4 and fractions[-1] < 1.0


def fake_script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_missing_or_old_cryodrgn_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    install = r"not found on PATH\. Install it: .* -m pip install torch==2\.13\.0 cryodrgn"
    with pytest.raises(ToolMissingError, match=install):
        check_cryodrgn(tmp_path / "cryodrgn")
    python = fake_script(tmp_path, "python3", "#!/bin/sh\necho 3.4.4\n")   # the script's interpreter says 3.4.4
    old = fake_script(tmp_path, "cryodrgn", f"#!{python}\n")
    with pytest.raises(ToolMissingError, match=r"cryodrgn 3\.4\.4 .* is too old: elbench needs 3\.5\.0"):
        check_cryodrgn(old)
    assert install_command("/venv/bin/python") == ["/venv/bin/python", "-m", "pip", "install", "torch==2.13.0",
                                                   "cryodrgn"]


# --- the real tool ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dataset_300(tmp_path_factory):
    """A real elbench dataset: 300 particles of paper-3x4 at box 32."""
    out = tmp_path_factory.mktemp("cryodrgn") / "ds300"
    done = subprocess.run([sys.executable, str(REPO / "main.py"), "simulate", "--preset", "paper-3x4", "--n", "300",
                           "--box", "32", "--seed", "5", "--workers", "1", "--quiet", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 900)
def test_real_run_cancelled_resumed_and_scored(cryodrgn_installed, dataset_300, tmp_path):
    options = CryodrgnOptions(zdim=4, epochs=2, enc_dim=64, enc_layers=2, dec_dim=64, dec_layers=2,
                              log_interval_images=64)
    job = tmp_path / "job"
    reports, lines = [], []

    def cancel_in_epoch_2():     # the epoch-1 checkpoint is saved before epoch 2's first batch line
        return any(r.step == "train" and (r.fraction or 0) > 0.5 for r in reports)

    first = run_cryodrgn(dataset_300, job, options, progress=reports.append, should_stop=cancel_in_epoch_2,
                         log=lines.append)
    assert first.job.status == "cancelled" and [s.status for s in first.job.steps] == ["cancelled"]
    assert checkpoints(job) == [1]
    running = [r.fraction for r in reports if r.state == "running" and r.fraction]
    assert running[:4] == pytest.approx([n / 600 for n in (64, 128, 192, 256)])   # batch lines of epoch 1
    assert all(r.eta_s is not None and r.eta_s >= 0 for r in reports if r.fraction)

    reports.clear()
    second = run_cryodrgn(dataset_300, job, options, progress=reports.append, log=lines.append)
    train, analyze = cryodrgn_steps(dataset_300, job, options, str(cryodrgn_installed.path))
    assert train.argv[-2:] == ("--load", str(job / "train" / "weights.1.pkl"))
    assert second.job.status == "complete" and [s.status for s in second.job.steps] == ["complete", "complete"]
    assert log_path(job, "train").read_text().splitlines()[0] == f"$ {command_line(train, job)}"
    train_fractions = [r.fraction for r in reports if r.step == "train" and r.state == "running" and r.fraction]
    assert train_fractions == sorted(train_fractions) and train_fractions[0] > 0.5   # epoch 2 only
    assert [r.state for r in reports if r.step == "analyze"][-1] == "done"

    dataset = load_dataset(dataset_300)
    z = load_cryodrgn(second.z_path, dataset)
    assert second.z_path == job / "train" / "z.2.pkl"
    assert z.coords.shape == (300, 4) and np.all(np.isfinite(z.coords))
    assert np.array_equal(z.particle_index, np.arange(300)) and z.n_dropped == 0
    umap = load_cryodrgn(second.umap_path, dataset)
    assert umap.coords.shape == (300, 2) and umap.dim_names == ("umap1", "umap2")

    third = run_cryodrgn(dataset_300, job, options)          # finished steps are stamped: nothing runs
    assert [s.status for s in third.job.steps] == ["skipped", "skipped"]


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)
def test_a_failing_cryodrgn_step_quotes_the_tools_last_lines(cryodrgn_installed, tmp_path):
    job = tmp_path / "job"
    (job / "train").mkdir(parents=True)          # no training ran: analyze has no config or weights
    analyze = cryodrgn_steps(fake_dataset(tmp_path / "ds"), job, CryodrgnOptions(epochs=3),
                             str(cryodrgn_installed.path))[1]
    with pytest.raises(StepError) as failure:
        run_steps([analyze], job)
    error = failure.value
    assert error.step == "analyze" and "cryodrgn analyze" in error.command
    assert "failed (exit code 1)" in str(error) and "last lines of" in str(error)
    assert any("Error" in line for line in error.last_lines), error.last_lines
    assert error.last_lines[-1] in log_path(job, "analyze").read_text()


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 600)
def test_real_training_through_slurm(slurm_cluster, cryodrgn_installed, dataset_300, tmp_path):
    options = CryodrgnOptions(zdim=2, epochs=1, enc_dim=32, enc_layers=1, dec_dim=32, dec_layers=1,
                              log_interval_images=64, analyze=False,
                              resources=StepResources(cpus_per_task=2, time_limit_min=20))
    reports = []
    runner = SlurmRunner(SlurmSettings(partition=slurm_cluster.partition, poll_interval_s=0.5))
    run = run_cryodrgn(dataset_300, tmp_path / "job", options, runner=runner, progress=reports.append)
    (train,) = run.job.steps
    assert run.job.status == "complete" and train.where == "slurm" and train.job_id.isdigit()
    running = [r.fraction for r in reports if r.state == "running" and r.fraction]
    assert running[:4] == pytest.approx([n / 300 for n in (64, 128, 192, 256)])   # read from the job's output file
    z = load_cryodrgn(run.z_path, load_dataset(dataset_300))
    assert run.z_path.name == "z.1.pkl" and z.coords.shape == (300, 2) and np.all(np.isfinite(z.coords))

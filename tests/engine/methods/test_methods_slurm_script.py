"""The SLURM side that needs no cluster: the exact sbatch script, parsing sbatch / scontrol output,
and (with stand-in commands) a controller that is busy or gone."""
import os

import pytest

from engine.methods.process import Step, StepError, StepResources
from engine.methods.slurm import FinalState, SlurmRunner, SlurmSettings, parse_job_id, parse_scontrol_job, sbatch_script
from engine.methods.tools import ToolMissingError

# scontrol show job -o, as Debian 12's slurm-wlm 22.05 prints it for a job that exited with 3
SCONTROL_FAILED = (
    "JobId=1 JobName=t1 UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901759 Nice=0 "
    "Account=(null) QOS=(null) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 "
    "BatchFlag=1 Reboot=0 ExitCode=3:0 RunTime=00:00:02 TimeLimit=00:05:00 TimeMin=N/A "
    "Command=/tmp/my dir/t.sh WorkDir=/tmp/my dir StdErr=/tmp/o.err StdIn=/dev/null StdOut=/tmp/o.out Power= ")


def test_script_text_is_exact():
    step = Step("train", ["cryodrgn", "train_vae", "my particles.star", "-n", "2"], cwd="/data/ds1",
                env={"OMP_NUM_THREADS": "4"},
                resources=StepResources(cpus_per_task=4, gpus=1, memory_GB=7.5, time_limit_min=90))
    text = sbatch_script(step, "/scratch/job", partition="gpu", template="#SBATCH --account=lab\nmodule load cuda\n")
    assert text == """\
#!/bin/bash
# elbench step train, submitted with: sbatch --parsable THIS_FILE
#SBATCH --job-name=elbench-train
#SBATCH --output=/scratch/job/logs/train.out
#SBATCH --error=/scratch/job/logs/train.err
#SBATCH --partition=gpu
#SBATCH --time=90
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=4
#SBATCH --mem=7680M
#SBATCH --gres=gpu:1
#SBATCH --account=lab
module load cuda
cd /data/ds1 || exit 1
export PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=4
exec cryodrgn train_vae 'my particles.star' -n 2
"""


def test_minimal_script_leaves_limits_to_the_partition():
    text = sbatch_script(Step("mpi", ["mpirun", "relion_refine_mpi"], resources=StepResources(tasks=3)), "/j")
    assert text.splitlines()[2:] == [
        "#SBATCH --job-name=elbench-mpi", "#SBATCH --output=/j/logs/mpi.out", "#SBATCH --error=/j/logs/mpi.err",
        "#SBATCH --ntasks=3", "#SBATCH --cpus-per-task=1", "cd /j || exit 1", "export PYTHONUNBUFFERED=1",
        "exec mpirun relion_refine_mpi"]


@pytest.mark.parametrize("job_dir, partition, message", [
    ("relative/job", None, "absolute"),
    ("/scratch/my job", None, "spaces or '%'"),
    ("/scratch/100%", None, "spaces or '%'"),
    ("/scratch/job", "gpu; rm", "partition"),
])
def test_scripts_sbatch_would_misread_are_refused(job_dir, partition, message):
    with pytest.raises(ValueError, match=message):
        sbatch_script(Step("x", ["true"]), job_dir, partition=partition)


def test_runner_writes_the_script_with_the_user_template(tmp_path):
    template = tmp_path / "site.sbatch"
    template.write_text("#SBATCH --qos=short\n")
    runner = SlurmRunner(SlurmSettings(partition="debug", template_path=template))
    path = runner.write_script(Step("x", ["true"]), tmp_path / "job")
    assert path == tmp_path / "job" / "slurm" / "x.sbatch"
    lines = path.read_text().splitlines()
    assert "#SBATCH --partition=debug" in lines and lines.index("#SBATCH --qos=short") < lines.index("exec true")
    assert f"cd {tmp_path / 'job'} || exit 1" in lines


@pytest.mark.parametrize("stdout, job_id", [("12345\n", "12345"), ("987;cluster1\n", "987"),
                                            ("Submitted to site queue\n42\n", "42")])
def test_job_id_from_sbatch_parsable(stdout, job_id):
    assert parse_job_id(stdout) == job_id


def test_no_job_id_is_an_error():
    with pytest.raises(ValueError, match="no job id"):
        parse_job_id("sbatch: error: Batch job submission failed\n")


def test_scontrol_final_state():
    final = parse_scontrol_job(SCONTROL_FAILED)
    assert final == FinalState("FAILED", 3, 0, "NonZeroExitCode")
    assert final.describe() == "FAILED, exit code 3, reason NonZeroExitCode"
    assert parse_scontrol_job("JobId=2 JobState=CANCELLED Reason=None ExitCode=0:15").describe() == \
        "CANCELLED, signal 15"


def fake_slurm(folder, squeue_body: str, scontrol_out: str = "JobId=7 JobState=COMPLETED Reason=None ExitCode=0:0"):
    """sbatch / squeue / scontrol / scancel stand-ins on PATH, for what a real cluster rarely does."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    bodies = {"sbatch": 'case "$1" in --version) echo "slurm 22.05.8";; *) echo "7";; esac',
              "squeue": squeue_body, "scontrol": f"echo '{scontrol_out}'", "scancel": "true"}
    for name, body in bodies.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def test_a_busy_controller_is_waited_for(tmp_path, monkeypatch):
    # squeue fails twice (controller busy), then the job has left the queue
    count = tmp_path / "count"
    bin_dir = fake_slurm(tmp_path, f'echo x >> {count}; [ $(wc -l < {count}) -gt 2 ] && exit 0; '
                                   'echo "slurm_load_jobs error: Socket timed out on send/recv operation" >&2; exit 1')
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    runner = SlurmRunner(SlurmSettings(poll_interval_s=0.05, controller_timeout_s=30))
    result = runner.run(Step("x", ["true"]), tmp_path / "job")
    assert (result.status, result.job_id) == ("complete", "7")


def test_a_controller_that_never_answers_fails_the_step(tmp_path, monkeypatch):
    bin_dir = fake_slurm(tmp_path, 'echo "slurm_load_jobs error: Unable to contact slurm controller" >&2; exit 1')
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    runner = SlurmRunner(SlurmSettings(poll_interval_s=0.05, controller_timeout_s=0.3))
    with pytest.raises(StepError, match="step 'x' lost SLURM job 7: the controller did not answer .*Unable to contact"):
        runner.run(Step("x", ["true"]), tmp_path / "job")


def test_without_slurm_commands_the_message_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match="sbatch was not found on PATH. Install it: .*slurm-client"):
        SlurmRunner().run(Step("x", ["true"]), tmp_path / "job")

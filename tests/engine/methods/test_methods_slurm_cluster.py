"""Steps through a real one-node SLURM cluster (the ``slurm_cluster`` fixture in conftest.py):
progress read from the job's growing output file, a failed job's state and error lines, a
cancelled job whose processes all end, and resume that does not resubmit a finished step."""
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.methods.process import Step, StepError, StepResources, is_stamped, run_steps, stamp_path
from engine.methods.progress import EPOCH_PARSER
from engine.methods.slurm import SlurmRunner, SlurmSettings, output_paths


def script(folder: Path, name: str, body: str) -> list[str]:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def fast_runner(**settings) -> SlurmRunner:
    return SlurmRunner(SlurmSettings(poll_interval_s=0.2, **settings))


SMALL = StepResources(memory_GB=0.25, time_limit_min=5)


def test_progress_lines_from_a_slurm_job(slurm_cluster, tmp_path):
    template = tmp_path / "site.sbatch"
    template.write_text("export FROM_TEMPLATE=yes\n")
    seen = tmp_path / "seen"
    argv = script(tmp_path, "count", f"""
        import os, sys, time
        print("template says", os.environ.get("FROM_TEMPLATE"), "in", os.getcwd())
        print("Epoch 1/4")                       # no flush: PYTHONUNBUFFERED in the script
        for _ in range(1000):                    # the runner must see epoch 1 while the job runs
            if os.path.exists({str(seen)!r}):
                break
            time.sleep(0.02)
        else:
            sys.exit("progress did not arrive while the job ran")
        for epoch in range(2, 5):
            print(f"Epoch {{epoch}}/4")
        print("a note on stderr", file=sys.stderr)
    """)
    job = tmp_path / "job"
    step = Step("count", argv, parser=EPOCH_PARSER, resources=SMALL)
    reports, lines = [], []

    def on_progress(report):
        reports.append(report)
        if report.fraction:
            seen.touch()

    runner = fast_runner(partition=slurm_cluster.partition, template_path=template)
    result = run_steps([step], job, runner=runner, progress=on_progress, log=lines.append)
    assert result.status == "complete"
    done = result.steps[0]
    assert done.where == "slurm" and done.job_id.isdigit()
    fractions = [r.fraction for r in reports if r.state == "running" and r.fraction]
    assert fractions == [0.25, 0.5, 0.75, 1.0] and reports[-1].state == "done"
    states = [line.rsplit(": ", 1)[1] for line in lines if line.startswith(f"SLURM job {done.job_id}: ")]
    assert states and states[0] in ("PENDING", "RUNNING")
    assert f"submitted SLURM job {done.job_id}: {job.resolve() / 'slurm' / 'count.sbatch'}" in lines
    assert f"template says yes in {job.resolve()}" in lines and "a note on stderr" in lines
    out, err = output_paths(job.resolve(), "count")
    assert "Epoch 4/4" in out.read_text() and err.read_text() == "a note on stderr\n"
    assert json.loads(stamp_path(job, "count").read_text())["job_id"] == done.job_id

    again = run_steps([step], job, runner=runner)       # resumed: nothing resubmitted
    assert again.steps[0].status == "skipped" and is_stamped(job, step)


def test_a_failed_slurm_job_reports_state_and_error_lines(slurm_cluster, tmp_path):
    argv = script(tmp_path, "fail", """
        import sys
        print("reading particles.star")
        print("ERROR: zero sum of weights", file=sys.stderr)
        sys.exit(3)
    """)
    with pytest.raises(StepError) as caught:
        run_steps([Step("refine", argv, resources=SMALL)], tmp_path / "job", runner=fast_runner())
    message = str(caught.value)
    assert message.startswith("step 'refine' failed on SLURM (job ")
    assert "FAILED, exit code 3, reason NonZeroExitCode" in message
    assert "refine.err" in message and "ERROR: zero sum of weights" in message
    assert caught.value.last_lines == ("ERROR: zero sum of weights",)


def test_a_cancelled_slurm_job_ends_with_all_its_processes(slurm_cluster, tmp_path):
    pids = tmp_path / "pids.json"
    argv = script(tmp_path, "spawner", f"""
        import json, os, subprocess, sys, time
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open({str(pids)!r} + ".tmp", "w") as fh:
            json.dump([os.getpid(), grandchild.pid], fh)
        os.rename({str(pids)!r} + ".tmp", {str(pids)!r})
        print("Epoch 1/10", flush=True)
        time.sleep(120)
    """)
    t0 = time.monotonic()
    result = run_steps([Step("long", argv, parser=EPOCH_PARSER, resources=SMALL)], tmp_path / "job",
                       runner=fast_runner(), should_stop=pids.exists)
    assert result.status == "cancelled" and time.monotonic() - t0 < 30
    job_id = result.steps[0].job_id
    child, grandchild = json.loads(pids.read_text())
    assert not alive(child) and not alive(grandchild)
    shown = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True).stdout
    assert "JobState=CANCELLED" in shown
    assert not stamp_path(tmp_path / "job", "long").exists()

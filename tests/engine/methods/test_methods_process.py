"""Local steps for real: small Python child scripts print progress, fail, ignore SIGTERM, spawn
grandchildren; a job's finished steps are stamped and skipped when it runs again."""
import json
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.methods.process import (JobResult, LocalRunner, Step, StepError, command_line, is_stamped, log_path,
                                    run_steps, stamp_path)
from engine.methods.progress import EPOCH_PARSER, PERCENT_PARSER


def script(folder: Path, name: str, body: str) -> list[str]:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by its new parent, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(path: Path, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_progress_streams_to_the_log_file_callback_and_bar(tmp_path):
    # print() without flush: progress must still arrive while the tool runs (PYTHONUNBUFFERED)
    argv = script(tmp_path, "train", """
        import os, sys, time
        print("cwd", os.getcwd(), "extra", os.environ["ELBENCH_EXTRA"])
        print("Epoch 1/4")
        for _ in range(500):                      # wait until the parent has seen epoch 1
            if os.path.exists("seen"):
                break
            time.sleep(0.02)
        else:
            sys.exit("progress did not arrive while the tool ran")
        for epoch in range(2, 5):
            print(f"Epoch {epoch}/4")
        print("a warning on stderr", file=sys.stderr)
    """)
    job = tmp_path / "job"
    job.mkdir()
    reports, lines = [], []

    def on_progress(report):
        reports.append(report)
        if report.fraction:
            (job / "seen").touch()

    step = Step("train", argv, env={"ELBENCH_EXTRA": "yes"}, parser=EPOCH_PARSER)
    result = run_steps([step], job, progress=on_progress, log=lines.append)
    assert result == JobResult("complete", result.steps) and result.steps[0].status == "complete"
    assert [r.fraction for r in reports if r.state == "running" and r.fraction] == [0.25, 0.5, 0.75, 1.0]
    assert reports[0].state == "starting" and (reports[-1].state, reports[-1].fraction) == ("done", 1.0)
    first = next(r for r in reports if r.fraction)
    assert first.eta_s > 0 and first.line == "Epoch 1/4"
    assert lines[0] == f"$ {command_line(step, job.resolve())}"
    assert f"cwd {job.resolve()} extra yes" in lines and "a warning on stderr" in lines
    assert log_path(job, "train").read_text().splitlines() == lines
    assert is_stamped(job, step)


def test_failure_names_step_and_command_and_quotes_the_last_lines(tmp_path):
    argv = script(tmp_path, "refine", """
        import sys
        for i in range(30):
            print(f"line {i}")
        print("ERROR: zero sum of weights", file=sys.stderr)
        sys.exit(3)
    """)
    step = Step("refine", argv + ["--o", "out dir"])
    with pytest.raises(StepError) as caught:
        run_steps([step], tmp_path / "job")
    message = str(caught.value)
    assert message.startswith(f"step 'refine' failed (exit code 3): {sys.executable} ")
    assert "--o 'out dir'" in message and "ERROR: zero sum of weights" in message
    assert "line 29" in message and "line 10" not in message          # only the last 20 lines
    assert len(caught.value.last_lines) == 20 and caught.value.step == "refine"
    assert not stamp_path(tmp_path / "job", "refine").exists()


def test_a_missing_executable_fails_before_starting(tmp_path):
    with pytest.raises(StepError, match="step 'x' cannot start .*no_such_tool_elbench"):
        LocalRunner().run(Step("x", ["no_such_tool_elbench"]), tmp_path)


def test_cancel_ends_the_child_and_its_grandchild(tmp_path):
    pids = tmp_path / "pids.json"
    argv = script(tmp_path, "spawner", f"""
        import json, os, subprocess, sys, time
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        with open({str(pids)!r} + ".tmp", "w") as fh:
            json.dump([os.getpid(), grandchild.pid], fh)
        os.rename({str(pids)!r} + ".tmp", {str(pids)!r})
        print("Epoch 1/10", flush=True)
        time.sleep(60)
    """)
    t0 = time.monotonic()
    result = run_steps([Step("spawn", argv, parser=EPOCH_PARSER)], tmp_path / "job",
                       should_stop=lambda: pids.exists())
    assert result.status == "cancelled" and result.steps[0].status == "cancelled"
    assert time.monotonic() - t0 < 10
    child, grandchild = json.loads(pids.read_text())
    assert not alive(child) and not alive(grandchild)
    assert not stamp_path(tmp_path / "job", "spawn").exists()


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path):
    ready = tmp_path / "ready"
    argv = script(tmp_path, "stubborn", f"""
        import os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open({str(ready)!r}, "w").write(str(os.getpid()))
        time.sleep(60)
    """)
    t0 = time.monotonic()
    result = LocalRunner(grace_s=0.5).run(Step("stubborn", argv), tmp_path, should_stop=ready.exists)
    elapsed = time.monotonic() - t0
    assert result.status == "cancelled" and 0.5 <= elapsed < 8
    assert not alive(int(ready.read_text()))


def test_processes_a_finished_leader_leaves_behind_are_ended(tmp_path):
    pid_file = tmp_path / "orphan.pid"
    argv = script(tmp_path, "leaver", f"""
        import subprocess, sys
        orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(pid_file)!r}, "w").write(str(orphan.pid))
    """)
    t0 = time.monotonic()
    assert LocalRunner().run(Step("leave", argv), tmp_path).status == "complete"
    assert time.monotonic() - t0 < 8 and not alive(int(pid_file.read_text()))


def test_resume_skips_stamped_steps_and_reruns_from_the_first_changed_one(tmp_path):
    record = tmp_path / "ran.txt"
    argv = script(tmp_path, "mark", f"""
        import sys
        open({str(record)!r}, "a").write(" ".join(sys.argv[1:]) + "\\n")
        sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    """)
    job = tmp_path / "job"

    def ran_after(steps, **kwargs):
        record.write_text("")
        result = run_steps(steps, job, **kwargs)
        return [s.status for s in result.steps], record.read_text().split()

    a, b, c = Step("a", argv + ["a"]), Step("b", argv + ["b"]), Step("c", argv + ["c"])
    assert ran_after([a, b, c]) == (["complete"] * 3, ["a", "b", "c"])
    assert ran_after([a, b, c]) == (["skipped"] * 3, [])
    b2 = Step("b", argv + ["b2"])
    assert ran_after([a, b2, c]) == (["skipped", "complete", "complete"], ["b2", "c"])   # c's input changed
    assert ran_after([a, b2, c], resume=False) == (["complete"] * 3, ["a", "b2", "c"])
    failing = Step("b", argv + ["b3", "1"])
    with pytest.raises(StepError):
        run_steps([a, failing, c], job)
    assert is_stamped(job, a) and not stamp_path(job, "b").exists() and not stamp_path(job, "c").exists()
    assert ran_after([a, b2, c]) == (["skipped", "complete", "complete"], ["b2", "c"])
    stamp = json.loads(stamp_path(job, "b").read_text())
    assert stamp["argv"] == list(b2.argv) and stamp["where"] == "local" and stamp["format_version"] == 1


def test_skipped_steps_fill_the_overall_bar(tmp_path):
    step = Step("quick", [sys.executable, "-c", "pass"])
    run_steps([step], tmp_path)
    reports = []
    run_steps([step, Step("other", [sys.executable, "-c", "pass"])], tmp_path, progress=reports.append)
    assert reports[0].step == "quick" and reports[0].overall_fraction == 0.5 and reports[0].state == "done"
    assert reports[-1].step == "other" and reports[-1].overall_fraction == 1.0


def test_command_line_is_shell_quoted_and_copyable():
    step = Step("x", ["relion_refine", "--i", "my particles.star", "--o", "$HOME"], cwd="/data/my run",
                env={"OMP_NUM_THREADS": "2", "NOTE": "a b"})
    assert command_line(step) == ("cd '/data/my run' && OMP_NUM_THREADS=2 NOTE='a b' "
                                  "relion_refine --i 'my particles.star' --o '$HOME'")
    assert command_line(Step("y", ["ls"])) == "ls"
    assert command_line(Step("z", ["ls"], cwd="maps"), "/runs/job") == "cd /runs/job/maps && ls"


def test_a_relative_working_folder_is_taken_from_the_job_folder(tmp_path):
    (tmp_path / "job" / "maps").mkdir(parents=True)
    lines = []
    LocalRunner().run(Step("pwd", [sys.executable, "-c", "import os; print(os.getcwd())"], cwd="maps"),
                      tmp_path / "job", log=lines.append)
    assert lines[-1] == str((tmp_path / "job" / "maps").resolve())


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "a/b", "argv": ["ls"]}, "step name"),
    ({"name": "a", "argv": []}, "non-empty"),
    ({"name": "a", "argv": "ls -l"}, "non-empty"),
    ({"name": "a", "argv": ["ls"], "env": {"1BAD": "x"}}, "environment"),
])
def test_bad_steps_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Step(**kwargs)


def test_step_names_in_a_job_must_be_unique(tmp_path):
    with pytest.raises(ValueError, match="unique"):
        run_steps([Step("a", ["true"]), Step("a", ["true"])], tmp_path)


def test_an_error_in_a_callback_ends_the_process_group_too(tmp_path):
    pid_file = tmp_path / "pid"
    argv = script(tmp_path, "chatty", f"""
        import os, time
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        print("hello", flush=True)
        time.sleep(60)
    """)

    def log(line):
        if line == "hello":
            raise RuntimeError("the GUI went away")

    with pytest.raises(RuntimeError, match="the GUI went away"):
        LocalRunner(grace_s=1.0).run(Step("chatty", argv), tmp_path, log=log)
    assert not alive(int(pid_file.read_text()))


def test_progress_bars_redrawn_with_carriage_returns_are_parsed(tmp_path):
    argv = script(tmp_path, "bar", r"""
        import sys
        for percent in (10, 40, 80):
            sys.stdout.write(f"\rtraining: {percent}%|####|")
        sys.stdout.write("\n")
    """)
    reports = []
    LocalRunner().run(Step("bar", argv, parser=PERCENT_PARSER), tmp_path, progress=reports.append)
    assert [r.fraction for r in reports if r.state == "running" and r.fraction] == [0.1, 0.4, 0.8]

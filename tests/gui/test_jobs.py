"""The job runner's one size policy: ``JobRunner.run(fn, ..., size=n)`` runs inline up to
``SYNC_LIMIT_ROWS`` rows and in a worker thread above, with the same results and signals either
way; sigRunningChanged changes only when the running state does."""
import threading

import pytest

import gui.widgets.jobs as jobs
from gui.widgets.jobs import JobRunner


def recorder(runner: JobRunner) -> list:
    """Every signal the runner emits, in order, as (name, value)."""
    seen = []
    for name in ("sigStarted", "sigProgress", "sigLog", "sigFinished", "sigErrored", "sigCancelled",
                 "sigRunningChanged"):
        getattr(runner, name).connect(lambda value, name=name: seen.append((name, value)))
    return seen


def tagged_sum(values, tag, progress, should_stop, log):
    log(f"{tag}: {len(values)} values")
    progress(0.5)
    return tag, sum(values), threading.current_thread() is threading.main_thread()


def broken(progress, should_stop, log):
    raise ValueError("bad plan field")


def run_to_end(qtbot, runner, *args, **kwargs):
    """``runner.run(...)``, then wait until it has said it is no longer running."""
    with qtbot.waitSignal(runner.sigRunningChanged, timeout=10_000, check_params_cb=lambda on: not on):
        job = runner.run(*args, **kwargs)
    assert runner.wait(10_000)
    return job


EXPECTED = [("sigStarted", "sum"), ("sigRunningChanged", True), ("sigLog", "a: 3 values"),
            ("sigProgress", 0.5), ("sigFinished", ("a", 6, None)), ("sigRunningChanged", False)]


def without_thread(seen):
    """The signals with the "which thread ran it" flag of the result blanked out."""
    return [(name, value[:2] + (None,)) if name == "sigFinished" else (name, value) for name, value in seen]


def test_small_jobs_run_inline_with_every_signal_before_run_returns(qtbot):
    runner = JobRunner()
    seen = recorder(runner)
    job = runner.run(tagged_sum, [1, 2, 3], "a", size=jobs.SYNC_LIMIT_ROWS, name="sum")
    assert job.state == "finished" and job.result == ("a", 6, True)  # in the GUI thread
    assert without_thread(seen) == EXPECTED
    assert not runner.is_running() and runner.current is None


def test_big_jobs_run_in_the_background_with_the_same_result_and_signals(qtbot):
    runner = JobRunner()
    seen = recorder(runner)
    job = run_to_end(qtbot, runner, tagged_sum, [1, 2, 3], "a", size=jobs.SYNC_LIMIT_ROWS + 1, name="sum")
    assert job.state == "finished" and job.result == ("a", 6, False)  # in a worker thread
    assert without_thread(seen) == EXPECTED


@pytest.mark.parametrize("inline", [True, False])
def test_errors_read_the_same_both_ways(qtbot, inline):
    runner = JobRunner()
    seen = recorder(runner)
    job = run_to_end(qtbot, runner, broken, size=0 if inline else jobs.SYNC_LIMIT_ROWS + 1)
    assert job.state == "errored" and "bad plan field" in job.error_traceback
    assert seen[2:] == [("sigErrored", "ValueError: bad plan field"), ("sigRunningChanged", False)]


def test_the_threshold_is_one_knob_read_at_each_call(qtbot, monkeypatch):
    runner = JobRunner()
    monkeypatch.setattr(jobs, "SYNC_LIMIT_ROWS", 0)
    assert run_to_end(qtbot, runner, tagged_sum, [1], "b", size=0).result[2]       # 0 rows: inline
    assert not run_to_end(qtbot, runner, tagged_sum, [1], "b", size=1).result[2]   # 1 row: background


def test_a_small_job_cancels_the_big_one_running_and_drops_its_late_signals(qtbot):
    runner = JobRunner()
    release = threading.Event()

    def slow(progress, should_stop, log):
        release.wait(10)
        return "late"

    big = runner.start(slow)
    qtbot.waitUntil(lambda: big.state == "running", timeout=5000)
    seen = recorder(runner)
    small = runner.run(tagged_sum, [4], "c", size=1)
    release.set()
    assert runner.wait(10_000)
    qtbot.wait(50)  # the big job's queued signals, were they forwarded, would arrive now
    assert big.state == "cancelled" and small.result[:2] == ("c", 4)
    assert [v for name, v in seen if name == "sigFinished"] == [("c", 4, True)]
    assert not any(name == "sigCancelled" for name, _ in seen)


def test_a_job_started_from_the_last_ones_end_keeps_the_runner_running(qtbot):
    runner = JobRunner()
    states = []
    runner.sigRunningChanged.connect(states.append)
    follow_ups = [jobs.SYNC_LIMIT_ROWS + 1, 0]  # a background job, then an inline one

    def next_job(result):
        if follow_ups:
            runner.run(tagged_sum, [1], "next", size=follow_ups.pop(0))

    runner.sigFinished.connect(next_job)
    runner.run(tagged_sum, [1], "first", size=jobs.SYNC_LIMIT_ROWS + 1)
    qtbot.waitUntil(lambda: not follow_ups and not runner.is_running(), timeout=10_000)
    assert runner.wait(10_000)
    assert states == [True, False]

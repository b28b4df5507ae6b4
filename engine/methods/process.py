"""A step (one external command) run as a plain engine job, here or through a runner elsewhere.

A :class:`Step` is a frozen description: name, argv, working folder, environment additions, a
progress parser and the resources a scheduler should give it. :class:`LocalRunner` runs it
as a child process in its own session and process group, streams stdout + stderr line by line
to ``JOB/logs/NAME.log`` and to ``log``, parses progress from the tool's own lines, and polls
``should_stop``: on cancel the whole group gets SIGTERM, then SIGKILL after a grace period,
and the run returns only when no process of the group is left (no orphans). Processes the
leader leaves behind when it exits are ended the same way. A failed step raises
:class:`StepError` naming the step and the command, with the last lines of its log.
``run_steps`` runs a job's steps in order through any runner (``LocalRunner`` or
``engine.methods.slurm.SlurmRunner``: a method does not care where it runs) and stamps each
finished one in ``JOB/steps/NAME.done.json``; a re-run skips the steps whose stamp matches
(same argv, working folder, environment) until one has to run, and runs all after it.
A cancelled job returns ``JobResult(status="cancelled")`` (the GUI's job runner reports it so).

Example::

    step = Step("train", ["cryodrgn", "train_vae", "particles.star", "-n", "25"],
                parser=ProgressParser(r"Epoch: (?P<done>\\d+)", total=25))
    print(command_line(step))                          # for the user to copy, or --dry-run
    result = run_steps([step], "runs/ds1/cryodrgn", progress=print, log=print)
    result.status                                      # "complete"
"""
from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from engine.atomic_files import write_text_atomic
from engine.methods.progress import LineParser, LineSplitter, ProgressTracker

TAIL_LINES = 20            # lines of a failed step's log quoted in its error
STAMP_FORMAT_VERSION = 1
# Python tools (cryoDRGN, RECOVAR) buffer a piped stdout in 8 kB blocks: without this their
# progress would arrive in bursts, minutes late.
STREAMING_ENV = {"PYTHONUNBUFFERED": "1"}
_STEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_READ_BYTES = 1 << 16
_KILL_WAIT_S = 5.0         # after SIGKILL the kernel needs only moments
_DRAIN_S = 2.0             # output still arriving once the group is gone (a process that left it)
_EOF = object()


class StepError(RuntimeError):
    """A step that failed: ``step`` (name), ``command``, ``log_path`` and ``last_lines`` of its log."""

    def __init__(self, message: str, step: str = "", command: str = "", log_path: Path | None = None,
                 last_lines: tuple[str, ...] = ()):
        super().__init__(message)
        self.step, self.command, self.log_path, self.last_lines = step, command, log_path, tuple(last_lines)


@dataclass(frozen=True)
class StepResources:
    """What a scheduler should give a step (a local run uses what the machine has).

    tasks: MPI ranks; cpus_per_task: threads per rank; gpus: per node; memory_GB: per node,
    None for the partition's default; time_limit_min: None for the partition's limit."""

    tasks: int = 1
    cpus_per_task: int = 1
    gpus: int = 0
    memory_GB: float | None = None
    time_limit_min: int | None = None

    def __post_init__(self):
        for name in ("tasks", "cpus_per_task", "memory_GB", "time_limit_min"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.gpus < 0:
            raise ValueError(f"gpus must be >= 0, got {self.gpus}")


@dataclass(frozen=True)
class Step:
    """One external command of a method's job.

    name: unique within the job, used for file names (letters, digits, ``_.-``); argv: the
    command, argv[0] looked up on PATH; cwd: working folder, relative to the job folder (None:
    the job folder itself); env: variables added to the environment (a mapping, kept as
    ordered pairs); parser: reads the fraction done from the tool's lines (a LineParser);
    resources: for a scheduler."""

    name: str
    argv: tuple[str, ...]
    cwd: Path | None = None
    env: tuple[tuple[str, str], ...] = ()
    parser: LineParser | None = None
    resources: StepResources = field(default_factory=StepResources)

    def __post_init__(self):
        if not _STEP_NAME.match(self.name):
            raise ValueError(f"step name {self.name!r}: use letters, digits, '_', '.', '-'")
        argv = () if isinstance(self.argv, str) else tuple(self.argv)  # a string would run as one word
        if not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError(f"step {self.name!r}: argv must be a non-empty list of strings, got {self.argv!r}")
        env = tuple(self.env.items()) if isinstance(self.env, Mapping) else tuple(tuple(kv) for kv in self.env)
        for key, value in env:
            if not _ENV_NAME.match(key) or not isinstance(value, str):
                raise ValueError(f"step {self.name!r}: bad environment variable {key!r}={value!r}")
        object.__setattr__(self, "argv", argv)
        object.__setattr__(self, "env", env)
        if self.cwd is not None:
            object.__setattr__(self, "cwd", Path(self.cwd))

    def working_folder(self, job_dir) -> Path:
        """The absolute working folder: ``cwd`` taken from the job folder, or the job folder."""
        return (Path(job_dir) / self.cwd if self.cwd is not None else Path(job_dir)).resolve()


@dataclass(frozen=True)
class StepResult:
    """How a step ended: status "complete", "skipped" (stamped by an earlier run) or
    "cancelled"; where: "local" or "slurm"; log_paths: its log file(s); job_id: SLURM's."""

    step: str
    status: str
    where: str
    elapsed_s: float
    log_paths: tuple[Path, ...] = ()
    job_id: str | None = None


@dataclass(frozen=True)
class JobResult:
    """A job's steps in order; status "complete" or "cancelled" (then the last step is the
    cancelled one, and the ones after it did not start)."""

    status: str
    steps: tuple[StepResult, ...]


class StepRunner(Protocol):
    """Where steps run: ``LocalRunner`` here, ``SlurmRunner`` on a cluster."""

    where: str

    def run(self, step: Step, job_dir, progress=None, should_stop=None, log=None) -> StepResult: ...


def command_line(step: Step, job_dir=None) -> str:
    """The step as one copyable shell line: ``cd DIR && NAME=value ... argv`` (shell-quoted);
    without ``job_dir``, DIR is the step's own ``cwd`` (if any)."""
    cwd = step.working_folder(job_dir) if job_dir is not None else step.cwd
    parts = [f"cd {shlex.quote(str(cwd))} &&"] if cwd is not None else []
    parts += [f"{key}={shlex.quote(value)}" for key, value in step.env]
    parts.append(shlex.join(step.argv))
    return " ".join(parts)


def failure_message(step: Step, what: str, log_path: Path | None, last_lines) -> str:
    """``step 'NAME' WHAT: COMMAND`` and the quoted last lines of its log."""
    text = f"step {step.name!r} {what}: {shlex.join(step.argv)}"
    if last_lines:
        text += f"\nlast lines of {log_path}:\n" + "\n".join(f"  {line}" for line in last_lines)
    return text


def log_path(job_dir, name: str) -> Path:
    return Path(job_dir) / "logs" / f"{name}.log"


class LocalRunner:
    """Runs steps as child processes of this one. ``grace_s``: time between SIGTERM and SIGKILL
    on cancel; ``poll_interval_s``: how often ``should_stop`` is asked when the tool is quiet."""

    where = "local"

    def __init__(self, grace_s: float = 10.0, poll_interval_s: float = 0.1):
        self.grace_s, self.poll_interval_s = grace_s, poll_interval_s

    def run(self, step: Step, job_dir, progress=None, should_stop=None, log=None) -> StepResult:
        job_dir = Path(job_dir).resolve()
        path = log_path(job_dir, step.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        cwd = step.working_folder(job_dir)
        if not cwd.is_dir():
            raise StepError(failure_message(step, f"cannot start: working folder {cwd} does not exist", None, ()),
                            step.name, shlex.join(step.argv))
        tracker = ProgressTracker(step.name, step.parser, progress)
        last_lines: deque[str] = deque(maxlen=TAIL_LINES)
        t0 = time.monotonic()
        with open(path, "w", encoding="utf-8", buffering=1) as log_file:
            def emit(line: str) -> None:
                log_file.write(line + "\n")
                last_lines.append(line)
                tracker.feed(line)
                if log is not None:
                    log(line)

            emit(f"$ {command_line(step, job_dir)}")
            tracker.report("starting")
            try:
                proc = subprocess.Popen(step.argv, cwd=cwd, env={**os.environ, **STREAMING_ENV, **dict(step.env)},
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        bufsize=0, start_new_session=True)
            except OSError as exc:
                raise StepError(failure_message(step, f"cannot start ({exc})", path, ()), step.name,
                                shlex.join(step.argv), path) from exc
            tracker.report("running")
            cancelled = self._pump(proc, emit, should_stop)
        elapsed = time.monotonic() - t0
        if cancelled:
            return StepResult(step.name, "cancelled", self.where, elapsed, (path,))
        if proc.returncode != 0:
            raise StepError(failure_message(step, f"failed ({_exit_text(proc.returncode)})", path, last_lines),
                            step.name, shlex.join(step.argv), path, tuple(last_lines))
        tracker.finish()
        return StepResult(step.name, "complete", self.where, elapsed, (path,))

    def _pump(self, proc: subprocess.Popen, emit, should_stop) -> bool:
        """Deliver the output until the pipe closes; True when cancelled."""
        lines: queue.SimpleQueue = queue.SimpleQueue()
        reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True,
                                  name=f"elbench-step-{proc.pid}")
        reader.start()
        cancelled, ended_at = False, None
        try:
            while True:
                try:
                    item = lines.get(timeout=self.poll_interval_s)
                except queue.Empty:
                    item = None
                if item is _EOF:
                    break
                if item is not None:
                    emit(item)
                if ended_at is None:
                    if should_stop is not None and should_stop():
                        cancelled = True
                        emit(f"cancelling: SIGTERM to process group {proc.pid}, SIGKILL after {self.grace_s:g} s")
                        end_process_group(proc, self.grace_s)
                        ended_at = time.monotonic()
                    elif proc.poll() is not None:
                        # the leader is done: whatever it left running in its group is an orphan
                        end_process_group(proc, self.grace_s)
                        ended_at = time.monotonic()
                elif time.monotonic() - ended_at > _DRAIN_S:
                    break  # a process that escaped the group (its own setsid) holds the pipe open
        except BaseException:
            end_process_group(proc, self.grace_s)
            raise
        finally:
            reader.join(timeout=_DRAIN_S)
            if not reader.is_alive():
                proc.stdout.close()
            proc.wait()
        return cancelled


def _read_lines(stream, out: queue.SimpleQueue) -> None:
    splitter = LineSplitter()
    try:
        while chunk := stream.read(_READ_BYTES):  # unbuffered: returns as soon as anything is written
            for line in splitter.feed(chunk):
                out.put(line)
        for line in splitter.flush():
            out.put(line)
    finally:
        out.put(_EOF)


def _exit_text(returncode: int) -> str:
    if returncode >= 0:
        return f"exit code {returncode}"
    return "killed by " + next((sig.name for sig in signal.Signals if sig == -returncode), f"signal {-returncode}")


def end_process_group(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM to the process group led by ``proc`` (started with ``start_new_session``), SIGKILL
    to what is left after ``grace_s``; returns once no live process of the group is left."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, _KILL_WAIT_S)):
        proc.poll()
        if not group_alive(proc.pid):
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader, or its zombie would keep the group "alive"
            if not group_alive(proc.pid):
                return
            time.sleep(0.02)


def group_alive(pgid: int) -> bool:
    """Is any process of group ``pgid`` still running? Zombies do not count: a grandchild whose
    parent died is reaped by PID 1, which in a container may never do it."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc"):
        return True
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # fields after the command name (which may hold spaces and parentheses): state ppid pgrp
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            return True
    return False


def stamp_path(job_dir, name: str) -> Path:
    return Path(job_dir) / "steps" / f"{name}.done.json"


def _stamp_key(step: Step) -> dict:
    return {"argv": list(step.argv), "cwd": None if step.cwd is None else str(step.cwd),
            "env": dict(step.env)}


def write_stamp(job_dir, step: Step, result: StepResult) -> Path:
    """Record that ``step`` finished (atomically: a crash leaves no half stamp)."""
    path = stamp_path(job_dir, step.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"format_version": STAMP_FORMAT_VERSION, "step": step.name, **_stamp_key(step),
              "command": command_line(step), "where": result.where, "job_id": result.job_id,
              "elapsed_s": round(result.elapsed_s, 3),
              "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_text_atomic(path, json.dumps(record, indent=2) + "\n")
    return path


def is_stamped(job_dir, step: Step) -> bool:
    """Did an earlier run finish this very step (same argv, working folder and environment)?"""
    try:
        record = json.loads(stamp_path(job_dir, step.name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(record, dict) and record.get("format_version") == STAMP_FORMAT_VERSION
            and all(record.get(key) == value for key, value in _stamp_key(step).items()))


def run_steps(steps, job_dir, runner: StepRunner | None = None, resume: bool = True,
              progress=None, should_stop=None, log=None) -> JobResult:
    """Run ``steps`` in order in ``job_dir`` (created) through ``runner`` (default LocalRunner).

    resume: skip the leading steps stamped by an earlier run; a step that runs makes all after
    it run too (their inputs may have changed). progress(StepProgress with index/count set),
    should_stop() -> bool, log(str): the engine job callbacks. Raises StepError on a failure."""
    steps = list(steps)
    names = [step.name for step in steps]
    if len(set(names)) != len(names):
        raise ValueError(f"step names must be unique, got {names}")
    runner = runner if runner is not None else LocalRunner()
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    results: list[StepResult] = []
    started = False  # once a step runs, every later one runs too
    for index, step in enumerate(steps):
        def step_progress(report, index=index):
            if progress is not None:
                progress(replace(report, index=index, count=len(steps)))

        if resume and not started and is_stamped(job_dir, step):
            if log is not None:
                log(f"{step.name}: done in an earlier run ({stamp_path(job_dir, step.name)}), skipped")
            ProgressTracker(step.name, None, step_progress).finish()
            results.append(StepResult(step.name, "skipped", runner.where, 0.0, ()))
            continue
        if not started:
            # stale stamps go first, so that a crash in this step never lets a later, outdated
            # stamp be trusted by the next run
            for later in steps[index:]:
                stamp_path(job_dir, later.name).unlink(missing_ok=True)
            started = True
        if should_stop is not None and should_stop():
            return JobResult("cancelled", tuple(results))
        result = runner.run(step, job_dir, progress=step_progress, should_stop=should_stop, log=log)
        results.append(result)
        if result.status == "cancelled":
            return JobResult("cancelled", tuple(results))
        write_stamp(job_dir, step, result)
    return JobResult("complete", tuple(results))

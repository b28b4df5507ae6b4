"""The same steps on a SLURM cluster: one sbatch script per step, watched until the job ends.

:class:`SlurmRunner` has the interface of ``engine.methods.process.LocalRunner``
(``run(step, job_dir, progress, should_stop, log) -> StepResult``), so ``run_steps`` and the
method runners do not care where a step runs. For each step it

- writes ``JOB/slurm/NAME.sbatch`` (text from the pure function :func:`sbatch_script`: job
  name, partition, time limit, tasks, CPUs, GPUs, memory, output/error in ``JOB/logs``, then
  the lines of a user template file, then the command);
- submits it with ``sbatch --parsable``;
- polls ``squeue -h --jobs=ID -o %T`` while the job is queued or running, and asks
  ``scontrol show job -o ID`` for the final state and exit code once it has left the queue
  (``sacct`` needs accounting storage, which many clusters, and our test one, do not run);
- reads ``JOB/logs/NAME.out`` and ``.err`` as they grow, for ``log`` and progress (the job
  folder must be on a file system the nodes share with this machine, as usual on a cluster);
- on ``should_stop`` runs ``scancel ID`` and returns a cancelled StepResult once the job has
  left the queue; a job that ends in any state but COMPLETED raises StepError with its state,
  exit code, reason and the last lines of its error file.

Example::

    runner = SlurmRunner(SlurmSettings(partition="gpu", template_path="~/elbench.sbatch"))
    print(sbatch_script(step, "/scratch/runs/ds1/cryodrgn"))      # what will be submitted
    result = run_steps(steps, "/scratch/runs/ds1/cryodrgn", runner=runner, progress=print)
"""
from __future__ import annotations

import math
import re
import shlex
import subprocess
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

from engine.methods.process import STREAMING_ENV, TAIL_LINES, Step, StepError, StepResult, failure_message
from engine.methods.progress import LineSplitter, ProgressTracker
from engine.methods.tools import ToolRequirement, require_tool

COMMAND_TIMEOUT_S = 60.0     # one sbatch / squeue / scontrol / scancel call
QUEUED_STATES = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}
# '%' starts a filename pattern in sbatch's --output, and #SBATCH lines split on whitespace
_UNSAFE_IN_SBATCH_PATH = re.compile(r"[\s%]")
_INVALID_JOB = "Invalid job id"
SLURM_CLIENT = ToolRequirement("sbatch", version_pattern=r"slurm\S*\s+(\d+(?:\.\d+)+)",
                               install_hint="the SLURM client commands come with your cluster's SLURM "
                                            "(Debian: apt-get install slurm-client); SLURM_CONF must name "
                                            "its slurm.conf if it is not in /etc/slurm")


@dataclass(frozen=True)
class SlurmSettings:
    """Where and how steps are submitted.

    partition: None for the cluster's default; template_path: a file whose lines go into every
    script after elbench's ``#SBATCH`` lines (``#SBATCH --account=...``, ``module load ...``);
    poll_interval_s: between squeue calls; controller_timeout_s: how long squeue may keep
    failing (a busy controller) before the run gives up; cancel_timeout_s: how long to wait
    for a cancelled job to leave the queue."""

    partition: str | None = None
    template_path: Path | None = None
    poll_interval_s: float = 2.0
    controller_timeout_s: float = 300.0
    cancel_timeout_s: float = 120.0

    def __post_init__(self):
        if self.template_path is not None:
            object.__setattr__(self, "template_path", Path(self.template_path).expanduser())
        if self.poll_interval_s <= 0:
            raise ValueError(f"poll_interval_s must be > 0, got {self.poll_interval_s}")

    def template_text(self) -> str:
        if self.template_path is None:
            return ""
        try:
            return self.template_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read the SLURM template {self.template_path}: {exc}") from exc


def script_path(job_dir, name: str) -> Path:
    return Path(job_dir) / "slurm" / f"{name}.sbatch"


def output_paths(job_dir, name: str) -> tuple[Path, Path]:
    """The job's stdout and stderr files."""
    logs = Path(job_dir) / "logs"
    return logs / f"{name}.out", logs / f"{name}.err"


def sbatch_script(step: Step, job_dir, partition: str | None = None, template: str = "") -> str:
    """The sbatch script of ``step`` (pure: same arguments, same text). ``job_dir`` and the
    step's ``cwd`` (default ``job_dir``) must be absolute; ``template`` is inserted verbatim."""
    job_dir = Path(job_dir)
    cwd = step.cwd if step.cwd is not None else job_dir
    if not job_dir.is_absolute() or not cwd.is_absolute():
        raise ValueError(f"step {step.name!r}: the job folder and working folder must be absolute paths")
    out, err = output_paths(job_dir, step.name)
    if _UNSAFE_IN_SBATCH_PATH.search(str(out)):
        raise ValueError(f"job folder {job_dir}: SLURM output paths cannot hold spaces or '%'")
    if partition and not re.fullmatch(r"[\w.,-]+", partition):
        raise ValueError(f"partition {partition!r}: use letters, digits and '_.,-'")
    res = step.resources
    options = [f"--job-name=elbench-{step.name}", f"--output={out}", f"--error={err}"]
    if partition:
        options.append(f"--partition={partition}")
    if res.time_limit_min is not None:
        options.append(f"--time={res.time_limit_min}")
    options += [f"--ntasks={res.tasks}", f"--cpus-per-task={res.cpus_per_task}"]
    if res.memory_GB is not None:
        options.append(f"--mem={math.ceil(res.memory_GB * 1024)}M")
    if res.gpus:
        options.append(f"--gres=gpu:{res.gpus}")
    # the command itself goes only on the exec line: an argument holding a newline would end a
    # comment line and run the rest as a command
    lines = ["#!/bin/bash", f"# elbench step {step.name}, submitted with: sbatch --parsable THIS_FILE"]
    lines += [f"#SBATCH {option}" for option in options]
    lines += template.rstrip("\n").splitlines()
    lines.append(f"cd {shlex.quote(str(cwd))} || exit 1")
    lines += [f"export {key}={shlex.quote(value)}" for key, value in {**STREAMING_ENV, **dict(step.env)}.items()]
    lines.append(f"exec {shlex.join(step.argv)}")
    return "\n".join(lines) + "\n"


def parse_job_id(sbatch_stdout: str) -> str:
    """The job id from ``sbatch --parsable`` output (``"123"`` or ``"123;cluster"``; a site's
    wrapper may print lines before it)."""
    lines = [line.strip() for line in sbatch_stdout.splitlines() if line.strip()]
    job_id = lines[-1].split(";")[0] if lines else ""
    if not job_id.isdigit():
        raise ValueError(f"sbatch printed no job id: {sbatch_stdout.strip()!r}")
    return job_id


@dataclass(frozen=True)
class FinalState:
    """What ``scontrol show job`` says of an ended job: state, exit status, signal, reason."""

    state: str
    exit_status: int | None = None
    signal: int | None = None
    reason: str = ""

    def describe(self) -> str:
        parts = [self.state]
        if self.exit_status:
            parts.append(f"exit code {self.exit_status}")
        if self.signal:
            parts.append(f"signal {self.signal}")
        if self.reason and self.reason != "None":
            parts.append(f"reason {self.reason}")
        return ", ".join(parts)


def parse_scontrol_job(text: str) -> FinalState:
    """Parse ``scontrol show job -o ID`` (``... JobState=FAILED Reason=NonZeroExitCode ...
    ExitCode=3:0 ...``)."""
    state = re.search(r"\bJobState=(\S+)", text)
    if state is None:
        raise ValueError(f"no JobState in scontrol output: {text.strip()[:200]!r}")
    exit_code = re.search(r"\bExitCode=(\d+):(\d+)", text)
    reason = re.search(r"\bReason=(\S+)", text)
    return FinalState(state.group(1), int(exit_code.group(1)) if exit_code else None,
                      int(exit_code.group(2)) if exit_code else None, reason.group(1) if reason else "")


class _ControllerError(RuntimeError):
    """squeue or scontrol failed for a reason other than an unknown job (controller busy)."""


def _slurm(argv: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                              timeout=COMMAND_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _ControllerError(f"{shlex.join(argv)}: {exc}") from exc


class FileTail:
    """The lines appended to a file since the last read; a file not there yet has none."""

    def __init__(self, path):
        self.path, self.offset, self._splitter = Path(path), 0, LineSplitter()

    def read(self) -> list[str]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        return self._splitter.feed(data)

    def flush(self) -> list[str]:
        return self.read() + self._splitter.flush()


class SlurmRunner:
    """Runs steps as SLURM batch jobs (see the module docstring)."""

    where = "slurm"

    def __init__(self, settings: SlurmSettings | None = None):
        self.settings = settings if settings is not None else SlurmSettings()
        self._client_checked = False

    def write_script(self, step: Step, job_dir) -> Path:
        """Write the step's sbatch script into ``JOB/slurm`` (also what a dry run shows)."""
        job_dir = Path(job_dir).resolve()
        text = sbatch_script(replace(step, cwd=step.working_folder(job_dir)), job_dir, self.settings.partition,
                             self.settings.template_text())
        path = script_path(job_dir, step.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def run(self, step: Step, job_dir, progress=None, should_stop=None, log=None) -> StepResult:
        if not self._client_checked:
            require_tool(SLURM_CLIENT)
            self._client_checked = True
        job_dir = Path(job_dir).resolve()
        out, err = output_paths(job_dir, step.name)
        out.parent.mkdir(parents=True, exist_ok=True)
        for path in (out, err):
            path.unlink(missing_ok=True)  # an old run's lines would be read as this run's
        script = self.write_script(step, job_dir)
        tracker = ProgressTracker(step.name, step.parser, progress)
        tracker.report("starting")
        try:
            submitted = _slurm(["sbatch", "--parsable", str(script)])
            if submitted.returncode != 0:
                raise ValueError(f"sbatch: {submitted.stderr.strip() or f'exit code {submitted.returncode}'}")
            job_id = parse_job_id(submitted.stdout)
        except (ValueError, _ControllerError) as exc:
            raise StepError(failure_message(step, f"could not be submitted ({exc})", None, ()), step.name,
                            shlex.join(step.argv)) from exc
        if log is not None:
            log(f"submitted SLURM job {job_id}: {script}")
        watch = _JobWatch(step, job_id, self.settings, tracker, (FileTail(out), FileTail(err)), log)
        t0 = time.monotonic()
        try:
            final = watch.until_done(should_stop)
        except BaseException:
            if not watch.cancelled:
                try:
                    _slurm(["scancel", job_id])  # leave no job running for a run that is gone
                except _ControllerError:
                    pass  # the original error says more than a failed scancel
            raise
        elapsed = time.monotonic() - t0
        if final.state == "COMPLETED" and not final.exit_status:
            tracker.finish()
            return StepResult(step.name, "complete", self.where, elapsed, (out, err), job_id)
        if watch.cancelled:
            return StepResult(step.name, "cancelled", self.where, elapsed, (out, err), job_id)
        last_lines, quoted = (watch.last_err, err) if watch.last_err else (watch.last_out, out)
        raise StepError(failure_message(step, f"failed on SLURM (job {job_id} {final.describe()})", quoted,
                                        last_lines), step.name, shlex.join(step.argv), quoted, tuple(last_lines))


class _JobWatch:
    """Polls one submitted job: its queue state, its output files, and cancel requests."""

    def __init__(self, step: Step, job_id: str, settings: SlurmSettings, tracker: ProgressTracker, tails, log):
        self.step, self.job_id, self.settings, self.tracker, self.tails, self.log = (step, job_id, settings, tracker,
                                                                                     tails, log)
        self.last_out: deque[str] = deque(maxlen=TAIL_LINES)
        self.last_err: deque[str] = deque(maxlen=TAIL_LINES)
        self.cancelled = False

    def _say(self, text: str) -> None:
        if self.log is not None:
            self.log(text)

    def _pump(self, final: bool = False) -> None:
        for tail, last in zip(self.tails, (self.last_out, self.last_err)):
            for line in tail.flush() if final else tail.read():
                last.append(line)
                self.tracker.feed(line)
                self._say(line)

    def _queue_state(self) -> str | None:
        """The job's state while squeue lists it; None once it has left the queue."""
        done = _slurm(["squeue", "-h", f"--jobs={self.job_id}", "-o", "%T"])
        if done.returncode != 0:
            if _INVALID_JOB in done.stderr:
                return None
            raise _ControllerError(done.stderr.strip() or f"squeue exit code {done.returncode}")
        states = done.stdout.split()
        return states[0] if states else None

    def _final_state(self) -> FinalState:
        try:
            done = _slurm(["scontrol", "show", "job", "-o", self.job_id])
            if done.returncode != 0:
                # the controller forgets ended jobs after MinJobAge (300 s by default)
                raise ValueError(done.stderr.strip() or f"scontrol exit code {done.returncode}")
            return parse_scontrol_job(done.stdout)
        except (ValueError, _ControllerError) as exc:
            return FinalState("UNKNOWN", reason=str(exc))

    def _cancel(self) -> None:
        self.cancelled = True
        self._say(f"cancelling: scancel {self.job_id}")
        _slurm(["scancel", self.job_id])

    def until_done(self, should_stop) -> FinalState:
        state, failing_since, cancelled_at = None, None, None
        while True:
            self._pump()
            if not self.cancelled and should_stop is not None and should_stop():
                self._cancel()
                cancelled_at = time.monotonic()
            try:
                now_state = self._queue_state()
                failing_since = None
            except _ControllerError as exc:
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > self.settings.controller_timeout_s:
                    what = (f"lost SLURM job {self.job_id}: the controller did not answer for "
                            f"{self.settings.controller_timeout_s:g} s ({exc})")
                    raise StepError(failure_message(self.step, what, None, ()), self.step.name,
                                    shlex.join(self.step.argv)) from exc
                self._wait(should_stop)
                continue  # no answer is not "left the queue"
            if now_state is None:
                break
            if now_state != state:
                was_queued = state is None or state in QUEUED_STATES
                state = now_state
                self._say(f"SLURM job {self.job_id}: {state}")
                queued = state in QUEUED_STATES
                if was_queued and not queued:
                    self.tracker.restart_clock()  # the ETA counts running time, not queue time
                self.tracker.report("pending" if queued else "running")
            if cancelled_at is not None and time.monotonic() - cancelled_at > self.settings.cancel_timeout_s:
                self._say(f"SLURM job {self.job_id} is still {state} after scancel; elbench stops watching it")
                return FinalState(state or "UNKNOWN")
            self._wait(should_stop)
        final = self._final_state()
        self._pump(final=True)
        return final

    def _wait(self, should_stop) -> None:
        """Sleep one poll interval, waking early for a cancel request."""
        deadline = time.monotonic() + self.settings.poll_interval_s
        while time.monotonic() < deadline:
            if not self.cancelled and should_stop is not None and should_stop():
                return
            time.sleep(min(0.1, max(deadline - time.monotonic(), 0.0)))

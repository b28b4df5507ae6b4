"""Dask workers as SLURM jobs, for ``simulate --slurm``: dask-jobqueue's ``SLURMCluster``.

The scheduler runs in this process (a login node); ``jobs`` sbatch jobs of ``cpus_per_job``
CPUs each start ``cpus_per_job`` single-threaded Dask worker processes (chunks are CPU-bound
numpy work; ``ELBENCH_RENDER_THREADS=1`` in each). The workers run this Python
(``sys.executable``) with this checkout on ``PYTHONPATH``, so the cluster's nodes must see both,
and the dataset folder, at the same paths (a shared file system). They connect back to the
scheduler's address on ``interface`` (default: the address of this host's default route; on a
cluster with a fast network name it, e.g. ``ib0``). The chunks' bytes do not depend on where
they ran (engine.simulation.executors, same CPU family).

:meth:`SlurmWorkers.start` has sbatch check the job script first (``--test-only``; its refusal
is a SimulationError quoting it, before anything is queued), submits the jobs and returns once
the first worker has connected, logging each job's queue state (PENDING, RUNNING) as it
changes; a job that ends before its workers connected is a SimulationError with its state and
the last lines of its log (``log_dir``, default ``<dataset>_slurm`` beside the dataset, which
also keeps the job script). Jobs that start later join the running simulation (the Dask
executor recounts its workers). :meth:`SlurmWorkers.close` (or leaving the ``with``) scancels
every job. A job that reaches its time limit mid-run takes its workers with it: give a
--slurm-time that covers the run.

Example::

    settings = SlurmDaskSettings(partition="cpu", cpus_per_job=16, memory_bytes=64 * 10**9,
                                 time_limit="04:00:00", jobs=8)
    with SlurmWorkers(settings, plan, "/shared/ds", log=print) as workers:
        if workers.start(should_stop=stop.is_set):
            run_simulation(plan, "/shared/ds", scheduler=workers.client)
"""
from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from engine.simulation.errors import SimulationError
from engine.simulation.resources import process_memory_bytes

JOB_NAME = "elbench-dask"
POLL_S = 1.0
SQUEUE_TIMEOUT_S = 30
SUBMIT_TIMEOUT_S = 60
LOG_TAIL_LINES = 8
MIN_TIME_LIMIT_S = 1800
MIN_WORKER_BYTES = 10**9
# SLURM's --time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS
_TIME_LIMIT = re.compile(r"\d+(:\d{1,2}){0,2}|\d+-\d+(:\d{1,2}){0,2}")
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SlurmDaskSettings:
    """What each worker job asks SLURM for. partition: None for the cluster's default;
    time_limit: SLURM's ``--time`` ("90", "04:00:00", "1-00:00:00"; None: three times the
    local estimate of the whole run per worker, at least 30 min); cpus_per_job: CPUs of a job
    = its worker processes; memory_bytes: memory of a job (None: the plan's need per worker
    with a quarter to spare, at least 1 GB, times its workers); jobs: how many jobs;
    interface: the network interface workers and scheduler talk on (None: the default
    route's); log_dir: the jobs' .out/.err files (None: ``<dataset>_slurm`` beside it)."""

    partition: str | None = None
    time_limit: str | None = None
    cpus_per_job: int = 1
    memory_bytes: int | None = None
    jobs: int = 1
    interface: str | None = None
    log_dir: Path | None = None

    def __post_init__(self):
        for name, flag in (("cpus_per_job", "--slurm-cpus"), ("jobs", "--slurm-jobs")):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{flag}: must be a whole number of at least 1 (got {value!r})")
        if self.time_limit is not None and not _TIME_LIMIT.fullmatch(self.time_limit.strip()):
            raise ValueError(f"--slurm-time {self.time_limit!r}: not a SLURM time limit (minutes, HH:MM:SS "
                             "or D-HH:MM:SS, e.g. 240 or 04:00:00)")
        if self.memory_bytes is not None and self.memory_bytes < 10**6 * self.cpus_per_job:
            raise ValueError(f"--slurm-memory: {self.memory_bytes} bytes is too little for {self.cpus_per_job} "
                             "worker(s) (give e.g. 4GB)")


def parse_memory(text: str) -> int:
    """Bytes of ``text``: "4GB", "900MB", "2GiB", or a plain number of GB."""
    from dask.utils import parse_bytes

    value = text.strip()
    try:
        return int(float(value) * 10**9) if re.fullmatch(r"\d+(\.\d*)?", value) else int(parse_bytes(value))
    except (ValueError, TypeError):
        raise ValueError(f"--slurm-memory {text!r}: not a size (e.g. 4GB, 900MB, 2GiB)") from None


def job_memory_bytes(settings: SlurmDaskSettings, plan) -> int:
    """The memory a job asks for: ``settings.memory_bytes``, else what its workers need."""
    if settings.memory_bytes is not None:
        return settings.memory_bytes
    per_worker = max(MIN_WORKER_BYTES, int(1.25 * process_memory_bytes(plan.effective_box_size())))
    return per_worker * settings.cpus_per_job


def job_time_limit(settings: SlurmDaskSettings, plan) -> str:
    """The ``--time`` of a job: ``settings.time_limit``, else three times the local one-process
    estimate of the run shared by all the workers, at least MIN_TIME_LIMIT_S ([D-]HH:MM:SS)."""
    if settings.time_limit is not None:
        return settings.time_limit.strip()
    from engine.simulation.run import estimate_seconds

    seconds = max(MIN_TIME_LIMIT_S, 3 * estimate_seconds(plan, 1) / (settings.jobs * settings.cpus_per_job))
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    days, hours = divmod(hours, 24)
    return (f"{days}-" if days else "") + f"{hours:02d}:{minutes:02d}:00"


def check_folder(plan, out_dir, resume: bool) -> None:
    """The read-only part of the run's own folder checks, made before any job waits in the
    queue: a dataset to resume is there, a fresh one has a free folder and the disk it needs
    (the run checks again, under its lock)."""
    from engine.simulation.folder import unfinished_start
    from engine.simulation.manifest import manifest_path, read_manifest
    from engine.simulation.resources import check_disk_space

    folder = Path(out_dir)
    if resume and not unfinished_start(folder):
        read_manifest(folder)  # ManifestError: no dataset to finish there
        return
    if manifest_path(folder).exists():
        raise SimulationError(f"{folder} already holds a dataset (manifest.json); resume it (--resume) or "
                              "choose another folder")
    if folder.exists() and not folder.is_dir():
        raise SimulationError(f"{folder} exists and is not a folder; choose a new or empty folder")
    if folder.is_dir() and any(folder.iterdir()) and not unfinished_start(folder):
        raise SimulationError(f"{folder} exists and is not an empty folder; choose a new or empty folder")
    check_disk_space(plan, folder)


def default_log_dir(out_dir) -> Path:
    out = Path(out_dir).resolve()
    return out.with_name(f"{out.name}_slurm")


class SlurmWorkers:
    """A SLURMCluster for ``plan`` (sized by it where settings leave it open) and a Client on it;
    nothing is submitted before :meth:`start`. ``log(str)``: the jobs' news."""

    def __init__(self, settings: SlurmDaskSettings, plan, out_dir, log=None):
        try:
            from dask_jobqueue import SLURMCluster
            from distributed import Client
        except ImportError as exc:
            raise SimulationError(f"--slurm needs dask-jobqueue and distributed ({exc}): "
                                  f"{sys.executable} -m pip install dask-jobqueue") from None
        if shutil.which("sbatch") is None:
            raise SimulationError("--slurm: sbatch is not on PATH; run simulate on a SLURM login node "
                                  "(or give --scheduler tcp://HOST:PORT of a running Dask cluster)")
        self.settings, self._log = settings, log or (lambda message: None)
        self.log_dir = Path(settings.log_dir) if settings.log_dir is not None else default_log_dir(out_dir)
        self.cluster = SLURMCluster(
            cores=settings.cpus_per_job, processes=settings.cpus_per_job, memory=f"{job_memory_bytes(settings, plan)}B",
            walltime=job_time_limit(settings, plan), queue=settings.partition, job_name=JOB_NAME,
            python=sys.executable, interface=settings.interface, log_directory=str(self.log_dir),
            job_script_prologue=[f"export PYTHONPATH={REPO_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}",
                                 "export ELBENCH_RENDER_THREADS=1"],
            scheduler_options={"dashboard_address": ":0"})  # any free port: no clash with 8787
        self.client = Client(self.cluster, set_as_default=False)
        self._states: dict[str, str] = {}

    @property
    def job_ids(self) -> list[str]:
        """The submitted jobs' ids, in submission order."""
        return [job.job_id for job in self.cluster.workers.values() if getattr(job, "job_id", None)]

    def job_script(self) -> str:
        """The sbatch script each job runs (its worker name aside)."""
        return self.cluster.job_script()

    def start(self, should_stop=None) -> bool:
        """Submit the jobs and wait until a worker has connected: True; False when
        ``should_stop()`` turned true first. SimulationError: sbatch refused the job script
        (``sbatch --test-only`` of it, written to ``log_dir``, before anything is queued), or
        the jobs all ended without a worker connecting."""
        self.check_script()
        self.cluster.scale(jobs=self.settings.jobs)
        ids = self._submitted(should_stop)
        if ids is None:
            return False
        self._log(f"submitted SLURM job{'s' if len(ids) != 1 else ''} {', '.join(ids)} ({JOB_NAME}); "
                  f"their logs: {self.log_dir}")
        while not self.client.nthreads():
            if should_stop is not None and should_stop():
                return False
            ended = self._poll_states(ids)
            if ended and set(ended) == set(ids):
                raise SimulationError(self._ended_text(ended[0]))
            time.sleep(POLL_S)
        self._poll_states(ids)
        return True

    def check_script(self) -> Path:
        """Write the job script to ``log_dir`` and have sbatch check it (``--test-only``: the
        partition, the CPUs, memory and time limit it allows) without queueing it."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        script = self.log_dir / f"{JOB_NAME}.sbatch"
        script.write_text(self.job_script())
        done = _run(["sbatch", "--test-only", str(script)])
        if done.returncode != 0:
            said = " ".join(line.removeprefix("sbatch: error: ").strip() for line in done.stderr.splitlines()
                            if line.strip()) or f"exit code {done.returncode}"
            raise SimulationError(f"--slurm: sbatch refused the Dask worker job ({script}): {said}")
        return script

    def _submitted(self, should_stop) -> list[str] | None:
        """The job ids once dask-jobqueue has submitted every job (None: stopped first)."""
        deadline = time.monotonic() + SUBMIT_TIMEOUT_S
        while len(ids := self.job_ids) < self.settings.jobs:
            if should_stop is not None and should_stop():
                return None
            if time.monotonic() > deadline:
                raise SimulationError(f"--slurm: {len(ids)} of {self.settings.jobs} Dask worker jobs submitted "
                                      f"after {SUBMIT_TIMEOUT_S} s (dask-jobqueue's message above says why)")
            time.sleep(0.1)
        return ids

    def _poll_states(self, ids: list[str]) -> list[str]:
        """Log each job's state when it changes; the ids no longer in the queue."""
        listed = queue_states(ids)
        for job_id in ids:
            state = listed.get(job_id, "ended")
            if self._states.get(job_id) != state:
                self._states[job_id] = state
                self._log(f"SLURM job {job_id}: {state}")
        return [job_id for job_id in ids if job_id not in listed]

    def _ended_text(self, job_id: str) -> str:
        shown = _run(["scontrol", "show", "job", "-o", job_id]).stdout
        fields = dict(re.findall(r"(JobState|Reason|ExitCode)=(\S+)", shown))
        state = ", ".join(f"{k} {v}" for k, v in fields.items()) or "no longer known to SLURM"
        text = f"--slurm: SLURM job {job_id} ended before its Dask worker connected ({state})"
        err = self.log_dir / f"{JOB_NAME}-{job_id}.err"
        try:
            tail = err.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError:
            return text + f"; no log at {err}"
        return text + f"; last lines of {err}:\n" + "\n".join(f"  {line}" for line in tail)

    def close(self) -> None:
        """Disconnect and scancel every job (those still pending too)."""
        try:
            self.client.close()
        finally:
            self.cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


def queue_states(job_ids) -> dict[str, str]:
    """``{job id: "PENDING (Resources)" | "RUNNING" | ...}`` of the ids squeue still lists."""
    if not job_ids:
        return {}
    done = _run(["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i|%T|%r"])
    states = {}
    for line in done.stdout.splitlines():
        job_id, state, reason = (line.split("|") + ["", ""])[:3]
        states[job_id.strip()] = state + (f" ({reason})" if state == "PENDING" and reason not in ("", "None") else "")
    return states


def _run(argv) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=SQUEUE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(argv, 1, "", str(exc))

"""Where simulation chunks run: in this process, a local process pool, or a Dask cluster.

Every executor runs the same task, :func:`run_chunk_task` ``(plan_key, k, sigma, out_dir)``
(``plan_key``: the plan's ``content_key``, its canonical JSON, made once per run; a worker
parses it once, engine.simulation.context), and the chunk's bytes depend only on (plan, k), so the choice changes speed, never data, as
long as the workers share one CPU family: numpy and the FFT pick SIMD code paths by CPU, so a
chunk made on an AVX-512 node and on an AVX2 node may differ in the last bits (images agree to
float32 rounding). On a mixed cluster, pin the run to one node type (e.g. a SLURM --constraint)
when byte-identity matters; the manifest records the CPU of the run that started the dataset.
``Executor.run(tasks, on_done, should_stop)`` keeps a bounded number of chunks in flight,
hands each finished chunk's record to ``on_done`` in the calling thread, and on
``should_stop()`` asks the running chunks to stop at their next batch (their temporary files
are removed) and drops the queued ones.

- :class:`SerialExecutor`: ``workers=1``, in the calling process (debugging, tiny datasets).
- :class:`ProcessExecutor`: a local pool of ``workers`` processes (default: the cores this
  process may use, :func:`available_cpus`, so a batch job's allocation is respected),
  started with "spawn" so it is safe from a GUI thread. Workers report every batch, so the
  progress bar moves smoothly. They ignore SIGINT and SIGTERM (the parent turns those into a
  stop request) and die with their parent, even a SIGKILLed one (:func:`_die_with_parent`).
- :class:`DaskExecutor`: a ``distributed`` scheduler at ``tcp://host:port``. Workers must
  import this package (install elbench on the cluster, e.g. ``pip install -e`` on a shared
  file system) and see the output folder at the same path (a shared file system). A malformed
  address is refused at once (:func:`check_scheduler_address`), an unreachable one after
  engine.dask_client.CONNECT_TIMEOUT_S; both as SimulationError naming the address. Workers that join
  during the run (batch jobs leaving the queue) are given chunks too.

Starting Dask workers on a SLURM cluster (dask-jobqueue, ``pip install dask-jobqueue``)::

    # on the login node, in Python (the scheduler runs here; workers are SLURM jobs)
    from dask_jobqueue import SLURMCluster
    cluster = SLURMCluster(cores=16, processes=16, memory="64GB", walltime="04:00:00",
                           job_extra_directives=["--partition=cpu"])
    cluster.scale(jobs=8)                         # 8 nodes x 16 single-threaded workers
    print(cluster.scheduler_address)              # tcp://10.0.0.5:8786
    # then, from any machine that reaches the scheduler:
    #   python main.py simulate plan.json --out /shared/ds --scheduler tcp://10.0.0.5:8786

or let simulate do all of it (engine.simulation.slurm_cluster): ``python main.py simulate
plan.json --out /shared/ds --slurm --slurm-jobs 8 --slurm-cpus 16 --slurm-partition cpu``;
or by hand: ``dask scheduler`` on one node and ``dask worker tcp://HOST:8786 --nthreads 1
--nworkers 16`` in each batch job. One thread per worker process is best: chunks are
CPU-bound numpy work.

Example::

    with make_executor(workers=2) as ex:
        completed = ex.run([(plan.content_key, k, sigma, out_dir) for k in pending], on_done, should_stop)
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from engine import dask_client
from engine.dask_client import DaskConnectError, connect, worker_threads
from engine.simulation.errors import SimulationError
from engine.cpus import available_cpus

_worker_stop = None        # callable () -> bool in worker processes
_worker_progress = None    # callable (n) -> None in worker processes
POLL_S = 0.1
WATCHDOG_S = 1.0           # how often a worker checks that its parent is alive
PR_SET_PDEATHSIG = 1       # linux/prctl.h
DASK_RECOUNT_S = 2.0      # how often a Dask run recounts the cluster's worker threads
# what distributed.Client accepts: [tcp|tls|ucx://]host:port (host a name, IPv4 or [IPv6])


def run_chunk_task(plan_key: str, k: int, sigma: float, out_dir: str) -> dict:
    """The unit of work: write chunk ``k`` of the plan whose ``content_key`` is ``plan_key``
    (see engine.simulation.chunks.write_chunk)."""
    from engine.simulation.chunks import write_chunk
    from engine.simulation.context import context_for_key

    return write_chunk(context_for_key(plan_key), k, sigma, out_dir, should_stop=_worker_should_stop,
                       progress=_worker_progress)


def _warm_up(plan_key: str) -> None:
    """Import, build the context and projector, and compile the kernel (one image)."""
    import numpy as np

    from engine.simulation.context import context_for_key

    projector = context_for_key(plan_key).projector
    projector.project(np.zeros((1, 3)), np.zeros((1, 2)))


def _worker_should_stop() -> bool:
    return bool(_worker_stop and _worker_stop())


def _init_process_worker(stop_event, progress_queue, parent_pid) -> None:
    global _worker_stop, _worker_progress
    # Ctrl-C (and a batch system's SIGTERM) reaches the whole process group: the parent turns it
    # into a stop request, which the worker sees between batches; dying on it would lose the
    # chunk and break the pool. A worker still dies with its parent (below).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _worker_stop = stop_event.is_set
    _worker_progress = progress_queue.put
    _die_with_parent(parent_pid)


def _die_with_parent(parent_pid: int) -> None:
    """End this worker when the run that started it dies, even by SIGKILL (a pool worker holds
    ~200 MB and would otherwise finish its chunk, or wait on its queue, for good). Linux: the
    kernel sends SIGKILL on the parent's death (prctl PR_SET_PDEATHSIG). Everywhere, and in case
    the parent died before the prctl: a thread that exits the process once it is re-parented.
    Its temporary stack is left for the resume (or a takeover) to remove."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl (another libc): the watchdog below still ends the worker
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(WATCHDOG_S)
        os._exit(1)

    threading.Thread(target=watch, name="elbench-parent-watchdog", daemon=True).start()


class Executor:
    """Base: ``run`` keeps ``in_flight`` tasks going and returns True when all finished,
    False when stopped. ``on_progress(n)`` receives image counts as workers report them."""

    name = "executor"
    workers = 1

    def run(self, tasks, on_done, should_stop=None, on_progress=None) -> bool:
        raise NotImplementedError

    def warm_up(self, plan_key: str) -> None:
        """Start the workers and let them build the context of the plan whose ``content_key``
        is ``plan_key`` now (optional)."""

    def close(self, abort: bool = False) -> None:
        """Release the workers; ``abort``: without waiting for running chunks (a second Ctrl-C,
        an error in this process)."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(abort=exc_type is not None)


class SerialExecutor(Executor):
    name = "serial"

    def run(self, tasks, on_done, should_stop=None, on_progress=None) -> bool:
        from engine.simulation.chunks import ChunkCancelled

        global _worker_stop, _worker_progress
        _worker_stop, _worker_progress = should_stop, on_progress
        try:
            for task in tasks:
                if should_stop and should_stop():
                    return False
                try:
                    on_done(run_chunk_task(*task))
                except ChunkCancelled:
                    return False
            return True
        finally:
            _worker_stop = _worker_progress = None


class ProcessExecutor(Executor):
    name = "processes"

    def __init__(self, workers: int | None = None):
        self.workers = max(1, int(workers or available_cpus()))
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._progress = ctx.Queue()
        self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_process_worker,
                                         initargs=(self._stop, self._progress, os.getpid()))

    def warm_up(self, plan_key: str) -> None:
        for _ in range(self.workers):
            self._pool.submit(_warm_up, plan_key)

    def _drain(self, on_progress) -> None:
        while True:
            try:
                n = self._progress.get_nowait()
            except queue.Empty:
                return
            if on_progress is not None:
                on_progress(n)

    def run(self, tasks, on_done, should_stop=None, on_progress=None) -> bool:
        from engine.simulation.chunks import ChunkCancelled

        self._stop.clear()
        pending = list(tasks)[::-1]
        running = set()
        error = None
        stopped = False
        while pending or running:
            while pending and len(running) < 2 * self.workers and not stopped and error is None:
                running.add(self._pool.submit(run_chunk_task, *pending.pop()))
            done, running = wait(running, timeout=POLL_S, return_when=FIRST_COMPLETED)
            self._drain(on_progress)
            for future in done:
                try:
                    result = future.result()
                except ChunkCancelled:
                    continue
                except BaseException as exc:  # a worker error ends the run after the others stop
                    error = error or exc
                    self._stop.set()
                    continue
                on_done(result)
            if not stopped and should_stop is not None and should_stop():
                stopped = True
                self._stop.set()
                pending.clear()
            if error is not None:
                pending.clear()
        self._drain(on_progress)
        if error is not None:
            raise error
        return not stopped

    def close(self, abort: bool = False) -> None:
        self._stop.set()
        if abort:  # the workers' chunks are lost anyway: do not wait for their current batch
            for process in list((self._pool._processes or {}).values()):
                process.kill()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._progress.close()


class DaskExecutor(Executor):
    """Runs chunks on a ``distributed`` cluster. ``scheduler``: an address ("tcp://...") or
    an existing ``distributed.Client``. Stop requests reach running chunks through a named
    ``distributed.Event`` that they check between batches."""

    name = "dask"

    def __init__(self, scheduler):
        try:
            self.client, self._own_client = connect(scheduler)
        except DaskConnectError as exc:
            raise SimulationError(str(exc)) from None
        self.workers = worker_threads(self.client)
        self.address = self.client.scheduler.address

    def run(self, tasks, on_done, should_stop=None, on_progress=None) -> bool:
        from distributed import Event

        event_name = f"elbench-stop-{uuid.uuid4().hex}"
        stop_event = Event(event_name, client=self.client)
        pending = list(tasks)[::-1]
        running = []
        error = None
        stopped = False
        counted = time.monotonic()
        try:
            while pending or running:
                if time.monotonic() - counted > DASK_RECOUNT_S:  # workers that join later (queued jobs) get chunks
                    self.workers, counted = worker_threads(self.client), time.monotonic()
                while pending and len(running) < 2 * self.workers and not stopped and error is None:
                    task = pending.pop()
                    running.append(self.client.submit(_dask_chunk_task, event_name, *task, pure=False,
                                                      key=f"elbench-chunk-{task[1]}-{uuid.uuid4().hex[:8]}"))
                finished = [f for f in running if f.done()]
                if not finished:
                    time.sleep(POLL_S)
                for future in finished:
                    running.remove(future)
                    if future.status == "finished":
                        result = future.result()
                        if result is not None:  # None: the chunk stopped on request
                            on_done(result)
                            if on_progress is not None:
                                on_progress(result["count"])
                    elif error is None:
                        error = future.exception() if future.status == "error" else RuntimeError(
                            f"chunk task {future.key}: {future.status}")
                        stop_event.set()
                        pending.clear()
                    future.release()
                if not stopped and should_stop is not None and should_stop():
                    stopped = True
                    stop_event.set()
                    pending.clear()
        finally:
            stop_event.clear()
        if error is not None:
            raise error
        return not stopped

    def close(self, abort: bool = False) -> None:
        if self._own_client:
            self.client.close()


def _dask_chunk_task(event_name: str, plan_key: str, k: int, sigma: float, out_dir: str):
    """Runs on a Dask worker: like run_chunk_task, stopping when the run's Event is set.
    Returns None when stopped."""
    from distributed import Event

    from engine.simulation.chunks import ChunkCancelled, write_chunk
    from engine.simulation.context import context_for_key

    event = Event(event_name)
    last = [0.0, False]

    def should_stop() -> bool:
        now = time.monotonic()
        if now - last[0] > 0.5:  # ask the scheduler at most twice a second
            last[0], last[1] = now, event.is_set()
        return last[1]

    try:
        return write_chunk(context_for_key(plan_key), k, sigma, out_dir, should_stop=should_stop)
    except ChunkCancelled:
        return None


def check_scheduler_address(address) -> None:
    """Refuse, at once, a scheduler address distributed could not connect to (it would try for
    a minute and end in a traceback): SimulationError naming the address."""
    try:
        dask_client.check_scheduler_address(address)
    except DaskConnectError as exc:
        raise SimulationError(str(exc)) from None


def make_executor(workers: int | None = None, scheduler=None) -> Executor:
    """Dask when ``scheduler`` is given; else serial for ``workers == 1``; else a process pool
    of ``workers`` (default: :func:`available_cpus`)."""
    if scheduler:
        return DaskExecutor(scheduler)
    if workers is not None and workers < 1:
        raise ValueError(f"workers: must be >= 1 (got {workers})")
    if workers == 1:
        return SerialExecutor()
    return ProcessExecutor(workers)

"""The GUI's one job runner: engine work off the GUI thread, results back as signals.

An engine job is a plain function that takes keyword callbacks ``progress(obj)``,
``should_stop() -> bool`` and ``log(str)`` (engine habit 7). :class:`JobRunner` runs one at a
time in a ``QThread``; the job's callbacks turn into signals that reach the GUI thread
(queued connections), so workers never touch widgets. Cancelling is cooperative: it sets the
flag ``should_stop`` returns, and the job ends at its next check. Starting a new job cancels
the one running (its late signals are dropped).

A job that returns after ``should_stop`` became true is reported as cancelled (with its
return value), an exception as errored (message), anything else as finished (return value).

Small data synchronously, big data in a job: :meth:`JobRunner.run` takes the ``size`` of the
work in rows (particles) and runs a job of at most :data:`SYNC_LIMIT_ROWS` rows inline, in the
GUI thread, before it returns; a bigger one in the background, like :meth:`JobRunner.start`.
The runner emits the same signals either way, so a caller connects its slots once and never
forks on the size itself.

Example::

    runner = JobRunner(parent=self)
    runner.sigProgress.connect(self._on_progress)
    runner.sigFinished.connect(self._on_finished)
    runner.start(run_simulation, plan, out_dir, name="simulation")    # always in the background
    runner.run(score_methods, dataset, outputs, settings, size=n_rows)  # inline when small
    runner.cancel()
"""
from __future__ import annotations

import threading
import time
import traceback

from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtWidgets import QProgressBar

PROGRESS_INTERVAL_S = 0.05  # progress reaches the GUI at most 20 times a second (plus the last)
# JobRunner.run's one threshold, in rows (particles): scoring, a report or a STAR subset of
# 250,000 particles takes well under a second, so the GUI may wait for it and the result is
# there when run() returns; above it (up to 3,000,000 particles) the work would freeze the
# window, so it goes to the worker thread. Read at each call: tests set it to 0 (everything
# in the background).
SYNC_LIMIT_ROWS = 250_000


class Job(QObject):
    """One run of ``fn(*args, progress=..., should_stop=..., log=..., **kwargs)``.

    Signals (emitted from the worker thread, delivered queued in the receiver's thread; or
    emitted and delivered in the GUI thread when :meth:`JobRunner.run` runs the job inline):
        sigProgress(object), sigLog(str), sigFinished(object), sigErrored(str),
        sigCancelled(object).
    """

    sigProgress = Signal(object)
    sigLog = Signal(str)
    sigFinished = Signal(object)
    sigErrored = Signal(str)
    sigCancelled = Signal(object)

    def __init__(self, fn, args=(), kwargs=None, name: str = "job"):
        super().__init__()
        self.fn, self.args, self.kwargs, self.name = fn, tuple(args), dict(kwargs or {}), name
        self._stop = threading.Event()
        self._last_progress = 0.0
        self._held = None
        self._lock = threading.Lock()
        self.state = "pending"
        self.result = None              # the return value, once finished or cancelled
        self.error_traceback = ""
        self._thread = _JobThread(self)

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def cancel(self) -> None:
        self._stop.set()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, timeout_ms: int = -1) -> bool:
        return self._thread.wait() if timeout_ms < 0 else self._thread.wait(timeout_ms)

    def _progress(self, value) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last_progress >= PROGRESS_INTERVAL_S:
                self._last_progress = now
                self._held = None
                self.sigProgress.emit(value)
                return
            # too soon: keep the latest value and deliver it when the interval is over, so the
            # last report before a long quiet step (or the end) is never lost
            first_held = self._held is None
            self._held = value
        if first_held:
            timer = threading.Timer(PROGRESS_INTERVAL_S, self._flush_progress)
            timer.daemon = True
            timer.start()

    def _run(self) -> None:
        self.state = "running"
        try:
            result = self.fn(*self.args, progress=self._progress, should_stop=self.should_stop,
                             log=self.sigLog.emit, **self.kwargs)
        except BaseException as exc:  # every failure reaches the GUI as a message
            self._flush_progress()
            self.state = "errored"
            self.error_traceback = traceback.format_exc()
            self.sigErrored.emit(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return
        self._flush_progress()
        self.result = result
        if self._stop.is_set():
            self.state = "cancelled"
            self.sigCancelled.emit(result)
        else:
            self.state = "finished"
            self.sigFinished.emit(result)

    def _flush_progress(self) -> None:
        with self._lock:
            if self._held is None:
                return
            held, self._held = self._held, None
            self._last_progress = time.monotonic()
            self.sigProgress.emit(held)


class _JobThread(QThread):
    def __init__(self, job: Job):
        super().__init__()
        self._job = job

    def run(self) -> None:
        self._job._run()


class JobRunner(QObject):
    """Runs one :class:`Job` at a time and forwards the current job's signals.

    Signals: sigStarted(str name), sigProgress(object), sigLog(str), sigFinished(object),
    sigErrored(str), sigCancelled(object), sigRunningChanged(bool) (only on a change: a job
    started from a slot of the last one's end keeps it true).
    """

    sigStarted = Signal(str)
    sigProgress = Signal(object)
    sigLog = Signal(str)
    sigFinished = Signal(object)
    sigErrored = Signal(str)
    sigCancelled = Signal(object)
    sigRunningChanged = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._current: Job | None = None
        self._alive: set[Job] = set()  # every job whose thread has not ended (keeps it referenced)
        self._running = False

    @property
    def current(self) -> Job | None:
        return self._current

    def is_running(self) -> bool:
        return self._current is not None and self._current.state in ("pending", "running")

    def start(self, fn, *args, name: str = "job", **kwargs) -> Job:
        """Run ``fn`` in a worker thread (cancelling the job running now, if any)."""
        job = self._begin(fn, args, kwargs, name)
        self._alive.add(job)
        job._thread.finished.connect(self._on_thread_finished)
        job._thread.start()
        return job

    def run(self, fn, *args, size: int, name: str = "job", **kwargs) -> Job:
        """Run ``fn`` inline when ``size`` (rows, particles) is at most :data:`SYNC_LIMIT_ROWS`,
        else in a worker thread as :meth:`start` does; the job running now is cancelled either
        way. The same signals follow in both cases; inline they have all been emitted (and
        the returned job has ended: ``state``, ``result``) when this returns."""
        if size > SYNC_LIMIT_ROWS:
            return self.start(fn, *args, name=name, **kwargs)
        job = self._begin(fn, args, kwargs, name)
        job._run()  # in this thread: its signals reach the slots directly, before run() returns
        return job

    def _begin(self, fn, args, kwargs, name: str) -> Job:
        if self._current is not None:
            self._retire(self._current)
        job = Job(fn, args, kwargs, name)
        self._current = job
        # bound methods of this QObject: queued into the GUI thread from a worker (direct for an
        # inline run), sender() names the job
        job.sigProgress.connect(self._on_progress)
        job.sigLog.connect(self._on_log)
        job.sigFinished.connect(self._on_finished)
        job.sigErrored.connect(self._on_errored)
        job.sigCancelled.connect(self._on_cancelled)
        self.sigStarted.emit(name)
        self._set_running(True)
        return job

    def cancel(self) -> None:
        """Ask the current job to stop; sigCancelled follows when it has."""
        if self._current is not None:
            self._current.cancel()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until every job thread has ended (for shutdown and tests)."""
        deadline = time.monotonic() + timeout_ms / 1000.0
        for job in list(self._alive):
            left = max(0, int((deadline - time.monotonic()) * 1000))
            if not job.wait(left):
                return False
        return True

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel everything and wait (call from the window's closeEvent)."""
        for job in list(self._alive):
            job.cancel()
        return self.wait(timeout_ms)

    def _retire(self, job: Job) -> None:
        job.cancel()
        if self._current is job:
            self._current = None

    def _on_progress(self, value) -> None:
        if self.sender() is self._current:
            self.sigProgress.emit(value)

    def _on_log(self, message: str) -> None:
        if self.sender() is self._current:
            self.sigLog.emit(message)

    def _on_finished(self, result) -> None:
        self._end(self.sender(), self.sigFinished, result)

    def _on_errored(self, message: str) -> None:
        self._end(self.sender(), self.sigErrored, message)

    def _on_cancelled(self, result) -> None:
        self._end(self.sender(), self.sigCancelled, result)

    def _on_thread_finished(self) -> None:
        for job in list(self._alive):
            if job._thread is self.sender():
                job.wait(5000)  # "finished" comes just before the thread returns
                self._alive.discard(job)

    def _end(self, job, signal, value) -> None:
        if job is not None and job is self._current:
            self._current = None
            signal.emit(value)
            self._set_running(self.is_running())  # a slot above may have started the next job

    def _set_running(self, running: bool) -> None:
        if running != self._running:
            self._running = running
            self.sigRunningChanged.emit(running)


def job_progress_bar(max_width: int = 140) -> QProgressBar:
    """The slim 0-100 bar a view shows beside its button while its job runs (hidden until then)."""
    bar = QProgressBar()
    bar.setRange(0, 100)
    bar.setMaximumWidth(max_width)
    bar.setMaximumHeight(14)
    bar.setVisible(False)
    return bar

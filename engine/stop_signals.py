"""Ctrl-C and SIGTERM for a headless command: the first asks the job to stop cleanly, the
second aborts at once, later ones are ignored so the abort's own clean-up is not interrupted.

A batch system's ``scancel`` or a container's stop sends SIGTERM where a user presses Ctrl-C;
both get the same clean stop. The exit status of a stopped command is ``128 + last``.

Example::

    stop = threading.Event()
    signals = StopOnSignals(stop, say=lambda text: print(text, file=sys.stderr))
    try:
        run_job(should_stop=stop.is_set)      # a second signal raises KeyboardInterrupt here
    finally:
        signals.restore()
"""
from __future__ import annotations

import signal
import threading


class StopOnSignals:
    """SIGINT or SIGTERM sets ``stop`` and calls ``say(message)``; a second one raises
    KeyboardInterrupt; later ones are ignored. ``last``: the latest signal's number. Handlers
    are installed only from the main thread (the only one Python lets set them)."""

    def __init__(self, stop: threading.Event, say, message: str = "stopping (Ctrl-C again to abort)..."):
        self.stop, self.say, self.message = stop, say, message
        self.last, self._aborting, self._previous = signal.SIGINT, False, {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        if self._aborting:
            return
        self.last = signum
        if self.stop.is_set():
            self._aborting = True
            raise KeyboardInterrupt
        self.stop.set()
        self.say(self.message)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

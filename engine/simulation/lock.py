"""One run at a time per dataset folder: an exclusive ``fcntl.flock`` on ``folder/.lock``.

Two runs (GUI and CLI, two terminals, two threads of one process) never write one dataset
folder: the second gets SimulationError "in use by another elbench run (pid N)". The kernel
drops the lock when its holder dies, so a SIGKILLed run never leaves the folder locked.

Example::

    with FolderLock("runs/ds1"):
        ...                          # write the dataset
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from engine.simulation.errors import SimulationError

LOCK_FILE = ".lock"


class FolderLock:
    """An exclusive ``fcntl.flock`` on ``folder/.lock``, held for a whole run so that two runs
    (GUI and CLI, two terminals, two threads of one process) never write one dataset folder.
    The file keeps the holder's pid for the message; it is left in place (removing a lock file
    while another process opens it would let two runs lock different files). The kernel drops
    the lock when the holder dies, so a SIGKILLed run never leaves the folder locked."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self._fd = None

    def acquire(self) -> FolderLock:
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                pid = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise SimulationError(f"{self.folder} is in use by another elbench run (pid {pid}); wait for it to "
                                  "finish or stop it, then resume") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

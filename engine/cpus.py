"""How many CPUs this process may use: the default for worker pools, MPI ranks and threads.

Example::

    workers = min(requested, available_cpus())
"""
from __future__ import annotations

import os


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask (a SLURM/cgroup batch allocation, taskset)
    where the OS has one, else os.cpu_count()."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1

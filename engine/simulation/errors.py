"""The error of a simulation run that cannot start or go on.

Example::

    raise SimulationError("runs/ds1 is in use by another elbench run (pid 4242); ...")
"""
from __future__ import annotations


class SimulationError(RuntimeError):
    """A run that cannot start or go on (folder in use, plan differs from the manifest...)."""

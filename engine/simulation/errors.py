"""The errors of a simulation: a plan that cannot be used, a run that cannot start or go on.

Example::

    raise PlanError("max_shift_A", "must be below a quarter of the box (94.5 A)", "plan.json")
    raise SimulationError("runs/ds1 is in use by another elbench run (pid 4242); ...")
"""
from __future__ import annotations


class PlanError(ValueError):
    """A plan (or plan file) that cannot be used; ``field`` names the offending key, ``source``
    the file (both may be empty)."""

    def __init__(self, field_name: str, problem: str, source: str = ""):
        self.field, self.problem, self.source = field_name, problem, source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{field_name}: {problem}" if field_name else f"{where}{problem}")


class SimulationError(RuntimeError):
    """A run that cannot start or go on (folder in use, plan differs from the manifest...)."""

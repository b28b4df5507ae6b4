"""The one error every loader raises: the message names the file and the problem.

Example::

    raise LoaderError("train/z.25.pkl", "has 2999 rows, but the dataset has 3000 particles")
"""
from __future__ import annotations


class LoaderError(ValueError):
    """A method output that cannot be used; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{self.path}: {problem}")

"""Progress of an external tool, read from its own output lines: fraction done and ETA.

A :class:`ProgressParser` is a regex with named groups: ``done`` and ``total`` (``"Epoch
3/25"``, ``"iteration 5 of 20"``), ``done`` alone with a fixed ``total`` given by the caller
(a tool that prints only ``"Iteration= 5"`` of a known 25), or ``percent``. A
:class:`ProgressTracker` feeds lines to a parser and calls ``progress(StepProgress)`` when the
fraction grows, with an ETA from the elapsed time (linear: ``elapsed * (1 - f) / f``).
:class:`LineSplitter` turns the bytes a tool writes into lines; a lone carriage return ends a
line too, because progress bars (tqdm, RELION) redraw themselves with ``\\r``.

Example::

    parser = ProgressParser(r"Epoch (?P<done>\\d+)/(?P<total>\\d+)")
    parser.fraction("Epoch 3/25 loss=0.1")      # 0.12
    tracker = ProgressTracker("train", parser, progress=print)
    tracker.feed("Epoch 5/25")                  # prints StepProgress(step='train', fraction=0.2, ...)
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Protocol

_END_OF_LINE = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class StepProgress:
    """One progress report of a step.

    fraction: 0..1 of the step done, None while unknown (queued, or a tool with no parser);
    eta_s: seconds left (None until something is done); elapsed_s: seconds since the step
    started running (time queued on SLURM not counted); state: "starting", "pending" (queued
    on SLURM), "running" or "done"; line: the tool's line that gave the fraction;
    index / count: this step's place among the job's steps (0-based) for an overall bar.
    """

    step: str
    fraction: float | None
    eta_s: float | None
    elapsed_s: float
    state: str = "running"
    line: str = ""
    index: int = 0
    count: int = 1

    @property
    def overall_fraction(self) -> float:
        """Fraction of the whole job done, each step weighing the same."""
        return (self.index + (self.fraction or 0.0)) / max(self.count, 1)


class LineParser(Protocol):
    """What a tracker asks of a parser: the fraction done a line says, or None."""

    def fraction(self, line: str) -> float | None: ...


def eta_s(elapsed_s: float, fraction: float) -> float | None:
    """Seconds left at a constant rate: ``elapsed * (1 - f) / f``; None before anything is done."""
    if fraction <= 0.0:
        return None
    return elapsed_s * (1.0 - min(fraction, 1.0)) / fraction


@dataclass(frozen=True)
class ProgressParser:
    """Fraction done from one line of a tool's output, or None when the line says nothing.

    pattern: regex (searched, case-insensitive by default) with named groups ``done`` and
    ``total``, or ``done`` with the fixed ``total`` below, or ``percent`` (0-100).
    started: the count names the item being started, not finished (``"Epoch 3/25"`` printed
    when epoch 3 begins), so one less is done.
    """

    pattern: str
    total: float | None = None
    started: bool = False
    flags: int = re.IGNORECASE
    _regex: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        regex = re.compile(self.pattern, self.flags)
        groups = set(regex.groupindex)
        if "percent" not in groups and "done" not in groups:
            raise ValueError(f"progress pattern {self.pattern!r} needs a named group 'done' or 'percent'")
        if "done" in groups and "total" not in groups and self.total is None:
            raise ValueError(f"progress pattern {self.pattern!r} has no group 'total': give total=")
        if self.total is not None and self.total <= 0:
            raise ValueError(f"total must be > 0, got {self.total}")
        object.__setattr__(self, "_regex", regex)

    def fraction(self, line: str) -> float | None:
        match = self._regex.search(line)
        if match is None:
            return None
        groups = match.groupdict()
        if groups.get("percent") is not None:
            return _clip(float(groups["percent"]) / 100.0)
        done = float(groups["done"]) - (1.0 if self.started else 0.0)
        total = float(groups["total"]) if groups.get("total") is not None else self.total
        if not total or total <= 0:
            return None
        return _clip(done / total)


@dataclass(frozen=True)
class StageProgressParser(ProgressParser):
    """Fraction done from the stage a line announces, for tools that print no counts.
    stages: (phrase, fraction done when it appears) pairs, e.g. weighted by the time each
    stage took in one real run; the phrases are matched literally, case-sensitively."""

    pattern: str = ""
    stages: tuple = ()
    total: float = 1.0
    flags: int = 0

    def __post_init__(self):
        if not self.pattern:
            object.__setattr__(self, "pattern", "(?P<done>" + "|".join(re.escape(s) for s, _ in self.stages) + ")")
        super().__post_init__()

    def fraction(self, line: str) -> float | None:
        match = self._regex.search(line)
        return None if match is None else dict(self.stages)[match["done"]]


def _clip(fraction: float) -> float:
    return min(max(fraction, 0.0), 1.0)


# Common shapes of progress lines; a runner picks one or writes its own for its tool.
EPOCH_PARSER = ProgressParser(r"epoch\s*[:=]?\s*(?P<done>\d+)\s*(?:/|of)\s*(?P<total>\d+)")
ITERATION_PARSER = ProgressParser(r"iteration\s*[:=]?\s*(?P<done>\d+)\s*(?:/|of)\s*(?P<total>\d+)")
PERCENT_PARSER = ProgressParser(r"(?P<percent>\d+(?:\.\d+)?)\s*%")


class ProgressTracker:
    """Feeds a step's lines to its parser (a :class:`LineParser`: a ProgressParser, or a
    method's own that keeps state between lines) and reports growing fractions to ``progress``.

    The fraction never goes back (a tool that restarts a count in a second phase does not
    move the bar backwards); ``restart_clock()`` starts the ETA clock again (a SLURM job
    that waited in the queue starts counting when it runs)."""

    def __init__(self, step: str, parser: LineParser | None, progress=None, clock=time.monotonic):
        self.step, self.parser, self.progress, self.clock = step, parser, progress, clock
        self.fraction: float | None = None
        self.state = "starting"
        self._t0 = clock()

    def restart_clock(self) -> None:
        self._t0 = self.clock()

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self._t0

    def report(self, state: str | None = None, line: str = "") -> None:
        """Send the current fraction (and a new ``state`` if given) to ``progress``."""
        if state is not None:
            self.state = state
        if self.progress is None:
            return
        elapsed = self.elapsed_s
        eta = eta_s(elapsed, self.fraction) if self.fraction is not None else None
        self.progress(StepProgress(self.step, self.fraction, eta, elapsed, self.state, line))

    def feed(self, line: str) -> None:
        if self.parser is None:
            return
        fraction = self.parser.fraction(line)
        if fraction is None or (self.fraction is not None and fraction <= self.fraction):
            return
        self.fraction = fraction
        self.report(line=line)

    def finish(self) -> None:
        self.fraction = 1.0
        self.report("done")


class LineSplitter:
    """Bytes in, text lines out (UTF-8, undecodable bytes replaced). ``\\n``, ``\\r\\n`` and a
    lone ``\\r`` end a line; a trailing ``\\r`` is held back in case ``\\n`` follows."""

    def __init__(self):
        self._pending = b""

    def feed(self, data: bytes) -> list[str]:
        data = self._pending + data
        held = 1 if data.endswith(b"\r") else 0
        parts = _END_OF_LINE.split(data[:len(data) - held])
        self._pending = parts.pop() + data[len(data) - held:]
        return [part.decode("utf-8", "replace") for part in parts]

    def flush(self) -> list[str]:
        """The last line, when the output did not end with a newline."""
        rest, self._pending = self._pending.rstrip(b"\r"), b""
        return [rest.decode("utf-8", "replace")] if rest else []

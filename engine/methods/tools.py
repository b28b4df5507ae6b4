"""Is a tool installed, and recent enough? Checked before a method runs, with a message that
says how to install it.

A :class:`ToolRequirement` names the executable looked up on ``PATH``, the arguments that make
it print its version (run as ``[executable, *version_args]``, stdout and stderr searched), a
regex whose first group is the version, and the oldest version that works.
``require_tool`` returns a :class:`FoundTool` or raises :class:`ToolMissingError`.

Example::

    RELION = ToolRequirement("relion_refine", minimum_version="3.1", version_args=("--version",),
                             install_hint="apt-get install relion (Debian) or see relion.readthedocs.io")
    found = require_tool(RELION)        # FoundTool(path='/usr/bin/relion_refine', version='3.1.3')
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

VERSION_TIMEOUT_S = 60.0  # a Python tool (cryodrgn) imports torch before it prints its version
DEFAULT_VERSION_PATTERN = r"(\d+(?:\.\d+)+)"


class ToolMissingError(RuntimeError):
    """A tool that is not installed, too old, or whose version cannot be read."""


@dataclass(frozen=True)
class ToolRequirement:
    """An executable elbench runs, and the oldest version it works with.

    executable: name looked up on PATH (or a path); minimum_version: dotted ("3.1"), None to
    check presence only; version_args: arguments that print the version, None to skip running
    it; version_pattern: regex, group 1 the dotted version; install_hint: how to install it.
    """

    executable: str
    minimum_version: str | None = None
    version_args: tuple[str, ...] | None = ("--version",)
    version_pattern: str = DEFAULT_VERSION_PATTERN
    install_hint: str = ""

    def __post_init__(self):
        if not self.executable:
            raise ValueError("executable must not be empty")
        if self.minimum_version is not None:
            parse_version(self.minimum_version)
            if self.version_args is None:
                raise ValueError("a minimum_version needs version_args to read the version")
        if self.version_args is not None:
            object.__setattr__(self, "version_args", tuple(self.version_args))
            if re.compile(self.version_pattern).groups < 1:
                raise ValueError(f"version_pattern {self.version_pattern!r} needs a group for the version")


@dataclass(frozen=True)
class FoundTool:
    """Where a required tool is, and the version it reported (None when not asked)."""

    path: Path
    version: str | None


def parse_version(text: str) -> tuple[int, ...]:
    """``"3.1.3"`` -> ``(3, 1, 3)``; only the leading dotted digits count (``"1.0.5rc1"`` -> 1.0.5)."""
    match = re.match(r"\d+(?:\.\d+)*", text.strip())
    if match is None:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(part) for part in match.group(0).split("."))


def version_at_least(version: str, minimum: str) -> bool:
    have, need = parse_version(version), parse_version(minimum)
    width = max(len(have), len(need))
    return have + (0,) * (width - len(have)) >= need + (0,) * (width - len(need))


def require_tool(requirement: ToolRequirement, env: dict | None = None) -> FoundTool:
    """Find ``requirement.executable`` on ``PATH`` (from ``env`` if given, else ours) and check
    its version. Raises ToolMissingError naming the tool, what is wrong and how to install it."""
    env = dict(os.environ if env is None else env)
    name = requirement.executable
    hint = f" Install it: {requirement.install_hint}" if requirement.install_hint else ""
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found is None:
        raise ToolMissingError(f"{name} was not found on PATH.{hint}")
    path = Path(found)
    if requirement.version_args is None:
        return FoundTool(path, None)
    argv = [str(path), *requirement.version_args]
    try:
        done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors="replace", timeout=VERSION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissingError(f"{name} is on PATH ({path}) but `{' '.join(argv)}` failed: {exc}.{hint}") from exc
    output = done.stdout + done.stderr
    match = re.search(requirement.version_pattern, output)
    if match is None:
        said = output.strip()[-300:] or f"nothing (exit code {done.returncode})"
        raise ToolMissingError(f"could not read the version of {name} ({path}) from `{' '.join(argv)}`, "
                               f"which printed: {said}.{hint}")
    version = match.group(1)
    if requirement.minimum_version is not None and not version_at_least(version, requirement.minimum_version):
        raise ToolMissingError(f"{name} {version} ({path}) is too old: elbench needs "
                               f"{requirement.minimum_version} or newer.{hint}")
    return FoundTool(path, version)

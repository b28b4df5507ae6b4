"""What the Methods tab shows before Start: the exact command lines and the tool checks.

Both can take a while (RELION's commands read the dataset's maps; a check runs the tool or its
interpreter), so :func:`preview_job` is an engine job for the tab's preview JobRunner, off the
GUI thread; the next edit starts a new one and the runner drops the old one's answer.

Example::

    preview = preview_job(METHODS["cryodrgn"], "runs/ds1", "runs/ds1_cryodrgn", options,
                          checks={"cryoDRGN": METHODS["cryodrgn"].check})
    preview.commands, preview.checked["cryoDRGN"]    # "# train\\ncd ...", ("4.3.0", "")
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from engine.methods.slurm import SLURM_CLIENT
from engine.methods.tools import ToolMissingError, require_tool

ERROR_STYLE = "color: #b00020"


@dataclass(frozen=True)
class Preview:
    """commands: the command lines (``""`` with ``commands_error`` set when they cannot be
    built); checked: ``{tool: (version, "")}`` or ``{tool: ("", why it cannot run)}``."""

    commands: str
    commands_error: str = ""
    checked: dict = field(default_factory=dict)


def slurm_client_version() -> str:
    """The installed ``sbatch`` version; ToolMissingError says how to get SLURM's commands."""
    return require_tool(SLURM_CLIENT).version or "found"


def preview_job(method, dataset, job_dir, options, checks=None, progress=None, should_stop=None,
                log=None) -> Preview:
    """The command lines of ``method`` on ``dataset`` with ``options`` run in ``job_dir`` (none
    for ``options`` None), and the result of each check in ``checks`` (``{tool name: callable
    -> version}``)."""
    checked = {}
    for name, check in (checks or {}).items():
        try:
            checked[name] = (check() or "found", "")
        except ToolMissingError as exc:
            checked[name] = ("", str(exc))
    if options is None:  # the form's values are invalid (it says why): nothing to build
        return Preview("", "", checked)
    if dataset is None:
        return Preview("", "choose a dataset folder", checked)
    try:
        commands = method.command_lines(Path(dataset), Path(job_dir), options)
    except Exception as exc:  # any reason the commands cannot be built is what the user must read
        return Preview("", f"{type(exc).__name__}: {exc}", checked)
    return Preview(commands, "", checked)


def tool_status_html(names, checks) -> str:
    """One line per tool for a rich-text label: "NAME VERSION: installed", "NAME: checking…"
    (``None``: not answered yet), or in red "NAME cannot run: WHY" (the install hint)."""
    lines = []
    for name, check in zip(names, checks):
        if check is None:
            lines.append(f"{html.escape(name)}: checking…")
        elif check[1]:
            lines.append(f"<span style='{ERROR_STYLE}'>{html.escape(name)} cannot run: {html.escape(check[1])}</span>")
        else:
            lines.append(f"{html.escape(name)} {html.escape(check[0])}: installed")
    return "<br>".join(lines)

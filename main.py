"""elbench entry point.

``python main.py`` opens the GUI on the last landscape (or the built-in default);
``python main.py COMMAND --help`` describes a headless command. Headless commands are the
modules of ``engine/commands/``: each has a docstring, ``add_args(parser)`` and ``main(args)``.
``pip install .`` installs the same entry point as the ``elbench`` command.

This module is the one place where the engine's commands meet the GUI's plotting stack:
``evaluate`` draws its report figures with ``gui.comparison.report_figures``, handed to it
here as ``args.figure_writer`` (imported only when figures are written), so that
``engine/`` never imports ``gui/``.

Example::

    elbench                              # the GUI (same as python main.py)
    elbench gui --landscape my.json
    elbench gui runs/ds1 train/z.25.pkl  # the Comparison tab on a dataset, outputs added
    elbench gui study.elbench.json       # a saved comparison (File > Save comparison), as it was
    elbench sample --preset paper-3x4 --n 100000 --out samples.npz
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import re
import sys


# Every headless command is a module of engine/commands, discovered, so a command is one module.
_COMMAND_PACKAGE = "engine.commands"


def _command_modules():
    """Yield (name, module) for every headless command, sorted by name."""
    path = importlib.import_module(_COMMAND_PACKAGE).__path__
    for name in sorted(info.name for info in pkgutil.iter_modules(path)):
        yield name, importlib.import_module(f"{_COMMAND_PACKAGE}.{name}")


def _write_report_figures(folder, dataset, reports, maps):
    """The evaluate report's PNG figures (Qt offscreen); Qt is imported only here."""
    from gui.comparison.report_figures import write_report_figures

    return write_report_figures(folder, dataset, reports, maps)


# What the GUI lends a headless command, by command name (see the module docstring).
_GUI_DEFAULTS = {"evaluate": {"figure_writer": _write_report_figures}}


def _add_gui_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DATASET", nargs="?",
                        help="dataset folder to open in the Comparison tab, or a saved comparison "
                             "project file (.elbench.json)")
    parser.add_argument("outputs", metavar="OUTPUT", nargs="*",
                        help="method outputs to add to that comparison (as in evaluate)")
    parser.add_argument("--label", action="append", metavar="NAME", help="method name, once per OUTPUT")
    parser.add_argument("--kind", action="append", metavar="KIND",
                        help="loader, once per OUTPUT (default: detected from the file)")
    parser.add_argument("--landscape", metavar="FILE", help="landscape JSON to open")


# Options whose value may start with "-" (a negative dimension): argparse would take
# "--dims -1,0" for two options, so the value is joined to its option first.
_SIGNED_LIST_OPTIONS = ("--dims",)
_SIGNED_LIST = re.compile(r"^-\d+(,\s*-?\d+)*$")


def _join_signed_values(argv: list[str]) -> list[str]:
    joined = []
    for arg in argv:
        if joined and joined[-1] in _SIGNED_LIST_OPTIONS and _SIGNED_LIST.match(arg):
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined


def _gui_request(args, parser) -> dict:
    """run_gui's keyword arguments from the gui command's arguments (refusing bad counts)."""
    outputs = list(getattr(args, "outputs", None) or [])
    dataset = getattr(args, "dataset", None)
    if dataset is not None and dataset.endswith(".json"):
        from engine.formats.comparison_project import ProjectFileError, load_project

        try:
            load_project(dataset)  # refused here, before a window opens, when it cannot be read
        except ProjectFileError as exc:
            parser.error(str(exc))
        if outputs:
            parser.error(f"{dataset} is a saved comparison: it holds its outputs (give no OUTPUT with it)")
    per_output = {}
    for option in ("label", "kind"):
        given = getattr(args, option, None) or []
        if given and len(given) not in (1, len(outputs)):
            parser.error(f"--{option} is given {len(given)} times for {len(outputs)} OUTPUT(s): "
                         "give it once per OUTPUT or once for all")
        given = given * len(outputs) if len(given) == 1 else given
        per_output[option] = [None if v in (None, "-") else v for v in given] or [None] * len(outputs)
    return {"landscape_path": getattr(args, "landscape", None),
            "dataset": getattr(args, "dataset", None), "outputs": outputs,
            "labels": per_output["label"], "kinds": per_output["kind"]}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="elbench",
        description="Design, simulate and score cryo-EM energy-landscape benchmarks. "
        "Without a command, opens the GUI.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = commands.add_parser("gui", help="open the graphical application (the default)")
    _add_gui_args(gui)
    for name, module in _command_modules():
        summary = (module.__doc__ or name).strip().splitlines()[0]
        sub = commands.add_parser(name, help=summary, description=module.__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_args(sub)
        sub.set_defaults(run=module.main, **_GUI_DEFAULTS.get(name, {}))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_join_signed_values(sys.argv[1:] if argv is None else list(argv)))
    if args.command in (None, "gui"):
        request = _gui_request(args, parser)
        from gui.app import run_gui  # Qt is imported only when the GUI is wanted

        return run_gui(**request)
    try:
        code = int(args.run(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe is met here, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader went away (`elbench evaluate ... | head -1`): nothing left to say, and
        # Python's flush at exit must not raise again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a process ended by SIGPIPE


def cli() -> None:
    """The ``elbench`` console script (``[project.scripts]`` in pyproject.toml)."""
    sys.exit(main())


if __name__ == "__main__":
    cli()

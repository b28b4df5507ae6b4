"""elbench entry point.

``python main.py`` opens the GUI on the last landscape (or the built-in default);
``python main.py COMMAND --help`` describes a headless command. Headless commands are the
modules of ``engine/commands/`` and ``gui/commands/``: each has a docstring, ``add_args(parser)`` and ``main(args)``.

Example::

    python main.py                       # the GUI
    python main.py gui --landscape my.json
    python main.py sample --preset paper-3x4 --n 100000 --out samples.npz
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys


# Commands that draw figures live in gui/commands (they use the plotting stack, offscreen);
# all others in engine/commands. Both are discovered, so a command is one module.
_COMMAND_PACKAGES = ("engine.commands", "gui.commands")


def _command_modules():
    """Yield (name, module) for every headless command, sorted by name."""
    found = []
    for package in _COMMAND_PACKAGES:
        path = importlib.import_module(package).__path__
        found += [(info.name, f"{package}.{info.name}") for info in pkgutil.iter_modules(path)]
    for name, module in sorted(found):
        yield name, importlib.import_module(module)


def _add_gui_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--landscape", metavar="FILE", help="landscape JSON to open")


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
        sub.set_defaults(run=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in (None, "gui"):
        from gui.app import run_gui  # Qt is imported only when the GUI is wanted

        return run_gui(landscape_path=getattr(args, "landscape", None))
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

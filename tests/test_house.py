"""The house rules a machine can check (the import contracts run as `lint-imports` in make test).

* no Python file over 400 lines: one concept a file;
* every package under engine/ and gui/ lists its public names in ``__all__``, and each name
  listed is importable from it;
* ``pip install .`` exposes ``main:cli`` as the ``elbench`` command.
"""
from __future__ import annotations

import importlib
import pkgutil
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
SKIP = {".venv", ".git", "build", "__pycache__"}


def _python_files():
    for path in sorted(ROOT.rglob("*.py")):
        if not SKIP.intersection(path.relative_to(ROOT).parts):
            yield path


def test_no_python_file_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in _python_files()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines (split them by concept): {long}"


def _packages():
    for top in ("engine", "gui"):
        yield top
        package = importlib.import_module(top)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{top}."):
            if info.ispkg:
                yield info.name


@pytest.mark.parametrize("name", list(_packages()))
def test_each_package_lists_its_public_names(name):
    package = importlib.import_module(name)
    assert package.__doc__, f"{name}/__init__.py has no docstring"
    public = getattr(package, "__all__", None)
    assert public is not None, f"{name}/__init__.py lists no public names (__all__)"
    for attribute in public:
        assert getattr(package, attribute) is not None, f"{name}.{attribute}"


def test_the_elbench_command_is_main_cli():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["elbench"] == "main:cli"
    import main

    assert callable(main.cli)

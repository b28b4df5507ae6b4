"""Lazy public names for a package: ``__all__`` lists them, ``__getattr__`` imports on first use.

A package's ``__init__`` lists its public names without importing its modules, so importing
one stage (or ``python main.py --help``) costs nothing for the others; pandas, numba and
starfile load only where they are used.

Example::

    # engine/landscape/__init__.py
    from engine.exports import lazy_exports
    __all__, __getattr__ = lazy_exports(__name__, {"model": ["Landscape", "Well"]})
"""
from __future__ import annotations

import importlib


def lazy_exports(package: str, names_by_module: dict[str, list[str]], modules: tuple[str, ...] = ()):
    """``(__all__, __getattr__)`` for ``package``: each name in ``names_by_module[m]`` is
    ``package.m.name``, and each of ``modules`` is the submodule ``package.<that>`` itself."""
    where = {name: module for module, names in names_by_module.items() for name in names}

    def __getattr__(name: str):
        if name in modules:
            return importlib.import_module(f"{package}.{name}")
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{where[name]}"), name)

    return sorted(where) + sorted(modules), __getattr__

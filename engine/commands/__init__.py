"""Every headless command of ``elbench`` (``python main.py``): one module each, with a
docstring, ``add_args(parser)`` and ``main(args)``."""
from engine.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
}, modules=("evaluate", "maps", "run", "sample", "simulate", "verify"))

"""Headless commands of ``python main.py``; each module has ``add_args(parser)`` and ``main(args)``."""

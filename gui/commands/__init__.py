"""Headless commands that render figures with the plotting stack (Qt offscreen, no window).

A module here must not import Qt at module level: ``python main.py --help`` imports it."""

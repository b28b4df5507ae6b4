"""Shared test settings: Qt tests run on the X server from xvfb-run (make test)."""

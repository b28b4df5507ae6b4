"""Start the Qt application and show the main window.

Example::

    from gui.app import run_gui
    run_gui()        # blocks until the window closes
"""
from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication

from gui.main_window import MainWindow
from gui.widgets.settings import APPLICATION, ORGANIZATION


def run_gui(landscape_path: str | None = None, dataset: str | None = None, outputs=(),
            labels=None, kinds=None) -> int:
    """Show the main window; with ``dataset``, on the Comparison tab with ``outputs`` added
    (``labels`` and ``kinds`` one per output, None for the default)."""
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    window = MainWindow(landscape_path=landscape_path)
    window.show()
    if dataset is not None:
        window.open_comparison(dataset, outputs, labels, kinds)
    return app.exec()

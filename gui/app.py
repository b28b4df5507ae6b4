"""Start the Qt application and show the main window.

Example::

    from gui.app import run_gui
    run_gui()        # blocks until the window closes
"""
from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication

from gui.main_window import MainWindow
from gui.settings import APPLICATION, ORGANIZATION


def run_gui(landscape_path: str | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    window = MainWindow(landscape_path=landscape_path)
    window.show()
    return app.exec()

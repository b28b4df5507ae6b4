"""The main window: one tab per stage of the workflow, and a status bar.

Stages: Landscape (design the energy landscape), Structure & projections, Simulation,
Comparison. Each tab is a widget that takes the shared document in its constructor.
"""
from __future__ import annotations

from PySide6.QtWidgets import QMainWindow, QTabWidget


class MainWindow(QMainWindow):
    def __init__(self, landscape_path: str | None = None):
        super().__init__()
        self.setWindowTitle("elbench")
        self.resize(1400, 900)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.statusBar().showMessage("Ready")

"""The Comparison tab's tool buttons: one way to make a text button, and the "Export…"
buttons that save a figure (PNG or SVG), their dialog starting in the dataset's folder.

Example::

    bar.addWidget(tool_button("Clear", "Clear the selection", selection.clear))
    bar.addWidget(export_figure_button(self, self.plots, "lineage", comparison))
    corner_export_button(self, chart, "recall_per_well", comparison)   # in the chart's corner
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QToolButton

from gui.widgets.figure_export import ask_and_export

EXPORT_TIP = "Save this figure as PNG or SVG"


def tool_button(text: str, tip: str, slot=None, checkable: bool = False) -> QToolButton:
    """A text-only tool button; ``slot`` (if any) is connected to ``clicked``."""
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(checkable)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    if slot is not None:
        button.clicked.connect(slot)
    return button


def export_figure_button(parent, graphics_view, name: str, comparison, text: str = "Export figure…") -> QToolButton:
    """A button asking where to save ``graphics_view`` (file name ``name``); the dialog starts
    in the folder last used, else the dataset's folder of ``comparison`` (a ComparisonModel)."""
    return tool_button(text, EXPORT_TIP,
                       lambda: ask_and_export(parent, graphics_view, name, comparison.dataset_folder))


def corner_export_button(parent, graphics_view, name: str, comparison) -> QToolButton:
    """A small "Export…" button kept in the top-right corner of ``graphics_view`` (``parent``:
    the dialog's)."""
    button = export_figure_button(parent, graphics_view, name, comparison, text="Export…")
    button.setParent(graphics_view)
    button.setAutoRaise(True)
    _CornerKeeper(graphics_view, button)
    return button


class _CornerKeeper(QObject):
    """Keeps ``button`` in the top-right corner of ``view`` when the view is resized."""

    def __init__(self, view, button):
        super().__init__(view)
        self.view, self.button = view, button
        view.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Resize:
            hint = self.button.sizeHint()
            self.button.setGeometry(self.view.width() - hint.width() - 4, 2, hint.width(), hint.height())
        return False

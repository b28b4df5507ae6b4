"""GUI test fixtures: isolated settings, no leftover windows, real mouse gestures.

* Every GUI test gets its own settings file in a temporary folder (the user's real
  ``~/.config/elbench`` is never read or written).
* A test that leaves a top-level widget alive after pytest-qt has closed the widgets it was
  given (``qtbot.addWidget``) fails: windows that are never closed hide bugs in closeEvent
  and slow the suite down.
* Message boxes never block: ``QMessageBox.question/warning/critical/information`` are
  recorded in the ``message_boxes`` fixture (autouse) and answered with ``message_boxes.reply``
  (Discard by default, so closing a window with unsaved changes at teardown cannot hang).
* ``mouse`` sends real mouse events to a widget's viewport (press, moves with the button
  held, release), the way a user's hand does; pyqtgraph turns them into its drag events.
"""
from __future__ import annotations

import gc

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

MOVE_PAUSE_MS = 15  # pyqtgraph drops mouse moves closer than 10 ms (mouseRateLimit)


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path):
    """Point QSettings (INI, user scope) at a fresh folder for this test; returns it."""
    folder = tmp_path / "settings"
    folder.mkdir()
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield folder


@pytest.fixture(autouse=True)
def no_leftover_windows(qapp):
    before = set(QApplication.topLevelWidgets())
    yield
    QApplication.processEvents()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    left = [w for w in QApplication.topLevelWidgets() if w not in before and w.isVisible()]
    for widget in left:
        widget.close()
        widget.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    if left:
        pytest.fail("test left top-level widgets open: "
                    + ", ".join(f"{type(w).__name__} {w.windowTitle()!r}" for w in left))


class MessageBoxes:
    """What the test's message boxes said; ``reply`` answers questions."""

    def __init__(self):
        self.reply = QMessageBox.StandardButton.Discard
        self.questions: list[str] = []
        self.warnings: list[str] = []  # warning, critical and information texts

    def _question(self, parent, title, text, *args, **kwargs):
        self.questions.append(text)
        return self.reply

    def _notice(self, parent, title, text, *args, **kwargs):
        self.warnings.append(text)
        return QMessageBox.StandardButton.Ok


@pytest.fixture(autouse=True)
def message_boxes(monkeypatch):
    boxes = MessageBoxes()
    monkeypatch.setattr(QMessageBox, "question", staticmethod(boxes._question))
    for name in ("warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(boxes._notice))
    return boxes


class Mouse:
    """Real mouse gestures on a widget's viewport (QGraphicsView) or the widget itself."""

    def __init__(self, qtbot):
        self.qtbot = qtbot

    @staticmethod
    def _target(widget):
        return widget.viewport() if hasattr(widget, "viewport") else widget

    def move(self, widget, pos: QPoint, buttons=Qt.MouseButton.NoButton) -> None:
        target = self._target(widget)
        local = QPointF(pos)
        event = QMouseEvent(QEvent.Type.MouseMove, local, target.mapToGlobal(local),
                            Qt.MouseButton.NoButton, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(target, event)
        self.qtbot.wait(MOVE_PAUSE_MS)

    def press(self, widget, pos: QPoint, button=Qt.MouseButton.LeftButton) -> None:
        QTest.mousePress(self._target(widget), button, Qt.KeyboardModifier.NoModifier, pos)
        self.qtbot.wait(MOVE_PAUSE_MS)

    def release(self, widget, pos: QPoint, button=Qt.MouseButton.LeftButton) -> None:
        QTest.mouseRelease(self._target(widget), button, Qt.KeyboardModifier.NoModifier, pos)
        self.qtbot.wait(MOVE_PAUSE_MS)

    def click(self, widget, pos: QPoint, button=Qt.MouseButton.LeftButton) -> None:
        self.move(widget, pos)
        self.press(widget, pos, button)
        self.release(widget, pos, button)

    def double_click(self, widget, pos: QPoint) -> None:
        """Press, release, double-click press, release: what a real double click sends
        (QTest.mouseDClick alone sends only the double-click event)."""
        self.click(widget, pos)
        QTest.mouseDClick(self._target(widget), Qt.MouseButton.LeftButton,
                          Qt.KeyboardModifier.NoModifier, pos)
        self.release(widget, pos)

    def drag(self, widget, start: QPoint, end: QPoint, steps: int = 6, release: bool = True,
             during=None) -> None:
        """Press at ``start``, move in ``steps`` to ``end`` with the left button held, and
        release there (unless ``release`` is False). ``during()`` runs before the release."""
        self.move(widget, start)
        self.press(widget, start)
        for k in range(1, steps + 1):
            p = QPoint(round(start.x() + (end.x() - start.x()) * k / steps),
                       round(start.y() + (end.y() - start.y()) * k / steps))
            self.move(widget, p, Qt.MouseButton.LeftButton)
        if during is not None:
            during()
        if release:
            self.release(widget, end)


@pytest.fixture
def mouse(qtbot):
    return Mouse(qtbot)

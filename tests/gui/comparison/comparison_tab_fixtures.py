"""The Comparison tab as the tests meet it: a dataset of 6,000 particles and two outputs
(``files``, built once per test module), the tab with them dropped on it (``tab``), and
``drop`` (a drag and drop of paths, as from a file manager)."""
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from comparison_data import dataset_and_outputs
from engine.landscape.presets import load_preset
from gui.comparison.comparison_tab import ComparisonTab
from gui.model.document import LandscapeDocument


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return dataset_and_outputs(tmp_path_factory.mktemp("tab"), n=6000, seed=11)


def drop(widget, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


@pytest.fixture
def tab(qtbot, files):
    folder, npy, pkl, _ = files
    doc = LandscapeDocument(load_preset("paper-3x4"))
    tab = ComparisonTab(doc)
    qtbot.addWidget(tab)
    tab.resize(1500, 900)
    with qtbot.waitExposed(tab):
        tab.show()
    assert tab.pages.currentIndex() == 0  # the "drop a dataset here" page
    drop(tab, [npy, folder, pkl])          # the dataset is opened first whatever the order
    assert tab.model.wait_idle()
    yield tab
    tab.shutdown()

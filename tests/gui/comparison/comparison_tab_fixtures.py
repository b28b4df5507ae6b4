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


def gui_command_window(qtbot, monkeypatch, argv):
    """``elbench gui ...`` (main.main(argv), which must return 0) with the GUI opened here, as
    main hands it over, but without app.exec(): the MainWindow it shows."""
    import main
    from gui.main_window import MainWindow

    shown = {}

    def run_gui(**request):
        window = MainWindow(request["landscape_path"])
        qtbot.addWidget(window)
        window.show()
        window.open_comparison(request["dataset"], request["outputs"], request["labels"], request["kinds"])
        shown["window"] = window
        return 0

    monkeypatch.setattr("gui.app.run_gui", run_gui)
    assert main.main(list(argv)) == 0
    return shown["window"]

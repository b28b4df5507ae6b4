from gui.main_window import MainWindow


def test_main_window_opens_with_status_bar(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.windowTitle().startswith("elbench")
    assert window.statusBar().currentMessage() == "Ready"

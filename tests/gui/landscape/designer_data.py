"""A small two-well landscape and a shown designer, shared by the designer tests."""
from engine.landscape.model import Landscape, Well
from gui.model.document import LandscapeDocument
from gui.landscape.designer import LandscapeDesigner


def two_wells() -> Landscape:
    wells = (Well("left", -6.0, 0.0, 3.0, 2.0, 2.0), Well("right", 6.0, 0.0, 2.5, 2.0, 2.0))
    return Landscape(wells, (-12.0, 12.0), (-9.0, 9.0), grid_size=128, name="two")


def show_designer(qtbot, active: bool = False) -> LandscapeDesigner:
    """A designer on ``two_wells()``, shown (and made the active window when ``active``:
    shortcuts such as Del need one)."""
    widget = LandscapeDesigner(LandscapeDocument(two_wells()))
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    with qtbot.waitExposed(widget):
        widget.show()
    if active:
        with qtbot.waitActive(widget):
            widget.activateWindow()
    return widget

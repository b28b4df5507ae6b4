"""The Load maps dialog given hostile files (issue 11): a file that is not an MRC map, a
truncated map, a FIFO. The first map's header line says what is wrong at once; OK shows the
engine's message (as the command line prints it, naming the file) in a message box and keeps
the dialog open and the current object."""
import os

import numpy as np
import pytest

from engine.landscape.presets import load_preset
from engine.structure.maps import MapFileError, object_from_maps, write_map
from engine.structure.object_model import build_ribosome_like
from gui.model.document import LandscapeDocument
from gui.structure.structure_tab import StructureTab

READY_MS = 30_000
BOX = 32


@pytest.fixture(scope="module")
def obj():
    return build_ribosome_like(box_size=BOX)


@pytest.fixture
def tab(qtbot, obj):
    t = StructureTab(LandscapeDocument(load_preset("paper-3x4")), obj=obj)
    qtbot.addWidget(t)
    qtbot.waitUntil(lambda: t.object is obj, timeout=READY_MS)
    yield t
    t.close_view()


def _engine_message(lsu, ssu) -> str:
    with pytest.raises(MapFileError) as caught:
        object_from_maps(lsu, ssu, (0, 0, 0), (0, 1, 0), (0, 0, 1))
    return str(caught.value)


def test_hostile_maps_get_the_engines_message_in_a_box(tab, obj, tmp_path, qtbot, message_boxes):
    write_map(tmp_path / "ssu.mrc", obj.ssu, obj.apix_A)
    write_map(tmp_path / "lsu.mrc", obj.lsu, obj.apix_A)
    data = (tmp_path / "lsu.mrc").read_bytes()
    (tmp_path / "cut.mrc").write_bytes(data[:len(data) // 3])
    (tmp_path / "notes.mrc").write_bytes(b"not density " * 200)
    os.mkfifo(tmp_path / "pipe.mrc")
    dialog = tab.open_load_maps_dialog()
    qtbot.waitExposed(dialog)
    dialog.second_edit.setText(str(tmp_path / "ssu.mrc"))
    for k, name in enumerate(("notes.mrc", "cut.mrc", "pipe.mrc")):
        path = tmp_path / name
        dialog.first_edit.setText(str(path))
        expected = _engine_message(path, tmp_path / "ssu.mrc")
        qtbot.waitUntil(lambda: str(path) in dialog.frame_label.text(), timeout=2000)  # the header, at once
        dialog.accept()
        qtbot.waitUntil(lambda: len(message_boxes.warnings) == k + 1, timeout=READY_MS)
        assert message_boxes.warnings[k] == expected
        assert dialog.isVisible() and tab.object is obj
    assert "notes.mrc: not a readable MRC file (Map ID string not found" in message_boxes.warnings[0]
    assert "cut.mrc: not a readable MRC file" in message_boxes.warnings[1]
    assert message_boxes.warnings[2].endswith("pipe.mrc: is a named pipe (FIFO), not a regular file")
    assert np.all(tab.object.lsu == obj.lsu)
    dialog.reject()

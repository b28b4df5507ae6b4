"""Motion player: walking the conformation along a path, and exporting the frames."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from engine.object_model import build_ribosome_like
from engine.presets import load_preset
from gui.document import LandscapeDocument
from gui.motion_player import FRAMES_PER_SECOND, MotionPlayer, resample_polyline
from gui.object_view import VispyObjectView

PATH = [(-15.0, -10.0), (0.0, 5.0), (12.0, -4.0)]


@pytest.fixture
def doc():
    return LandscapeDocument(load_preset("paper-3x4"))


@pytest.fixture
def player(qtbot, doc):
    p = MotionPlayer(doc)
    qtbot.addWidget(p)
    return p


def test_resample_polyline_is_evenly_spaced_on_the_path():
    pts = resample_polyline(np.array(PATH), 0.7)
    np.testing.assert_allclose(pts[0], PATH[0])
    np.testing.assert_allclose(pts[-1], PATH[-1])
    steps = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    length = sum(np.hypot(*np.subtract(b, a)) for a, b in zip(PATH, PATH[1:]))
    assert len(pts) == int(np.ceil(length / 0.7)) + 1
    # straight segments: spacing is the step except across the corner and at the end
    assert np.sum(np.abs(steps - 0.7) > 1e-9) <= 3 and steps.max() <= 0.7 + 1e-9
    # every point lies on one of the two segments
    for p in pts:
        d = [abs((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]))
             / np.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(PATH, PATH[1:])]
        assert min(d) < 1e-9
    assert len(resample_polyline(np.array([[1.0, 2.0]]), 1.0)) == 1


def test_player_walks_the_drawn_path_at_the_chosen_speed(player, doc, qtbot):
    player.set_speed(100.0)
    player.set_path(PATH)
    frames = player.frames()
    np.testing.assert_allclose(np.linalg.norm(np.diff(frames, axis=0), axis=1)[:5],
                               100.0 / FRAMES_PER_SECOND)
    visited = []
    doc.sigConformationChanged.connect(lambda a, b: visited.append((a, b)))
    qtbot.mouseClick(player.play_button, Qt.MouseButton.LeftButton)
    assert player.is_playing()
    qtbot.waitUntil(lambda: not player.is_playing(), timeout=5000)
    np.testing.assert_allclose(doc.conformation, PATH[-1])
    np.testing.assert_allclose(np.array(visited), frames, atol=1e-9)
    # twice the speed: half as many frames over the same path
    player.set_speed(200.0)
    assert abs(len(player.frames()) - (len(frames) + 1) / 2) <= 1


def test_between_wells_goes_from_centre_to_centre(player, doc):
    player.set_wells(0, 5)
    centres = doc.landscape.centres_deg
    np.testing.assert_allclose(player.path(), centres[[0, 5]])
    frames = player.frames()
    np.testing.assert_allclose(frames[[0, -1]], centres[[0, 5]])
    player.play()
    for _ in range(len(frames) + 3):
        player.step()
    np.testing.assert_allclose(doc.conformation, centres[5])
    assert not player.is_playing()


def test_loop_starts_again(player, doc):
    player.set_speed(300.0)
    player.set_path(PATH)
    player.loop_box.setChecked(True)
    n = len(player.frames())
    player.play()
    for _ in range(n):
        player.step()
    np.testing.assert_allclose(doc.conformation, PATH[0])
    assert player.is_playing()
    player.stop()
    assert not player.is_playing()


def test_export_writes_one_png_per_frame_showing_the_motion(qtbot, doc, tmp_path):
    view = VispyObjectView(size=(200, 160))
    qtbot.addWidget(view.native)
    view.native.show()
    qtbot.waitExposed(view.native)
    view.set_object(build_ribosome_like(box_size=32))
    view.set_projection_visible(False)
    doc.sigConformationChanged.connect(view.set_conformation)
    player = MotionPlayer(doc, grab_frame=view.render_image)
    qtbot.addWidget(player)
    player.set_speed(250.0)
    player.set_path([(-18.0, 0.0), (18.0, 0.0)])
    before = doc.conformation
    files = player.export_frames(tmp_path / "frames")
    n = len(player.frames())
    assert n == 5 and len(files) == n
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"frame_{k:04d}.png" for k in range(n)]
    images = [QImage(f) for f in files]
    assert all(not im.isNull() and (im.width(), im.height()) == (200, 160) for im in images)
    first, last = (np.array([[im.pixelColor(x, y).red() for x in range(0, 200, 2)]
                             for y in range(0, 160, 2)]) for im in (images[0], images[-1]))
    assert np.sum(np.abs(first - last) > 30) > 50   # the SSU moved between the frames
    assert doc.conformation == before
    view.close()


def test_export_needs_a_path(player):
    with pytest.raises(RuntimeError, match="frame grabber"):
        player.export_frames("/tmp/unused")

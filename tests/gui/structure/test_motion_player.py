"""Motion player: walking the conformation along a path, and exporting the frames."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QMessageBox

from engine.structure.object_model import build_ribosome_like
from engine.landscape.presets import load_preset
from gui.model.document import LandscapeDocument
from gui.structure.motion_player import FRAMES_PER_SECOND, MotionPlayer, resample_polyline
from gui.structure.object_view import VispyObjectView

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


def test_between_wells_goes_from_centre_to_centre_over_the_lowest_saddle(player, doc):
    player.set_wells(0, 5)
    centres = doc.landscape.centres_deg
    path = player.path()
    np.testing.assert_allclose(path[[0, -1]], centres[[0, 5]])
    frames = player.frames()
    np.testing.assert_allclose(frames[[0, -1]], centres[[0, 5]])
    player.play()
    for _ in range(len(frames) + 3):
        player.step()
    np.testing.assert_allclose(doc.conformation, centres[5])
    assert not player.is_playing()


def test_between_wells_avoids_the_barrier_a_straight_line_climbs(player, doc):
    """Wells 1 and 12 (opposite corners): the straight line climbs over high ground; the
    played path stays in the valleys, its highest point is the lowest saddle, and every
    frame lies on that path (not the straight line)."""
    land = doc.landscape
    player.set_wells(0, 11)
    path = player.path()
    start, end = land.centres_deg[[0, 11]]
    on_line = max(land.energy(*p) for p in np.linspace(start, end, 400))
    on_path = max(land.energy(*p) for p in path)
    assert on_path < on_line - 0.3
    d = (end - start) / np.linalg.norm(end - start)
    straight_offsets = np.abs(d[0] * (path[:, 1] - start[1]) - d[1] * (path[:, 0] - start[0]))
    assert straight_offsets.max() > 2.0                        # degrees off the line
    frames = player.frames()
    frame_energy = max(land.energy(*f) for f in frames)
    assert frame_energy < on_line - 0.3
    # the path is kept while the landscape stays; moving a well gives a new one
    assert np.array_equal(player.path(), path)
    doc.move_well(11, 10.0, 7.0)
    np.testing.assert_allclose(player.path()[-1], (10.0, 7.0))


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


def _exporting_player(qtbot, doc):
    view = VispyObjectView(size=(120, 100))
    qtbot.addWidget(view.native)
    view.set_object(build_ribosome_like(box_size=32))
    doc.sigConformationChanged.connect(view.set_conformation)
    player = MotionPlayer(doc, grab_frame=view.render_image)
    qtbot.addWidget(player)
    return player, view


def test_export_refuses_a_folder_with_old_frames_unless_told_to_overwrite(qtbot, doc, tmp_path):
    player, view = _exporting_player(qtbot, doc)
    player.set_speed(250.0)
    player.set_path([(-18.0, 0.0), (18.0, 0.0)])              # 5 frames
    folder = tmp_path / "frames"
    first = player.export_frames(folder)
    (folder / "notes.txt").write_text("keep me")
    player.set_speed(500.0)                                   # 3 frames now
    with pytest.raises(FileExistsError, match="5 frame_\\*.png") as err:
        player.export_frames(folder)
    assert str(folder) in str(err.value)
    assert sorted(p.name for p in folder.glob("frame_*.png")) == [Path(f).name for f in first]
    second = player.export_frames(folder, overwrite=True)
    assert len(second) == 3
    # the old frames 3 and 4 are gone: no mix of two animations; other files are kept
    assert sorted(p.name for p in folder.iterdir()) == ["frame_0000.png", "frame_0001.png",
                                                         "frame_0002.png", "notes.txt"]
    view.close()


def test_export_button_asks_before_overwriting(qtbot, doc, tmp_path, monkeypatch, message_boxes):
    player, view = _exporting_player(qtbot, doc)
    player.set_speed(250.0)
    player.set_path([(-18.0, 0.0), (18.0, 0.0)])
    folder = tmp_path / "frames"
    player.export_frames(folder)
    stamp = (folder / "frame_0000.png").stat().st_mtime_ns
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))
    message_boxes.reply = QMessageBox.StandardButton.Cancel
    player.set_speed(500.0)
    player.export_button.click()
    assert len(message_boxes.questions) == 1 and "5 frame_*.png" in message_boxes.questions[0]
    assert len(list(folder.glob("frame_*.png"))) == 5          # cancelled: untouched
    assert (folder / "frame_0000.png").stat().st_mtime_ns == stamp
    message_boxes.reply = QMessageBox.StandardButton.Yes
    player.export_button.click()
    assert len(message_boxes.questions) == 2
    assert len(list(folder.glob("frame_*.png"))) == 3          # replaced by the new export
    assert "Wrote 3 PNG files" in player._status.text()
    view.close()


def _on_polyline(points, frames) -> np.ndarray:
    """(distance to the polyline, arc length along it) of each frame, degrees."""
    from gui.landscape.path_profile_view import position_on_path
    return np.array([position_on_path(points, f)[::-1] for f in frames])


def test_plays_the_designer_path_by_arc_length_and_follows_it(player, doc):
    from engine.landscape.path_profile import well_path_profile
    from gui.model.designer_path import DesignerPath

    assert player.designer_radio.text() == "Landscape tab's path (none)"
    prof = well_path_profile(doc.grid, 6, 7)
    doc.set_designer_path(DesignerPath(prof.points_deg, (6, 7), prof.visits))
    assert player.designer_radio.text() == "Landscape tab's path (wells 6 → 7)"
    player.set_speed(50.0)
    visited = []
    doc.sigConformationChanged.connect(lambda a, b: visited.append((a, b)))
    player.play_designer_path()
    assert player.source() == "designer" and player.is_playing()
    for _ in range(len(player.frames()) + 2):
        player.step()
    assert not player.is_playing()
    where = _on_polyline(prof.points_deg, visited)
    assert where[:, 0].max() < 1e-9                                  # every frame on the path
    np.testing.assert_allclose(np.diff(where[:-1, 1]), 50.0 / FRAMES_PER_SECOND, atol=1e-9)
    assert 0 < where[-1, 1] - where[-2, 1] <= 50.0 / FRAMES_PER_SECOND + 1e-9
    np.testing.assert_allclose(visited[0], prof.points_deg[0])
    np.testing.assert_allclose(doc.conformation, prof.points_deg[-1])     # ends at the last point
    assert where[-1, 1] == pytest.approx(prof.length_deg)
    # a new designer path is played next; none stops the player
    other = well_path_profile(doc.grid, 2, 3)
    doc.set_designer_path(DesignerPath(other.points_deg, (2, 3), other.visits))
    np.testing.assert_allclose(player.path(), other.points_deg)
    player.play()
    assert player.is_playing()
    doc.set_designer_path(None)
    assert not player.is_playing() and len(player.path()) == 0
    player.play()
    assert not player.is_playing() and "Landscape tab has no path" in player._status.text()


def test_play_path_walks_a_given_path_until_stopped(player, doc, qtbot):
    player.set_speed(40.0)
    player.play_path(PATH, "cryoDRGN: wells 1 → 2")
    assert player.given_radio.isVisibleTo(player) and player.given_radio.text() == "cryoDRGN: wells 1 → 2"
    assert player.source() == "given" and player.is_playing()
    np.testing.assert_allclose(doc.conformation, PATH[0])
    visited = []
    doc.sigConformationChanged.connect(lambda a, b: visited.append((a, b)))
    for _ in range(10):
        player.step()
    where = _on_polyline(PATH, visited)
    assert where[:, 0].max() < 1e-9
    np.testing.assert_allclose(where[:, 1], 40.0 / FRAMES_PER_SECOND * np.arange(1, 11), atol=1e-9)
    qtbot.mouseClick(player.stop_button, Qt.MouseButton.LeftButton)
    assert not player.is_playing()
    here = doc.conformation
    qtbot.wait(200)                             # five timer periods: nothing moves
    assert doc.conformation == here
    player.play()                               # after Stop it starts again at the beginning
    np.testing.assert_allclose(doc.conformation, PATH[0])
    player.set_speed(400.0)
    qtbot.waitUntil(lambda: not player.is_playing(), timeout=5000)   # the timer walks to the end
    np.testing.assert_allclose(doc.conformation, PATH[-1])
    with pytest.raises(ValueError, match="points_deg"):
        player.play_path([(0.0, 0.0)], "one point")
    with pytest.raises(ValueError, match="points_deg"):
        player.play_path([(0.0, 0.0), (np.nan, 1.0)], "bad")
    np.testing.assert_allclose(player.path(), PATH)        # a refused path changes nothing

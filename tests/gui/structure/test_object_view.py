"""The 3D view, rendered for real with OpenGL on the X server (Xvfb + Mesa in CI)."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from engine.structure.object_model import TwoBodyObject, build_ribosome_like
from engine.imaging.projector import TwoBodyProjector
from engine.structure.rotations import conformation_matrix, relion_matrix
from gui.structure.object_view import MAX_MESH_BOX, PLANE_DISTANCE, VispyObjectView, object_surfaces

BOX = 48
EULER = (40.0, 70.0, -25.0)


@pytest.fixture(scope="module")
def obj():
    return build_ribosome_like(box_size=BOX)


@pytest.fixture
def view(qtbot, obj):
    v = VispyObjectView(size=(360, 320))
    qtbot.addWidget(v.native)
    v.native.show()
    qtbot.waitExposed(v.native)
    v.set_object(obj)
    yield v
    v.close()


def _background_fraction(rgba: np.ndarray) -> float:
    return float(np.mean(np.all(rgba[..., :3] >= 250, axis=-1)))


def test_ssu_turns_about_the_pivot_and_lsu_stays(view, obj):
    lsu0, ssu0 = view.lsu_vertices_A(), view.ssu_vertices_A()
    assert len(lsu0) > 100 and len(ssu0) > 100
    view.set_conformation(15.0, 0.0)
    lsu1, ssu1 = view.lsu_vertices_A(), view.ssu_vertices_A()
    np.testing.assert_array_equal(lsu1, lsu0)
    moved = np.linalg.norm(ssu1 - ssu0, axis=1)
    assert moved.max() > 10.0                     # Angstrom: the SSU really moved
    # a rigid rotation about axis 1 through the pivot: distances to the pivot and the
    # coordinate along the axis are kept, and the pivot itself does not move
    p = obj.pivot_A
    np.testing.assert_allclose(np.linalg.norm(ssu1 - p, axis=1), np.linalg.norm(ssu0 - p, axis=1),
                               atol=1e-3)
    np.testing.assert_allclose((ssu1 - p) @ obj.axis1, (ssu0 - p) @ obj.axis1, atol=1e-3)
    np.testing.assert_allclose(view.pivot_A(), p, atol=1e-3)
    # exactly the model's motion x -> Rc (x - p) + p
    rc = conformation_matrix(obj.axis1, obj.axis2, 15.0, 0.0)[0]
    np.testing.assert_allclose(ssu1, (ssu0 - p) @ rc.T + p, atol=1e-3)


def test_cc2_turns_about_axis2(view, obj):
    ssu0 = view.ssu_vertices_A()
    view.set_conformation(0.0, -12.0)
    ssu1 = view.ssu_vertices_A()
    p = obj.pivot_A
    assert np.abs(ssu1 - ssu0).max() > 5.0
    np.testing.assert_allclose((ssu1 - p) @ obj.axis2, (ssu0 - p) @ obj.axis2, atol=1e-3)


def test_render_is_not_blank_and_changes_with_cc1(view, qtbot):
    view.set_projection_visible(False)
    first = view.render_image()
    assert first.shape[2] == 3 and first.dtype == np.uint8
    assert 0.05 < 1.0 - _background_fraction(first) < 0.9   # the object covers part of it
    assert first[..., :3].std() > 20
    view.set_conformation(20.0, 10.0)
    second = view.render_image()
    changed = np.any(np.abs(second.astype(int) - first.astype(int))[..., :3] > 30, axis=-1)
    assert changed.sum() > 200


def test_threshold_changes_the_meshes(view, obj):
    low = view.ssu_vertices_A()
    view.set_threshold(0.6)
    high = view.ssu_vertices_A()
    assert len(high) < len(low)
    # a higher level gives a surface inside the lower one: closer to the centre of mass
    centre = low.mean(axis=0)
    assert np.linalg.norm(high - centre, axis=1).max() < np.linalg.norm(low - centre, axis=1).max()
    with pytest.raises(ValueError, match="threshold"):
        view.set_threshold(1.5)


def test_look_along_beam_shows_the_image_geometry(view):
    """Along the beam, screen x = image x and screen y (down) = image y, same scale."""
    view.set_projection(EULER)
    view.look_along_beam()
    a = relion_matrix(*EULER)[0]
    points = np.random.default_rng(1).uniform(-60.0, 60.0, (30, 3))
    screen = view.world_to_canvas(points)
    image_xy = points @ a[:2].T
    fit = np.linalg.lstsq(np.c_[image_xy, np.ones(len(points))], screen, rcond=None)[0]
    scale = fit[:2]
    assert scale[0, 0] > 0 and scale[1, 1] > 0
    np.testing.assert_allclose(scale[0, 0], scale[1, 1], rtol=1e-4)
    assert abs(scale[0, 1]) < 1e-4 * scale[0, 0] and abs(scale[1, 0]) < 1e-4 * scale[0, 0]
    residual = screen - np.c_[image_xy, np.ones(len(points))] @ fit
    assert np.abs(residual).max() < 0.05


def test_view_along_beam_has_the_projection_silhouette(view, obj):
    """The rendered object seen along the beam covers the same pixels as its projection."""
    cc = (12.0, -6.0)
    image = TwoBodyProjector(obj).project(np.array([EULER]), np.array([cc]))[0]
    view.set_conformation(*cc)
    view.set_projection(EULER, image)
    view.set_projection_visible(False)
    view.look_along_beam()
    rgba = view.render_image()
    # canvas pixel of every image pixel centre (the plane z = 0 through the box centre)
    a = relion_matrix(*EULER)[0]
    jj, kk = np.mgrid[:BOX, :BOX]
    coords = ((kk.ravel() - BOX // 2)[:, None] * a[0] + (jj.ravel() - BOX // 2)[:, None] * a[1]) * obj.apix_A
    xy = np.rint(view.world_to_canvas(coords)).astype(int)
    covered = ~np.all(rgba[xy[:, 1], xy[:, 0], :3] >= 250, axis=-1)
    silhouette = covered.reshape(BOX, BOX)

    def iou(img):
        level = np.sort(img.ravel())[::-1][silhouette.sum()]   # same area as the silhouette
        mask = img > level
        return (mask & silhouette).sum() / (mask | silhouette).sum()

    assert iou(image) > 0.75
    assert iou(image) > iou(image[::-1]) + 0.1      # an upside-down image would not match
    assert iou(image) > iou(image[:, ::-1]) + 0.1


def test_projection_plane_turns_with_the_angles(view, obj):
    """A mark in the image's first rows and columns appears where pixel (row, col) belongs."""
    image = np.zeros((BOX, BOX), np.float32)
    image[2:9, 2:14] = 1.0                        # rows 2-8, columns 2-13: top-left corner
    view.set_projection(EULER, image)
    view.look_along_beam()
    rgba = view.render_image()
    a = relion_matrix(*EULER)[0]
    d = PLANE_DISTANCE * BOX * obj.apix_A

    def canvas_of(row, col):
        p = ((col - BOX // 2) * a[0] + (row - BOX // 2) * a[1]) * obj.apix_A + d * a[2]
        return np.rint(view.world_to_canvas(p[None])[0]).astype(int)

    def brightness(row, col):
        x, y = canvas_of(row, col)
        return rgba[y - 1:y + 2, x - 1:x + 2, :3].mean()

    mark = brightness(5, 8)
    assert mark > 200                              # the bright mark is where it should be
    for row, col in ((5, BOX - 9), (BOX - 6, 8), (BOX - 6, BOX - 9)):   # mirrored places
        assert brightness(row, col) < 100
    x0, y0 = canvas_of(5, 2)
    x1, y1 = canvas_of(5, 13)
    assert x1 > x0 and abs(y1 - y0) <= 1          # image x runs to the right on screen
    assert canvas_of(8, 8)[1] > canvas_of(2, 8)[1]  # image rows run down the screen


@pytest.mark.parametrize("box", [40, 170])   # 170 > MAX_MESH_BOX = 160: block-averaged
def test_mesh_sits_where_the_density_is(qtbot, box):
    """Voxel (i, j, k) is at ((k, j, i) - D//2) apix: a sphere of density centred at a known
    point in Angstrom gives a surface centred there with the right radius."""
    assert (box > MAX_MESH_BOX) == (box == 170)   # both code paths are exercised
    apix = 300.0 / box
    centre_lsu, centre_ssu, radius = np.array([-40.0, 25.0, 10.0]), np.array([35.0, -20.0, 50.0]), 45.0
    axis = (np.arange(box) - box // 2) * apix
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")

    def ball(c):
        r = np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2)
        return (1.0 / (1.0 + np.exp((r - radius) / (0.7 * apix)))).astype(np.float32)

    ssu = ball(centre_ssu)
    obj = TwoBodyObject(lsu=ball(centre_lsu), ssu=ssu, ssu_mask=(ssu > 0.5).astype(np.float32),
                        apix_A=apix, pivot_A=np.zeros(3), axis1=np.array([0.0, 1.0, 0.0]),
                        axis2=np.array([0.0, 0.0, 1.0]), name="balls")
    v = VispyObjectView(size=(200, 200))
    qtbot.addWidget(v.native)
    v.set_object(obj)
    v.set_threshold(0.5)
    for verts, c in ((v.lsu_vertices_A(), centre_lsu), (v.ssu_vertices_A(), centre_ssu)):
        # a fraction of a voxel: half a (block) voxel off would fail
        np.testing.assert_allclose(verts.mean(axis=0), c, atol=0.15 * apix)
        assert np.abs(np.linalg.norm(verts - c, axis=1) - radius).max() < 0.2 * apix
    v.close()


def _send_mouse(widget, kind, pos, buttons):
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    local = QPointF(*pos)
    event = QMouseEvent(kind, local, widget.mapToGlobal(local), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def test_mouse_drag_orbits_and_wheel_zooms(view, qtbot):
    """Real Qt mouse events on the canvas widget: a left drag turns the camera (azimuth
    and elevation), the wheel changes its zoom (scale_factor, the orthographic distance)."""
    cam = view._view.camera
    native = view.native
    w, h = native.width(), native.height()
    azimuth, elevation, scale = cam.azimuth, cam.elevation, cam.scale_factor
    held = Qt.MouseButton.LeftButton
    _send_mouse(native, QEvent.Type.MouseButtonPress, (w / 2, h / 2), held)
    for k in range(1, 7):
        _send_mouse(native, QEvent.Type.MouseMove, (w / 2 + 12 * k, h / 2 + 6 * k), held)
        qtbot.wait(5)
    _send_mouse(native, QEvent.Type.MouseButtonRelease, (w / 2 + 72, h / 2 + 36), Qt.MouseButton.NoButton)
    assert abs(cam.azimuth - azimuth) > 10.0          # horizontal drag: turned about z
    assert abs(cam.elevation - elevation) > 5.0       # vertical drag: tilted
    assert cam.scale_factor == pytest.approx(scale)   # an orbit does not zoom
    centre = QPointF(w / 2, h / 2)
    for delta in (120, 120):                          # two notches towards the user: zoom in
        wheel = QWheelEvent(centre, native.mapToGlobal(centre), QPoint(0, 0), QPoint(0, delta),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                            Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(native, wheel)
    assert cam.scale_factor < 0.9 * scale
    rendered = view.render_image()                    # the orbit shows in the picture
    assert rendered[..., :3].std() > 10


def test_surfaces_made_beforehand_are_used_as_they_are(qtbot, obj):
    """Meshes made off the GUI thread (object_surfaces) are shown without remeshing; ones
    made at another threshold are not."""
    made = object_surfaces(obj, 0.25)
    v = VispyObjectView(size=(200, 200))
    qtbot.addWidget(v.native)
    v.set_object(obj, made)
    np.testing.assert_array_equal(v.lsu_vertices_A(), made.lsu[0])
    np.testing.assert_array_equal(v.ssu_vertices_A(), made.ssu[0])
    v.set_object(obj, object_surfaces(obj, 0.6))          # stale threshold: remeshed at 0.25
    np.testing.assert_array_equal(v.lsu_vertices_A(), made.lsu[0])
    with pytest.raises(ValueError, match="threshold"):
        object_surfaces(obj, 0.0)
    v.close()

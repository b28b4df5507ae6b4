"""3D view of the two-body object: all vispy code of the Structure tab lives in this class.

The scene is in the map frame, in Angstrom, origin at the box centre (DESIGN.md section 2):
the LSU and SSU isosurfaces (two colours, one threshold), the pivot, the two rotation axes as
arrows, and the current projection: its beam direction as an arrow and its image on a plane
behind the object, so the user sees which view makes which image.

Conventions
- The SSU mesh is computed once per map and threshold; a conformation only changes the SSU
  node's transform, ``x -> Rc (x - p) + p`` with ``Rc = conformation_matrix(a1, a2, cc1, cc2)``.
- Projection ``(rot, tilt, psi)``: with RELION's matrix ``A``, image pixel ``(j, k)`` shows the
  line ``(k - D//2) apix * A[0] + (j - D//2) apix * A[1] + z * A[2]``. The beam travels along
  ``+A[2]``; the image plane stands behind the object at ``+A[2]`` with row 0 at the top when
  seen from the source, as the 2D preview and relion_display show it. ``look_along_beam()``
  turns the camera so the 3D view matches the 2D image exactly (orthographic camera).

Meshing is pure numpy (:func:`object_surfaces`), so a worker thread can make the meshes of a
new object while the old one stays on screen; ``set_object(obj, surfaces)`` then only uploads.

Example::

    view = VispyObjectView()
    view.set_object(build_ribosome_like(box_size=64))
    view.set_conformation(10.0, -5.0)
    view.set_projection((30.0, 60.0, 0.0), image)     # image (D, D) float, rows = y
    rgb = view.render_image()                         # (H, W, 3) uint8
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation
from vispy import scene
from vispy.geometry import create_sphere
from vispy.geometry.isosurface import isosurface
from vispy.scene.cameras import TurntableCamera
from vispy.visuals.transforms import MatrixTransform

from engine.structure.rotations import conformation_matrix, relion_matrix

LSU_COLOUR = (0.62, 0.70, 0.80, 1.0)
SSU_COLOUR = (0.93, 0.66, 0.25, 1.0)
AXIS1_COLOUR = (0.80, 0.15, 0.15, 1.0)
AXIS2_COLOUR = (0.10, 0.55, 0.20, 1.0)
PIVOT_COLOUR = (0.15, 0.15, 0.15, 1.0)
BEAM_COLOUR = (0.45, 0.20, 0.70, 1.0)
BACKGROUND = "#ffffff"
DEFAULT_THRESHOLD = 0.25
PLANE_OPACITY = 0.85
# Larger maps are block-averaged for the isosurfaces (speed; vispy's marching cubes is
# limited to boxes below 256).
MAX_MESH_BOX = 160
# Where the projection furniture stands, in box widths from the centre along the beam.
PLANE_DISTANCE = 0.56
BEAM_FROM, BEAM_TO = -0.92, -0.6
# vispy's shading filter needs at least one triangle; hidden meshes hold this one.
_EMPTY_MESH = (np.zeros((3, 3), np.float32), np.array([[0, 1, 2]], np.uint32))


def _arrow_mesh(start, end, radius: float, head_fraction: float = 0.22, sides: int = 16):
    """Vertices (N, 3) and faces (M, 3) of a closed arrow (cylinder shaft + cone head)."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    axis = end - start
    length = float(np.linalg.norm(axis))
    w = axis / length
    u = np.cross(w, [1.0, 0.0, 0.0] if abs(w[0]) < 0.9 else [0.0, 1.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(w, u)
    t = np.linspace(0.0, 2.0 * np.pi, sides, endpoint=False)
    ring = np.cos(t)[:, None] * u + np.sin(t)[:, None] * v
    neck = end - head_fraction * length * w
    verts = np.concatenate([
        start + radius * ring,            # 0..s-1   shaft bottom
        neck + radius * ring,             # s..2s-1  shaft top
        neck + 2.6 * radius * ring,       # 2s..3s-1 head rim
        [start, end],                     # 3s, 3s+1
    ])
    s = sides
    i = np.arange(s)
    j = (i + 1) % s
    faces = np.concatenate([
        np.stack([i, j, s + j], 1), np.stack([i, s + j, s + i], 1),          # shaft
        np.stack([np.full(s, 3 * s), j, i], 1),                              # bottom cap
        np.stack([2 * s + i, 2 * s + j, np.full(s, 3 * s + 1)], 1),          # cone
        np.stack([s + i, s + j, 2 * s + j], 1), np.stack([s + i, 2 * s + j, 2 * s + i], 1),  # collar
    ])
    return verts.astype(np.float32), faces.astype(np.uint32)


@dataclass(frozen=True, eq=False)
class ObjectSurfaces:
    """Isosurfaces of an object's LSU and SSU at ``threshold`` (fraction of the maximum
    density). lsu, ssu: (vertices (N, 3) float32 x, y, z Angstrom, faces (M, 3) uint32), or
    None when the density never reaches the level."""

    threshold: float
    lsu: tuple[np.ndarray, np.ndarray] | None
    ssu: tuple[np.ndarray, np.ndarray] | None


def density_surface(density: np.ndarray, level: float, apix_A: float):
    """Isosurface of a cubic (z, y, x) map as (vertices (x, y, z) in A, faces), or None.

    Maps larger than MAX_MESH_BOX are block-averaged by an integer factor f for display:
    block m covers voxels m f .. m f + f - 1, so its centre is voxel m f + (f - 1) / 2.
    Pure numpy: safe in a worker thread."""
    box = density.shape[0]
    f = -(-box // MAX_MESH_BOX)
    if f > 1:
        n = box // f
        density = density[:n * f, :n * f, :n * f].reshape(n, f, n, f, n, f).mean(axis=(1, 3, 5))
    if float(density.max()) <= level:
        return None
    # vispy's marching cubes overflows a uint8 index under numpy 2 harmlessly (it wraps
    # back for boxes up to 255); silence the warning rather than copy the algorithm.
    with np.errstate(over="ignore"):
        verts, faces = isosurface(density, level)
    voxel = verts[:, ::-1].astype(np.float32) * f + 0.5 * (f - 1)
    xyz = (voxel - box // 2) * np.float32(apix_A)
    return xyz, faces[:, ::-1].astype(np.uint32)   # reversing the axes mirrors: keep faces outward


def object_surfaces(obj, threshold: float = DEFAULT_THRESHOLD) -> ObjectSurfaces:
    """Both isosurfaces of a TwoBodyObject at ``threshold`` x max(LSU, SSU density)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold fraction must be in (0, 1) (got {threshold!r})")
    level = threshold * max(float(obj.lsu.max()), float(obj.ssu.max()))
    return ObjectSurfaces(float(threshold), density_surface(obj.lsu, level, obj.apix_A),
                          density_surface(obj.ssu, level, obj.apix_A))


def _affine(linear: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """vispy's 4x4 matrix for x -> linear @ x + offset (vispy multiplies row vectors)."""
    m = np.eye(4)
    m[:3, :3] = np.asarray(linear, float).T
    m[3, :3] = offset
    return m


class VispyObjectView:
    """A SceneCanvas showing one TwoBodyObject; embed ``view.native`` in a Qt layout."""

    def __init__(self, parent=None, size: tuple[int, int] = (640, 560)):
        self.canvas = scene.SceneCanvas(keys=None, size=size, bgcolor=BACKGROUND, parent=parent,
                                        show=False)
        self._view = self.canvas.central_widget.add_view()
        self._view.camera = TurntableCamera(fov=0.0, elevation=20.0, azimuth=-130.0, up="+z")
        self._obj = None
        self._threshold = DEFAULT_THRESHOLD
        self._cc = (0.0, 0.0)
        self._euler = (0.0, 0.0, 0.0)
        self._axis_tips = [np.zeros(3), np.zeros(3)]
        self._beam_label_pos = self._plane_label_pos = None
        self._lsu = self._make_mesh(LSU_COLOUR)
        self._ssu = self._make_mesh(SSU_COLOUR)
        self._ssu.transform = MatrixTransform()
        self._pivot = self._make_mesh(PIVOT_COLOUR, shininess=40)
        self._pivot.set_gl_state(depth_test=False)    # the pivot is inside the density: show it
        self._pivot.order = 5
        self._axis1 = self._make_mesh(AXIS1_COLOUR)
        self._axis2 = self._make_mesh(AXIS2_COLOUR)
        self._beam = self._make_mesh(BEAM_COLOUR)
        self._labels = scene.visuals.Text(text=[""], pos=np.zeros((1, 3)), font_size=10, bold=True,
                                          color=[AXIS1_COLOUR], anchor_x="center", anchor_y="center",
                                          parent=self._view.scene)
        self._labels.set_gl_state(depth_test=False)   # labels stay readable over the meshes
        self._labels.order = 10                       # ... and are drawn last
        self._plane = scene.visuals.Image(np.zeros((2, 2), np.float32), cmap="grays",
                                          clim=(0.0, 1.0), method="subdivide",
                                          parent=self._view.scene)
        self._plane.opacity = PLANE_OPACITY
        self._plane.set_gl_state("translucent", depth_test=True)
        self._plane.transform = MatrixTransform()
        self._frame = scene.visuals.Line(pos=np.zeros((5, 3)), color=BEAM_COLOUR, width=2.0,
                                         parent=self._view.scene)
        self._view.camera.transform.changed.connect(self._on_camera_moved)
        self._on_camera_moved()

    # --- public API ---------------------------------------------------------------------
    @property
    def native(self):
        """The Qt widget to put in a layout."""
        return self.canvas.native

    @property
    def threshold(self) -> float:
        """Isosurface level as a fraction of the object's maximum density."""
        return self._threshold

    def set_object(self, obj, surfaces: ObjectSurfaces | None = None) -> None:
        """Show a TwoBodyObject: isosurfaces, markers, and fit the camera. ``surfaces`` made
        beforehand (:func:`object_surfaces`, e.g. in a worker) are used when they are at the
        current threshold; otherwise the meshes are made here."""
        self._obj = obj
        self._rebuild_surfaces(surfaces)
        self._rebuild_markers()
        self.set_conformation(*self._cc)
        self._place_projection()
        radius = 0.5 * obj.box_size * obj.apix_A
        self._view.camera.set_range(x=(-radius, radius), y=(-radius, radius), z=(-radius, radius))
        # the smaller side of the view spans +-0.95 box: plane corners and beam stay in view
        self._view.camera.scale_factor = 3.8 * radius
        self.canvas.update()

    def set_threshold(self, fraction: float) -> None:
        """Isosurface level = ``fraction`` x max(LSU, SSU density); recomputes the meshes."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"threshold fraction must be in (0, 1) (got {fraction!r})")
        self._threshold = float(fraction)
        if self._obj is not None:
            self._rebuild_surfaces()
            self.canvas.update()

    def set_conformation(self, cc1_deg: float, cc2_deg: float) -> None:
        """Move the SSU to (cc1, cc2) degrees by its node transform (no remeshing)."""
        self._cc = (float(cc1_deg), float(cc2_deg))
        if self._obj is None:
            return
        rc = conformation_matrix(self._obj.axis1, self._obj.axis2, self._cc[0], self._cc[1])[0]
        pivot = np.asarray(self._obj.pivot_A, float)
        # in place: a new transform object would rebuild the shader program
        self._ssu.transform.matrix = _affine(rc, pivot - rc @ pivot)
        self.canvas.update()

    def set_projection(self, euler_deg, image: np.ndarray | None = None) -> None:
        """Turn the beam arrow and image plane to RELION angles (rot, tilt, psi) in degrees;
        ``image`` (D, D), rows = y, is shown on the plane (grey levels from its 0.5-99.5 %
        range, as in the 2D preview)."""
        self._euler = tuple(float(a) for a in euler_deg)
        if image is not None:
            img = np.asarray(image, np.float32)
            lo, hi = np.percentile(img, [0.5, 99.5])
            self._plane.set_data((img - lo) / (hi - lo if hi > lo else 1.0))
        self._place_projection()
        self.canvas.update()

    @property
    def projection_euler(self) -> tuple[float, float, float]:
        """RELION angles (rot, tilt, psi) in degrees of the projection shown."""
        return self._euler

    def set_projection_visible(self, visible: bool) -> None:
        """Show or hide the beam arrow, the image plane and its frame."""
        for node in (self._plane, self._frame, self._beam):
            node.visible = bool(visible)
        if self._obj is not None:
            self._update_labels()
        self.canvas.update()

    def look_along_beam(self) -> None:
        """Camera looks along the beam (+A[2]) with image y pointing down the screen."""
        a = relion_matrix(*self._euler)[0]
        # Camera rotation, row-vector form: rows are the world images of the camera's right,
        # forward and up vectors. vispy builds it as (Ry(roll) Rz(azim) Rx(-elev))^T.
        target = np.stack([a[0], a[2], -a[1]]).T
        roll, azim, minus_elev = Rotation.from_matrix(target).as_euler("YZX", degrees=True)
        elev = -minus_elev
        if abs(elev) > 90.0:   # turntable clamps elevation: use the equivalent triple
            roll, azim, elev = roll + 180.0, 180.0 - azim, (elev + 360.0) % 360.0 - 180.0
        cam = self._view.camera
        cam.roll, cam.azimuth, cam.elevation = roll, azim, elev
        cam.center = (0.0, 0.0, 0.0)

    def world_to_canvas(self, points_A: np.ndarray) -> np.ndarray:
        """Canvas pixel positions (N, 2) (x right, y down) of scene points (N, 3) in A."""
        tr = self._view.scene.node_transform(self.canvas.scene)
        mapped = tr.map(np.asarray(points_A, float))
        return mapped[:, :2] / mapped[:, 3:4]

    def render_image(self) -> np.ndarray:
        """The current view rendered off-screen, (H, W, 3) uint8 RGB."""
        return self.canvas.render(alpha=False)

    def lsu_vertices_A(self) -> np.ndarray:
        """LSU isosurface vertices (N, 3) in A, as drawn."""
        return self._lsu.transform.map(self._vertices(self._lsu))[:, :3]

    def ssu_vertices_A(self) -> np.ndarray:
        """SSU isosurface vertices (N, 3) in A after the conformation transform, as drawn."""
        return self._ssu.transform.map(self._vertices(self._ssu))[:, :3]

    def pivot_A(self) -> np.ndarray:
        """Centre of the drawn pivot marker (3,) in A."""
        return self._pivot.transform.map(self._vertices(self._pivot))[:, :3].mean(axis=0)

    def close(self) -> None:
        """Disconnect from the camera and close the GL canvas."""
        self._view.camera.transform.changed.disconnect(self._on_camera_moved)
        self.canvas.close()

    # --- scene building -----------------------------------------------------------------
    def _make_mesh(self, colour, shininess: float = 60.0):
        mesh = scene.visuals.Mesh(*_EMPTY_MESH, color=colour, shading="smooth",
                                  parent=self._view.scene)
        mesh.shading_filter.shininess = shininess
        mesh.shading_filter.specular_coefficient = (1, 1, 1, 0.25)
        mesh.shading_filter.ambient_light = (1, 1, 1, 0.35)
        return mesh

    @staticmethod
    def _vertices(mesh) -> np.ndarray:
        if not mesh.visible:
            return np.zeros((0, 3), np.float32)
        return mesh.mesh_data.get_vertices()

    def _rebuild_surfaces(self, surfaces: ObjectSurfaces | None = None) -> None:
        if surfaces is None or surfaces.threshold != self._threshold:
            surfaces = object_surfaces(self._obj, self._threshold)
        for mesh, surface in ((self._lsu, surfaces.lsu), (self._ssu, surfaces.ssu)):
            mesh.visible = surface is not None
            mesh.set_data(*(surface if mesh.visible else _EMPTY_MESH))

    def _rebuild_markers(self) -> None:
        obj = self._obj
        pivot = np.asarray(obj.pivot_A, float)
        size = obj.mask_diameter_A
        sphere = create_sphere(rows=12, cols=16, radius=0.03 * size)
        self._pivot.set_data(vertices=sphere.get_vertices() + pivot, faces=sphere.get_faces())
        tips = []
        for mesh, axis in ((self._axis1, obj.axis1), (self._axis2, obj.axis2)):
            axis = np.asarray(axis, float)
            start, end = pivot - 0.45 * size * axis, pivot + 0.65 * size * axis
            mesh.set_data(*_arrow_mesh(start, end, radius=0.008 * size))
            tips.append(end + 0.09 * size * axis)
        self._axis_tips = tips
        self._update_labels()

    def _place_projection(self) -> None:
        if self._obj is None:
            return
        obj = self._obj
        a = relion_matrix(*self._euler)[0]
        ex, ey, beam = a[0], a[1], a[2]
        box = obj.box_size * obj.apix_A
        distance = PLANE_DISTANCE * box
        apix, half = obj.apix_A, obj.box_size // 2
        # Image visual: pixel (row j, col k) covers [k, k+1] x [j, j+1]; its centre must land
        # on (k - D//2) apix ex + (j - D//2) apix ey + distance * beam.
        m = np.eye(4)
        m[0, :3], m[1, :3], m[2, :3] = apix * ex, apix * ey, beam
        m[3, :3] = -(half + 0.5) * apix * (ex + ey) + distance * beam
        self._plane.transform.matrix = m
        corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]], float) * obj.box_size
        self._frame_corners = self._plane.transform.map(np.c_[corners, np.zeros(5)])[:, :3]
        self._frame.set_data(pos=self._frame_corners)
        self._beam.set_data(*_arrow_mesh(BEAM_FROM * box * beam, BEAM_TO * box * beam,
                                         radius=0.012 * box))
        self._beam_label_pos = (BEAM_FROM - 0.06) * box * beam
        # label above the plane's highest corner (z is up for the turntable camera)
        top = self._frame_corners[np.argmax(self._frame_corners[:, 2])]
        self._plane_label_pos = top + np.array([0.0, 0.0, 0.06 * box])
        self._update_labels()

    def _update_labels(self) -> None:
        text, pos, colour = ["a1 (cc1)", "a2 (cc2)"], list(self._axis_tips), [AXIS1_COLOUR, AXIS2_COLOUR]
        if self._beam.visible and self._beam_label_pos is not None:
            text.append("projection image")
            pos.append(self._plane_label_pos)
            colour.append(BEAM_COLOUR)
            if not self._looking_along_beam():   # seen end-on the label would cover the object
                text.append("beam")
                pos.append(self._beam_label_pos)
                colour.append(BEAM_COLOUR)
        self._labels.text = text
        self._labels.pos = np.array(pos)
        self._labels.color = np.array(colour)

    def _looking_along_beam(self) -> bool:
        view_dir = self._view.camera.transform.map([0.0, 0.0, -1.0, 0.0])[:3]
        beam = relion_matrix(*self._euler)[0][2]
        return abs(float(view_dir @ beam)) > 0.97 * float(np.linalg.norm(view_dir))

    def _on_camera_moved(self, event=None) -> None:
        if self._obj is not None:
            self._update_labels()
        # Light comes from over the viewer's left shoulder, whatever the orbit.
        direction = self._view.camera.transform.map([0.35, -0.45, -1.0, 0.0])[:3]
        for mesh in (self._lsu, self._ssu, self._pivot, self._axis1, self._axis2, self._beam):
            mesh.shading_filter.light_dir = direction

"""The document's current two-body object: what the Structure tab shows and the simulation plan
images (DESIGN.md section 2).

:class:`CurrentObject` says where the object comes from: the built-in ribosome-like object
(its seed), user maps (the :class:`MapsRequest` of the Load maps dialog, with the box-centred
pivot and unit axes they were loaded with), or an object handed over in memory (which names no
files, so no plan can image it). The document holds one (``LandscapeDocument.current_object``,
``sigObjectChanged``); the Structure tab and the Simulation tab both read and change it there.
The box a view builds or crops the object at is the view's business, not the document's.

Example::

    doc.set_current_object(CurrentObject.builtin(seed=3))   # one undo step
    doc.current_object.spec()        # ObjectSpec(kind="ribosome-like", seed=3)
    request = MapsRequest(KIND_MAPS, "lsu.mrc", "ssu.mrc", pivot_A=(0.0, 0.0, 10.0))
    loaded = request.load(max_box=None)                       # TwoBodyObject, full size
    doc.set_current_object(CurrentObject.from_loaded_maps(request, loaded))
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.simulation.plan import ObjectSpec
from engine.structure.maps import PIVOT_FRAME_BOX, PIVOT_FRAME_MAP, object_from_map_and_mask, object_from_maps
from engine.structure.object_model import TwoBodyObject

#: Larger maps are Fourier-cropped to this box for the preview and the 3D view: the
#: projector of a 256 box already holds two padded 512^3 transforms (~1 GB).
MAX_PREVIEW_BOX = 256
KIND_MAPS, KIND_MASK = "lsu+ssu", "map+mask"
_SPEC_KINDS = {KIND_MAPS: "two-maps", KIND_MASK: "map-and-mask"}


@dataclass(frozen=True)
class MapsRequest:
    """What the Load maps dialog asks for: two files, pivot (x, y, z) in Angstrom in
    ``pivot_frame`` (engine.structure.maps: PIVOT_FRAME_BOX, box-centred as in RELION, or
    PIVOT_FRAME_MAP, the map's own frame as in ChimeraX), and the two rotation axes (x, y, z)
    (any length; normalised by the engine). ``kind`` is KIND_MAPS (LSU map, SSU map) or
    KIND_MASK (full map, SSU mask)."""

    kind: str
    first_path: str
    second_path: str
    pivot_A: tuple[float, float, float] = (0.0, 0.0, 0.0)
    axis1: tuple[float, float, float] = (0.0, 1.0, 0.0)
    axis2: tuple[float, float, float] = (0.0, 0.0, 1.0)
    pivot_frame: str = PIVOT_FRAME_BOX

    def __post_init__(self):
        if self.kind not in (KIND_MAPS, KIND_MASK):
            raise ValueError(f"kind: must be {KIND_MAPS!r} or {KIND_MASK!r} (got {self.kind!r})")
        if self.pivot_frame not in (PIVOT_FRAME_BOX, PIVOT_FRAME_MAP):
            raise ValueError(f"pivot_frame: must be {PIVOT_FRAME_BOX!r} or {PIVOT_FRAME_MAP!r} "
                             f"(got {self.pivot_frame!r})")

    def load(self, max_box: int | None = MAX_PREVIEW_BOX) -> TwoBodyObject:
        """The TwoBodyObject (engine.structure.maps), Fourier-cropped to ``max_box``; raises
        MapFileError / ValueError with the reason."""
        build = object_from_maps if self.kind == KIND_MAPS else object_from_map_and_mask
        return build(self.first_path, self.second_path, self.pivot_A, self.axis1, self.axis2,
                     pivot_frame=self.pivot_frame, max_box=max_box)

    @property
    def file_names(self) -> str:
        """"lsu.mrc + ssu.mrc": the two files' names, for labels and undo texts."""
        return f"{Path(self.first_path).name} + {Path(self.second_path).name}"


def _vector(values) -> tuple[float, float, float]:
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class CurrentObject:
    """Where the current object comes from (see the module docstring); build one with
    :meth:`builtin`, :meth:`from_loaded_maps`, :meth:`from_spec` or :meth:`given`.

    seed: the built-in object's seed (used when ``maps`` and ``obj`` are None).
    maps: the user maps, with ``pivot_A`` (x, y, z Angstrom from the box centre, whatever
        frame the user typed it in) and unit ``axis1``, ``axis2`` (x, y, z) they were loaded with.
    obj: an object handed over in memory (compared by identity).
    """

    seed: int = 0
    maps: MapsRequest | None = None
    pivot_A: tuple[float, float, float] | None = None
    axis1: tuple[float, float, float] | None = None
    axis2: tuple[float, float, float] | None = None
    obj: TwoBodyObject | None = None

    @classmethod
    def builtin(cls, seed: int = 0) -> CurrentObject:
        return cls(seed=seed)

    @classmethod
    def from_loaded_maps(cls, request: MapsRequest, loaded: TwoBodyObject) -> CurrentObject:
        """User maps: the files of ``request``, the pivot and axes of ``loaded`` (the object
        read from them: box-centred pivot, normalised axes; cropping keeps both)."""
        return cls(maps=request, pivot_A=_vector(loaded.pivot_A), axis1=_vector(loaded.axis1),
                   axis2=_vector(loaded.axis2))

    @classmethod
    def from_spec(cls, spec: ObjectSpec) -> CurrentObject:
        """The object a plan's engine.simulation.plan.ObjectSpec describes."""
        if spec.kind == "ribosome-like":
            return cls.builtin(spec.seed)
        kind = KIND_MAPS if spec.kind == "two-maps" else KIND_MASK
        first, second = spec.map_paths
        request = MapsRequest(kind, first, second, spec.pivot_A, spec.axis1, spec.axis2, PIVOT_FRAME_BOX)
        return cls(maps=request, pivot_A=spec.pivot_A, axis1=spec.axis1, axis2=spec.axis2)

    @classmethod
    def given(cls, obj: TwoBodyObject) -> CurrentObject:
        return cls(obj=obj)

    @property
    def is_builtin(self) -> bool:
        return self.maps is None and self.obj is None

    @property
    def description(self) -> str:
        """What it is, in a few words (labels, undo texts)."""
        if self.obj is not None:
            return self.obj.name
        if self.maps is not None:
            return ("maps " if self.maps.kind == KIND_MAPS else "map + mask ") + self.maps.file_names
        return f"the built-in object (seed {self.seed})"

    def spec(self) -> ObjectSpec | None:
        """The plan's ObjectSpec for this object, the map paths made absolute (None for an
        object in memory); raises engine.simulation.plan.PlanError when the maps' pivot or
        axes cannot be simulated."""
        if self.obj is not None:
            return None
        if self.maps is None:
            return ObjectSpec(seed=self.seed)
        first, second = (str(Path(p).resolve()) for p in (self.maps.first_path, self.maps.second_path))
        files = (dict(lsu_map=first, ssu_map=second) if self.maps.kind == KIND_MAPS
                 else dict(full_map=first, ssu_mask=second))
        return ObjectSpec(kind=_SPEC_KINDS[self.maps.kind], pivot_A=self.pivot_A, axis1=self.axis1,
                          axis2=self.axis2, **files)

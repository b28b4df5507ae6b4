"""Getting a two-body object ready for the screen, off the GUI thread: build it or read its
maps, measure it, build its projector (the padded 3D FFTs) and mesh its isosurfaces.

:func:`prepare_object` is a job for the job runner (gui.widgets.jobs); the Structure tab runs
it and puts the :class:`PreparedObject` on screen when it arrives.

Example::

    runner.start(prepare_object, lambda: build_ribosome_like(box_size=64), "building", 0.2)
    # sigFinished(PreparedObject) or, when cancelled between steps, sigCancelled(None)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from engine.imaging.projector import TwoBodyProjector
from engine.structure.object_model import TwoBodyObject
from gui.structure.object_view import ObjectSurfaces, object_surfaces


@dataclass(frozen=True, eq=False)
class PreparedObject:
    """What a preparation job hands to the GUI thread: the object to show, its projector and
    isosurfaces, and a note for the user ("" or why the maps were cropped)."""

    obj: TwoBodyObject
    projector: TwoBodyProjector
    surfaces: ObjectSurfaces
    note: str = ""


def prepare_object(make: Callable[[], TwoBodyObject], what: str, threshold: float, note: str = "",
                   *, progress, should_stop, log) -> PreparedObject | None:
    """Job (gui.widgets.jobs): ``make()`` the object (build it or read the maps), measure it, build
    its projector and mesh it at ``threshold``. progress((step, steps, text)); returns None
    when stopped between steps."""
    steps = ((what, make),
             ("measuring the object", lambda o: (o.mask_diameter_A, o.extent_A)),
             ("preparing the projector (padded 3D FFTs)", TwoBodyProjector),
             ("meshing the isosurfaces", lambda o: object_surfaces(o, threshold)))
    results = []
    for k, (text, step) in enumerate(steps):
        if should_stop():
            return None
        progress((k, len(steps), text))
        results.append(step() if k == 0 else step(results[0]))
    if note:
        log(note)
    return PreparedObject(results[0], results[2], results[3], note)

"""The object the "Simulation" tab's plan images: the document's current object
(gui.model.object_state.CurrentObject), the one the Structure tab shows.

``PlanObjectMixin`` is mixed into gui.simulation.simulation_panel.SimulationPanel and uses its
``doc``, ``_base_plan``, ``_object_source``, ``box_spin``, ``apix_spin``, ``object_label``,
``_update_object_label()``, ``_update_estimate()`` (gui.simulation.plan_form) and
``_append_log(str)``. When the document's object changes (``sigObjectChanged``) the plan's
object follows it: the built-in object's seed, or the user maps at full size (the Structure
tab's preview may be cropped), with the box from the map header and the pixel size "auto".
An object handed to the Structure tab in memory names no files: the plan keeps its object.
The other way round, :meth:`PlanObjectMixin.set_object_spec` (a loaded plan's object) changes
the document's object, so the Structure tab shows what the plan images.

Example::

    panel = SimulationPanel(doc)                    # a PlanObjectMixin
    doc.set_current_object(CurrentObject.builtin(seed=3))
    panel.plan().object.seed                        # 3
    panel.set_object_spec(ObjectSpec(seed=5))       # doc.current_object.seed == 5
"""
from __future__ import annotations

from dataclasses import replace

from engine.simulation.plan import ObjectSpec, PlanError
from gui.model.object_state import CurrentObject


class PlanObjectMixin:
    """Keeps the plan's object and the document's in step (see the module docstring)."""

    def set_object_spec(self, spec: ObjectSpec) -> None:
        """Simulate ``spec`` (engine.simulation.plan.ObjectSpec) from now on: it becomes the
        document's object (one undo step, none when it already is) and the plan follows."""
        try:
            same = self.doc.current_object.spec() == spec
        except (PlanError, ValueError):
            same = False
        if not same:
            self.doc.set_current_object(CurrentObject.from_spec(spec))

    def _on_document_object(self, current: CurrentObject) -> None:
        """The document's object is now ``current``: make it the plan's, the other fields stay.
        For user maps the box and pixel size follow the map files (box from the header,
        pixel size "auto")."""
        try:
            spec = current.spec()
        except (PlanError, ValueError) as exc:
            self._append_log(f"error: the maps loaded in the Structure tab cannot be simulated: {exc}")
            return
        if spec is None:
            self._append_log(f"the Structure tab shows {current.description!r}, which names no map files; "
                             f"the plan keeps its object ({self.object_label.text()})")
            return
        if spec == self._base_plan.object:
            return
        self._base_plan = replace(self._base_plan, object=spec)
        if spec.kind == "ribosome-like":
            self._object_source = "as in the Structure tab"
        else:
            from engine.structure.maps import MapFileError, map_frame

            self._object_source = "loaded in the Structure tab"
            try:
                self.box_spin.setValue(map_frame(spec.map_paths[0]).box_size)
            except MapFileError as exc:
                self._append_log(f"warning: {exc}")
            self.apix_spin.setValue(0.0)
            self._append_log(f"object: {', '.join(spec.map_paths)} (loaded in the Structure tab)")
        self._update_object_label()
        self._update_estimate()

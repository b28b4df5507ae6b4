"""The object the "Simulation" tab simulates: set directly (an engine.simulation.plan.ObjectSpec, or
the maps of a gui.structure.load_maps_dialog.MapsRequest), or following the Structure tab.

``StructureFollowMixin`` is mixed into gui.simulation.simulation_panel.SimulationPanel and uses its
``_base_plan``, ``_object_source``, ``_structure_tab``, ``box_spin``, ``apix_spin``,
``object_label``, ``_update_object_label()``, ``_update_estimate()`` (gui.simulation.plan_form) and
``_append_log(str)``.

Example::

    panel = SimulationPanel(doc)        # a StructureFollowMixin
    panel.follow_structure_tab(structure_tab)
    panel.set_object_spec(ObjectSpec(seed=3), "chosen by hand")
"""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from engine.simulation.plan import ObjectSpec, PlanError


class StructureFollowMixin:
    """Sets the plan's object, directly or from the Structure tab (see the module docstring)."""

    def set_object_spec(self, spec: ObjectSpec, source: str = "") -> None:
        """Simulate ``spec`` (engine.simulation.plan.ObjectSpec) from now on; the other fields stay.
        For user maps the box and pixel size follow the map files (box from the header, pixel
        size "auto"). ``source``: shown after the Object label, e.g. "loaded in the Structure tab"."""
        self._base_plan = replace(self._base_plan, object=spec)
        self._object_source = source
        if spec.kind != "ribosome-like":
            from engine.structure.maps import MapFileError, map_frame

            try:
                self.box_spin.setValue(map_frame(spec.map_paths[0]).box_size)
            except MapFileError as exc:
                self._append_log(f"warning: {exc}")
            self.apix_spin.setValue(0.0)
        self._update_object_label()
        self._update_estimate()

    def set_user_maps(self, request, obj=None) -> ObjectSpec:
        """Simulate the maps of ``request`` (gui.structure.load_maps_dialog.MapsRequest: kind, first_path,
        second_path, pivot and axes). ``obj``: the TwoBodyObject loaded from it; its pivot
        (Angstrom from the box centre, whatever frame the user typed it in) and normalised axes
        are used. Without ``obj`` the request's pivot must be box-centred. Returns the spec."""
        from engine.structure.maps import PIVOT_FRAME_BOX
        from gui.structure.load_maps_dialog import KIND_MAPS

        if obj is None and request.pivot_frame != PIVOT_FRAME_BOX:
            raise ValueError("pivot_frame: a pivot in the map's frame needs the loaded object (obj)")
        pivot = tuple(map(float, obj.pivot_A if obj is not None else request.pivot_A))
        axis1 = tuple(map(float, obj.axis1 if obj is not None else request.axis1))
        axis2 = tuple(map(float, obj.axis2 if obj is not None else request.axis2))
        paths = [str(Path(request.first_path).resolve()), str(Path(request.second_path).resolve())]
        if request.kind == KIND_MAPS:
            spec = ObjectSpec(kind="two-maps", lsu_map=paths[0], ssu_map=paths[1], pivot_A=pivot, axis1=axis1, axis2=axis2)
        else:
            spec = ObjectSpec(kind="map-and-mask", full_map=paths[0], ssu_mask=paths[1], pivot_A=pivot, axis1=axis1,
                              axis2=axis2)
        self.set_object_spec(spec, "loaded in the Structure tab")
        return spec

    def follow_structure_tab(self, tab) -> None:
        """Keep the plan's object in step with ``tab`` (gui.structure.structure_tab.StructureTab): on its
        sigObjectChanged, maps loaded there (``tab.maps_request``) become the plan's object (at
        full size: the tab's preview may be cropped) and its built-in object the built-in spec."""
        self._structure_tab = tab
        tab.sigObjectChanged.connect(self.on_structure_object)

    def on_structure_object(self, obj) -> None:
        """The Structure tab shows ``obj`` (engine.structure.object_model.TwoBodyObject): follow it."""
        builtin = re.fullmatch(r"ribosome-like \(seed (\d+)\)", obj.name)
        request = getattr(self._structure_tab, "maps_request", None)
        if builtin:
            self.set_object_spec(ObjectSpec(seed=int(builtin.group(1))), "as in the Structure tab")
        elif request is not None:
            try:
                spec = self.set_user_maps(request, obj)
            except (PlanError, ValueError) as exc:
                self._append_log(f"error: the maps loaded in the Structure tab cannot be simulated: {exc}")
                return
            self._append_log(f"object: {', '.join(spec.map_paths)} (loaded in the Structure tab)")
        else:
            self._append_log(f"the Structure tab shows {obj.name!r}, which names no map files; the plan keeps "
                             f"its object ({self.object_label.text()})")

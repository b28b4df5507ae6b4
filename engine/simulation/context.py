"""What a process needs to make a plan's images, built once per process and plan.

A :class:`SimulationContext` holds the plan, its box and pixel size, the landscape's sampling
grid (with its basins), the optics, the orientations of a STAR file (if the plan draws from
one), and, built on first use because they are the expensive part, the object and its
projector. :func:`get_context` keeps the context of the latest plan, keyed by the plan's
content (``SimulationPlan.content_key``, serialised once per plan); chunk tasks carry that key
and :func:`context_for_key` rebuilds the plan from it only when the process has no context
for it yet, so a worker parses a plan once, not once per chunk.

Example::

    ctx = get_context(plan)
    ctx.projector.project(euler_deg, cc_deg)          # (B, D, D) float32
    ctx is context_for_key(plan.content_key)          # True: the same process, the same plan
"""
from __future__ import annotations

import json
import threading

from engine.formats.star import StarFileError, read_star_angles
from engine.imaging.ctf import CTFParams
from engine.imaging.noise import particle_mask_radius_px
from engine.simulation.objects import build_object
from engine.simulation.plan import PlanError, SimulationPlan, plan_from_dict


class SimulationContext:
    """The plan's box (pixels), pixel size (Angstrom), sampling grid, optics and STAR angles;
    its object and projector on first use. ``projector``: one already built for the plan's
    object (the GUI's preview has one), used instead of building the object again."""

    def __init__(self, plan: SimulationPlan, projector=None):
        self.plan = plan
        self.box_size = plan.effective_box_size()
        self.apix_A = plan.effective_apix_A()
        self.grid = plan.landscape.sampling_grid()
        _ = self.grid.basins  # labels are needed for every chunk
        self.optics = CTFParams(plan.voltage_kV, plan.cs_mm, plan.amplitude_contrast, plan.bfactor_A2)
        self.star_angles = None
        if plan.orientations == "star":
            try:
                self.star_angles = read_star_angles(plan.orientations_star)
            except StarFileError as exc:
                raise PlanError("orientations_star", str(exc)) from None
        if projector is not None and projector.box_size != self.box_size:
            raise ValueError(f"projector: box {projector.box_size}, but the plan's box is {self.box_size}")
        self._object = None if projector is None else projector.obj
        self._projector = projector
        self._lock = threading.Lock()

    @property
    def object(self):
        with self._lock:
            if self._object is None:
                self._object = build_object(self.plan)
            return self._object

    @property
    def projector(self):
        obj = self.object
        with self._lock:
            if self._projector is None:
                from engine.imaging.projector import TwoBodyProjector

                self._projector = TwoBodyProjector(obj)
            return self._projector

    @property
    def mask_radius_px(self) -> float:
        """Radius of the SNR disk in pixels (engine.imaging.noise.particle_mask_radius_px)."""
        return particle_mask_radius_px(self.object.diameter_A, self.apix_A, self.box_size)


_CONTEXTS: dict[str, SimulationContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def get_context(plan: SimulationPlan) -> SimulationContext:
    """The process's context for ``plan`` (built once; only the latest plan is kept)."""
    return _cached_context(plan.content_key, lambda: plan)


def context_for_key(key: str) -> SimulationContext:
    """The process's context for the plan whose ``content_key`` is ``key`` (what chunk tasks
    carry); the plan is parsed from the key only when the process has no context for it."""
    return _cached_context(key, lambda: plan_from_dict(json.loads(key), "<plan>"))


def _cached_context(key: str, make_plan) -> SimulationContext:
    with _CONTEXTS_LOCK:
        ctx = _CONTEXTS.get(key)
        if ctx is None:
            _CONTEXTS.clear()
            ctx = _CONTEXTS[key] = SimulationContext(make_plan())
        return ctx

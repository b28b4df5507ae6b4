"""The per-process simulation context: built once per plan, found again from a chunk task's key."""
import json

import pytest

import engine.simulation.context as context
from engine.landscape.presets import load_preset
from engine.simulation.plan import PlanError, SimulationPlan


def small_plan(**kw):
    return SimulationPlan(landscape=load_preset("paper-3x4"), **{**dict(n_particles=50, box_size=32), **kw})


def test_a_task_key_finds_the_context_without_parsing_the_plan_again(monkeypatch):
    plan = small_plan(seed=11)
    ctx = context.get_context(plan)
    monkeypatch.setattr(context, "plan_from_dict", lambda *a: pytest.fail("parsed again"))
    assert context.context_for_key(plan.content_key) is ctx
    assert context.get_context(plan) is ctx


def test_a_new_key_is_parsed_once_and_replaces_the_old_context():
    plan = small_plan(seed=12)
    ctx = context.context_for_key(plan.content_key)
    assert ctx.plan == plan and context.context_for_key(plan.content_key) is ctx
    assert context.get_context(small_plan(seed=13)) is not ctx
    assert json.loads(plan.content_key)["seed"] == 12


def test_a_given_projector_is_used_and_must_fit_the_plan():
    from engine.imaging.projector import TwoBodyProjector
    from engine.structure.object_model import build_ribosome_like

    projector = TwoBodyProjector(build_ribosome_like(box_size=32))
    ctx = context.SimulationContext(small_plan(), projector)
    assert ctx.projector is projector and ctx.object is projector.obj
    with pytest.raises(ValueError, match="box"):
        context.SimulationContext(small_plan(box_size=48), projector)
    with pytest.raises(PlanError, match="orientations_star"):
        context.SimulationContext(small_plan(orientations="star", orientations_star="/no/such.star"))

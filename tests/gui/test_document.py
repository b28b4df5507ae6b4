"""LandscapeDocument: edits are undo commands, previews are not, files round-trip."""
import dataclasses
import json

import numpy as np
import pytest

from engine.landscape.model import Landscape, Well
from engine.landscape.io import LandscapeFileError, load_landscape
from engine.landscape.presets import load_preset
from gui.model.document import LandscapeDocument


def small_landscape():
    wells = (Well("a", -5.0, 0.0, 3.0, 2.0, 2.0), Well("b", 5.0, 0.0, 2.0, 2.0, 2.0))
    return Landscape(wells, (-10.0, 10.0), (-8.0, 8.0), grid_size=64, name="small")


@pytest.fixture
def doc(qapp):
    return LandscapeDocument(small_landscape())


def test_move_is_one_undo_step_and_marks_dirty(doc, qtbot):
    with qtbot.waitSignal(doc.sigDirtyChanged) as dirty:
        doc.move_well(0, -3.0, 1.5)
    assert dirty.args == [True]
    assert (doc.landscape.wells[0].cc1_deg, doc.landscape.wells[0].cc2_deg) == (-3.0, 1.5)
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert doc.landscape == small_landscape()
    assert not doc.is_dirty
    doc.undo_stack.redo()
    assert doc.landscape.wells[0].cc1_deg == -3.0


def test_moves_are_clamped_to_the_domain(doc):
    doc.move_well(1, 50.0, -50.0)
    assert (doc.landscape.wells[1].cc1_deg, doc.landscape.wells[1].cc2_deg) == (10.0, -8.0)


def test_preview_pushes_nothing_and_commit_is_one_step_from_before_the_preview(doc, qtbot):
    with qtbot.waitSignals([doc.sigLandscapeChanged] * 3):
        for x in (-4.0, -3.0, -2.0):
            doc.preview_move_well(0, x, 0.0)
    assert doc.is_previewing and doc.undo_stack.count() == 0
    assert doc.committed_landscape == small_landscape()
    doc.move_well(0, -2.0, 0.0)
    assert not doc.is_previewing and doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert doc.landscape.wells[0].cc1_deg == -5.0


def test_cancel_preview_restores_the_landscape(doc):
    doc.preview_move_well(0, 3.0, 3.0)
    assert doc.landscape.wells[0].cc1_deg == 3.0
    doc.cancel_preview()
    assert doc.landscape == small_landscape() and doc.undo_stack.count() == 0
    assert not doc.is_dirty


def test_preview_uses_a_coarser_grid_for_basins(qapp):
    doc = LandscapeDocument(load_preset("paper-3x4"))
    assert doc.live_grid.energy.shape == (512, 512)
    doc.preview_move_well(0, -11.0, -9.0)
    assert doc.grid.energy.shape == (512, 512)
    assert doc.live_grid.energy.shape == (256, 256)


def test_grid_is_cached_for_equal_landscapes(doc):
    grid = doc.grid
    doc.move_well(0, -4.0, 0.0)
    doc.undo_stack.undo()
    assert doc.grid is grid  # the landscape equals the cached one again


def test_invalid_well_value_names_the_field_and_pushes_nothing(doc):
    with pytest.raises(ValueError, match="sigma1_deg"):
        doc.update_well(0, sigma1_deg=-1.0)
    assert doc.undo_stack.count() == 0


def test_consecutive_edits_of_one_field_merge(doc):
    for depth in (3.1, 3.2, 3.3):
        doc.update_well(0, depth_kcal_per_mol=depth)
    doc.update_well(0, sigma1_deg=2.5)
    assert doc.undo_stack.count() == 2
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.landscape.wells[0].depth_kcal_per_mol == 3.0


def test_add_remove_and_selection(doc, qtbot):
    with qtbot.waitSignal(doc.sigSelectionChanged) as selected:
        index = doc.add_well(doc.new_well_at(0.0, 5.0))
    assert index == 2 and selected.args == [2] and doc.selected_well == 2
    assert doc.landscape.wells[2].name == "3"
    doc.remove_well(2)
    assert len(doc.landscape.wells) == 2 and doc.selected_well == -1
    doc.undo_stack.undo()
    assert doc.landscape.wells[2].cc2_deg == 5.0


def test_landscape_fields_are_undoable(doc):
    doc.set_landscape_field("temperature_K", 350.0)
    doc.set_landscape_field("core_radius_deg", 3.0)
    assert doc.landscape.temperature_K == 350.0 and doc.landscape.core_radius_deg == 3.0
    doc.undo_stack.undo()
    assert doc.landscape.core_radius_deg is None
    with pytest.raises(ValueError, match="temperature_K"):
        doc.set_landscape_field("temperature_K", 0.0)


def test_conformation_signal_and_clamping(doc, qtbot):
    with qtbot.waitSignal(doc.sigConformationChanged) as sig:
        doc.set_conformation(2.0, 99.0)
    assert sig.args == [2.0, 8.0] and doc.conformation == (2.0, 8.0)


def test_energy_unit_scale(doc):
    doc.set_energy_unit("kT")
    assert doc.energy_scale == pytest.approx(1.0 / doc.landscape.kT_kcal_per_mol)
    with pytest.raises(ValueError, match="energy unit"):
        doc.set_energy_unit("eV")


def test_save_and_open_round_trip(doc, tmp_path, qtbot):
    doc.move_well(0, -6.5, 1.25)
    path = tmp_path / "edited.json"
    with qtbot.waitSignals([doc.sigPathChanged, doc.sigDirtyChanged]):
        doc.save(path)
    assert not doc.is_dirty and doc.path == str(path.resolve())
    assert load_landscape(path) == doc.landscape
    other = LandscapeDocument(load_preset("paper-3x4"))
    other.open(path)
    assert other.landscape == doc.landscape and not other.is_dirty
    assert other.undo_stack.count() == 0


def test_bad_file_leaves_the_document_untouched(doc, tmp_path):
    doc.move_well(0, -6.0, 0.0)
    bad = tmp_path / "bad.json"
    data = json.loads(json.dumps({"format_version": 1, "cc1_range_deg": [-5, 5],
                                  "cc2_range_deg": [-5, 5], "temperature_K": 300,
                                  "wells": [{"cc1_deg": 0, "cc2_deg": 0, "depth_kcal_per_mol": 2,
                                             "sigma1_deg": -1, "sigma2_deg": 1}]}))
    bad.write_text(json.dumps(data))
    before = doc.landscape
    with pytest.raises(LandscapeFileError, match=r"wells\[0\]\.sigma1_deg"):
        doc.open(bad)
    assert doc.landscape is before and doc.is_dirty and doc.undo_stack.count() == 1


def test_drag_grids_equal_the_full_recompute(qapp):
    land = load_preset("paper-3x4")
    doc = LandscapeDocument(land)
    for index, moves in ((5, [(-1.0, 2.0), (0.5, 3.0), (2.0, 4.5)]), (0, [(-12.0, -8.0)])):
        for x, y in moves:
            doc.preview_move_well(index, x, y)
            for grid, n in ((doc.grid, 512), (doc.live_grid, 256)):
                want = doc.landscape.grid(n)
                np.testing.assert_allclose(grid.energy, want.energy, rtol=0, atol=1e-12)
                assert grid.landscape == doc.landscape
            assert doc.live_grid.basins.merged_into == doc.landscape.grid(256).basins.merged_into
        doc.cancel_preview()
        assert doc.grid.landscape == land
    # a preview that is not a one-well move is recomputed in full
    doc.preview_move_well(3, 0.0, 0.0)
    other = dataclasses.replace(doc.landscape, temperature_K=200.0)
    doc.preview_landscape(other)
    np.testing.assert_allclose(doc.grid.energy, other.grid().energy, rtol=0, atol=1e-12)
    doc.move_well(3, 1.0, 1.0)
    np.testing.assert_allclose(doc.grid.energy, doc.landscape.grid().energy, rtol=0, atol=1e-12)


def test_domain_edit_that_leaves_a_well_outside_is_refused(doc):
    with pytest.raises(ValueError, match=r"wells\[1\]\.cc1_deg"):
        doc.set_landscape_field("cc1_range_deg", (-10.0, 4.0))
    assert doc.landscape == small_landscape() and doc.undo_stack.count() == 0
    doc.set_landscape_field("cc1_range_deg", (-10.0, 6.0))
    doc.set_landscape_field("grid_size", 512)
    doc.set_landscape_field("background_kcal_per_mol", -1.0)
    doc.set_landscape_field("confinement_kcal_per_mol", 0.5)
    assert doc.undo_stack.count() == 4 and doc.grid.energy.shape == (512, 512)
    assert doc.undo_stack.undoText() == "Set confinement"
    for _ in range(4):
        doc.undo_stack.undo()
    assert doc.landscape == small_landscape()


def test_conformation_stays_inside_a_shrunk_domain(doc):
    doc.set_conformation(9.0, 7.0)
    doc.set_landscape_field("cc1_range_deg", (-10.0, 6.0))
    assert doc.conformation == (6.0, 7.0)


def test_the_current_object_is_one_undo_step_with_a_signal(doc, qtbot, tmp_path):
    """Loading maps and going back to the built-in object are one undo step each; the object
    is not saved with the landscape, so it never makes the landscape dirty."""
    from gui.model.object_state import KIND_MAPS, CurrentObject, MapsRequest

    assert doc.current_object == CurrentObject.builtin() and doc.current_object.spec().seed == 0
    maps = CurrentObject(maps=MapsRequest(KIND_MAPS, str(tmp_path / "lsu.mrc"), str(tmp_path / "ssu.mrc")),
                         pivot_A=(0.0, 0.0, 5.0), axis1=(0.0, 1.0, 0.0), axis2=(0.0, 0.0, 1.0))
    dirty = []
    doc.sigDirtyChanged.connect(dirty.append)
    with qtbot.waitSignal(doc.sigObjectChanged) as changed:
        doc.set_current_object(maps)
    assert changed.args == [maps] and doc.current_object is maps
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "Load maps lsu.mrc + ssu.mrc"
    spec = maps.spec()
    assert (spec.kind, spec.lsu_map, spec.pivot_A) == ("two-maps", str(tmp_path / "lsu.mrc"), (0.0, 0.0, 5.0))
    doc.set_current_object(maps)                      # the same object: nothing pushed
    doc.set_current_object(CurrentObject.builtin(seed=2))
    assert doc.undo_stack.undoText() == "Use the built-in object (seed 2)"
    with qtbot.waitSignal(doc.sigObjectChanged) as changed:
        doc.undo_stack.undo()
    assert changed.args == [maps]
    doc.undo_stack.undo()
    assert doc.current_object == CurrentObject.builtin()
    assert dirty == [] and not doc.is_dirty
    # a landscape edit after an object change is still a change of the landscape
    doc.undo_stack.redo()
    doc.move_well(0, -3.0, 1.5)
    assert doc.is_dirty and dirty == [True]
    doc.undo_stack.undo()
    assert not doc.is_dirty and dirty == [True, False] and doc.current_object is maps


def test_a_plans_object_spec_round_trips_through_the_current_object(tmp_path):
    from engine.simulation.plan import ObjectSpec
    from gui.model.object_state import CurrentObject

    for spec in (ObjectSpec(seed=5),
                 ObjectSpec(kind="map-and-mask", full_map=str(tmp_path / "full.mrc"), ssu_mask=str(tmp_path / "m.mrc"),
                            pivot_A=(1.0, 2.0, 3.0), axis1=(1.0, 0.0, 0.0), axis2=(0.0, 0.0, 1.0))):
        assert CurrentObject.from_spec(spec).spec() == spec


def test_the_designer_path_is_view_state_with_a_signal(doc, qtbot):
    from gui.model.designer_path import DesignerPath
    assert doc.designer_path is None
    path = DesignerPath([(-5.0, 0.0), (0.0, 1.0), (5.0, 0.0)], None, (1, 2))
    with qtbot.waitSignal(doc.sigDesignerPathChanged) as changed:
        doc.set_designer_path(path)
    assert changed.args == [path] and doc.designer_path is path
    assert path.drawn and path.end_wells == (1, 2)
    assert doc.undo_stack.count() == 0 and not doc.is_dirty
    with qtbot.assertNotEmitted(doc.sigDesignerPathChanged):
        doc.set_designer_path(path)
    assert DesignerPath([(0.0, 0.0), (1.0, 1.0)], None, (2, 2)).end_wells is None   # stays in one well
    assert DesignerPath([(0.0, 0.0), (1.0, 1.0)], (3.0, 1), ()).wells == (3, 1)
    with pytest.raises(ValueError, match="points_deg"):
        DesignerPath([(0.0, 0.0)], (1, 2))
    with pytest.raises(ValueError, match="points_deg"):
        DesignerPath([(0.0, np.nan), (1.0, 1.0)], (1, 2))

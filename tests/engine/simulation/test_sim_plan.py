"""Simulation plans: JSON round trip, every refused field named, disk estimate and refusal."""
import json

import pytest

from engine.simulation.plan import (NotEnoughDiskError, ObjectSpec, PlanError, SimulationPlan, check_disk_space,
                             estimate_disk_bytes, load_plan, plan_from_dict, plan_to_dict, save_plan, with_overrides)
from engine.landscape.presets import load_preset


def plan(**kw):
    return SimulationPlan(landscape=load_preset("paper-3x4"), **kw)


def test_round_trip_is_exact(tmp_path):
    p = plan(n_particles=1234, box_size=64, apix_A=5.0, snr=0.5, max_shift_A=3.0, seed=9, chunk_size=100,
             bfactor_A2=50.0, orientations="star", orientations_star=str(tmp_path / "a.star"))
    save_plan(p, tmp_path / "plan.json")
    assert load_plan(tmp_path / "plan.json") == p
    user_maps = plan(object=ObjectSpec(kind="two-maps", lsu_map="/m/l.mrc", ssu_map="/m/s.mrc",
                                       pivot_A=(0, 10, 0), axis1=(0, 2, 0), axis2=(0, 0, 1)), box_size=None)
    assert user_maps.object.axis1 == (0.0, 1.0, 0.0)  # normalised
    assert plan_from_dict(json.loads(json.dumps(plan_to_dict(user_maps)))) == user_maps


def test_defaults_are_the_design_defaults():
    p = plan()
    assert (p.defocus_min_A, p.defocus_max_A, p.voltage_kV, p.cs_mm, p.amplitude_contrast) == (1e4, 2.5e4, 300, 2.7, 0.1)
    assert p.orientations == "uniform" and p.max_shift_A == 0 and p.snr == 1.0


def test_landscape_by_preset_or_file_and_relative_paths(tmp_path):
    from engine.landscape.io import save_landscape

    save_landscape(load_preset("ratchet-valley"), tmp_path / "land.json")
    (tmp_path / "plan.json").write_text(json.dumps({
        "format_version": 1, "landscape_file": "land.json", "orientations": "star",
        "orientations_star": "poses/p.star"}))
    p = load_plan(tmp_path / "plan.json")
    assert p.landscape == load_preset("ratchet-valley")
    assert p.orientations_star == str(tmp_path / "poses" / "p.star")
    (tmp_path / "p2.json").write_text(json.dumps({"format_version": 1, "landscape_preset": "paper-3x4"}))
    assert load_plan(tmp_path / "p2.json").landscape.name == "paper-3x4"


def good():
    return plan_to_dict(plan())


@pytest.mark.parametrize("change, field", [
    (lambda d: d.update(colour="red"), "colour"),
    (lambda d: d.pop("format_version"), "format_version"),
    (lambda d: d.update(format_version=7), "format_version"),
    (lambda d: d.update(n_particles=0), "n_particles"),
    (lambda d: d.update(n_particles=2.5), "n_particles"),
    (lambda d: d.update(box_size=63), "box_size"),
    (lambda d: d.update(apix_A=-1), "apix_A"),
    (lambda d: d.update(snr=0), "snr"),
    (lambda d: d.update(snr="high"), "snr"),
    (lambda d: d.update(defocus_min_A=3e4), "defocus_max_A"),
    (lambda d: d.update(voltage_kV=0), "voltage_kV"),
    (lambda d: d.update(amplitude_contrast=1.0), "amplitude_contrast"),
    (lambda d: d.update(bfactor_A2=-5), "bfactor_A2"),
    (lambda d: d.update(orientations="random"), "orientations"),
    (lambda d: d.update(orientations="star"), "orientations_star"),
    (lambda d: d.update(max_shift_A=-1), "max_shift_A"),
    (lambda d: d.update(seed=-1), "seed"),
    (lambda d: d.update(chunk_size=0), "chunk_size"),
    (lambda d: d.update(object={"kind": "blob"}), "object.kind"),
    (lambda d: d.update(object={"kind": "two-maps", "lsu_map": "a.mrc"}), "object.ssu_map"),
    (lambda d: d.update(object={"kind": "ribosome-like", "pivot_A": [0, 0, 0]}), "object.pivot_A"),
    (lambda d: d.update(object={"kind": "ribosome-like", "size": 3}), "object.size"),
    (lambda d: d.update(object={"kind": "map-and-mask", "full_map": "m.mrc", "ssu_mask": "k.mrc",
                                "pivot_A": [0, 0, 0], "axis1": [1, 0, 0], "axis2": [1, 1, 0]}), "object.axis2"),
    (lambda d: d.update(landscape_preset="paper-3x4"), "landscape"),
    (lambda d: d["landscape"].update(temperature_K=-1), "landscape"),
])
def test_bad_field_is_named_with_the_file(tmp_path, change, field):
    d = good()
    change(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(PlanError) as err:
        load_plan(path)
    assert err.value.field == field
    assert str(path) in str(err.value)


def test_malformed_json_names_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"format_version": 1,\n "n_particles": }')
    with pytest.raises(PlanError, match="line 2"):
        load_plan(path)


def test_chunks_cover_every_particle_once():
    p = plan(n_particles=1001, chunk_size=250)
    ranges = [p.chunk_range(k) for k in range(p.n_chunks)]
    assert p.n_chunks == 5 and ranges[0] == (0, 250) and ranges[-1] == (1000, 1001)
    assert sum(b - a for a, b in ranges) == 1001
    with pytest.raises(IndexError):
        p.chunk_range(5)


def test_disk_estimate_counts_stacks_maps_and_metadata():
    p = plan(n_particles=3_000_000, box_size=64, chunk_size=10_000)
    stacks = 3_000_000 * 64 * 64 * 4
    est = estimate_disk_bytes(p)
    assert stacks < est < stacks * 1.1  # the paper's dataset at box 64: ~49 GB of stacks, ~2.4 GB else
    assert estimate_disk_bytes(with_overrides(p, box_size=128)) > 3.9 * stacks


def test_a_plan_too_big_for_the_disk_is_refused_with_the_numbers(tmp_path):
    huge = plan(n_particles=10**9, box_size=1024, chunk_size=1000)
    with pytest.raises(NotEnoughDiskError) as err:
        check_disk_space(huge, tmp_path / "new_folder")
    e = err.value
    assert e.needed_bytes == estimate_disk_bytes(huge) and e.free_bytes > 0
    assert f"{e.needed_bytes:,}" in str(e) and f"{e.free_bytes:,}" in str(e)
    assert check_disk_space(plan(n_particles=10, box_size=32), tmp_path) > 0


def test_overrides_validate_again():
    p = with_overrides(plan(), n_particles=5, box_size=None, snr=2.0)
    assert p.n_particles == 5 and p.box_size == 128 and p.snr == 2.0
    with pytest.raises(PlanError, match="box_size"):
        with_overrides(plan(), box_size=15)


def test_content_key_is_made_once_and_parses_back_to_the_plan(tmp_path, monkeypatch):
    """Chunk tasks carry the key and workers parse it: the round trip must be exact."""
    import engine.simulation.plan as plan_module

    p = plan(n_particles=500, box_size=48, snr=0.3, max_shift_A=2.5, seed=3, output_folder=str(tmp_path))
    key = p.content_key
    again = plan_from_dict(json.loads(key))
    assert again == plan(n_particles=500, box_size=48, snr=0.3, max_shift_A=2.5, seed=3)
    assert again.content_key == key and "output_folder" not in json.loads(key)
    assert with_overrides(p, seed=4).content_key != key
    monkeypatch.setattr(plan_module, "plan_to_dict", lambda _: pytest.fail("serialised again"))
    assert p.content_key is key


def test_map_header_is_read_once_per_version_of_the_file(tmp_path, monkeypatch):
    import mrcfile
    import numpy as np

    path = tmp_path / "lsu.mrc"
    mrcfile.write(path, np.zeros((32, 32, 32), np.float32), voxel_size=4.0)
    spec = ObjectSpec(kind="two-maps", lsu_map=str(path), ssu_map=str(path), pivot_A=(0, 0, 0), axis1=(1, 0, 0),
                      axis2=(0, 1, 0))
    p = plan(object=spec, box_size=None)
    opened = []
    real_open = mrcfile.open
    monkeypatch.setattr(mrcfile, "open", lambda *a, **kw: opened.append(a[0]) or real_open(*a, **kw))
    assert [p.effective_box_size() for _ in range(3)] == [32, 32, 32] and p.effective_apix_A() == 4.0
    assert len(opened) <= 1
    mrcfile.write(path, np.zeros((40, 40, 40), np.float32), voxel_size=2.0, overwrite=True)
    assert p.effective_box_size() == 40 and p.effective_apix_A() == 2.0
    path.unlink()
    with pytest.raises(PlanError, match="cannot read the MRC header"):
        p.effective_box_size()


def test_a_file_that_is_not_a_map_is_refused_before_its_header_is_believed(tmp_path):
    """A text file named .mrc: refused by name, never read as a box of 1936287860 px."""
    from engine.simulation.objects import map_header

    notes = tmp_path / "notes.mrc"
    notes.write_text("just some text, not a map at all " * 40)
    with pytest.raises(PlanError, match=r"notes.mrc: not a readable MRC file") as caught:
        map_header(str(notes))
    assert "px" not in str(caught.value)

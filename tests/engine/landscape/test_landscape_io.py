"""Landscape JSON: round trip, and every refused field named."""
import json

import pytest

from engine.landscape.io import LandscapeFileError, landscape_to_dict, load_landscape, save_landscape
from engine.landscape.presets import load_preset


def test_round_trip_is_exact(tmp_path):
    land = load_preset("ratchet-valley")
    path = tmp_path / "l.json"
    save_landscape(land, path)
    assert load_landscape(path) == land


def write(tmp_path, data):
    path = tmp_path / "bad.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def good():
    return landscape_to_dict(load_preset("paper-3x4"))


def mutate(change):
    d = good()
    change(d)
    return d


@pytest.mark.parametrize("change, field", [
    (lambda d: d.pop("wells"), "wells"),
    (lambda d: d.pop("format_version"), "format_version"),
    (lambda d: d.update(format_version=99), "format_version"),
    (lambda d: d.update(colour="red"), "colour"),
    (lambda d: d.update(temperature_K=-3), "temperature_K"),
    (lambda d: d.update(temperature_K="hot"), "temperature_K"),
    (lambda d: d.update(cc1_range_deg=[3, 1]), "cc1_range_deg"),
    (lambda d: d.update(cc2_range_deg=4), "cc2_range_deg"),
    (lambda d: d.update(grid_size=2.5), "grid_size"),
    (lambda d: d.update(core_radius_deg=0), "core_radius_deg"),
    (lambda d: d.update(confinement_kcal_per_mol=-1), "confinement_kcal_per_mol"),
    (lambda d: d.update(background_kcal_per_mol=None), "background_kcal_per_mol"),
    (lambda d: d.update(name=7), "name"),
    (lambda d: d.update(wells={}), "wells"),
    (lambda d: d["wells"].__setitem__(2, 5), "wells[2]"),
    (lambda d: d["wells"][3].update(depth_kcal_per_mol=0), "wells[3].depth_kcal_per_mol"),
    (lambda d: d["wells"][3].update(sigma1_deg=-2), "wells[3].sigma1_deg"),
    (lambda d: d["wells"][4].update(sigma2_deg="wide"), "wells[4].sigma2_deg"),
    (lambda d: d["wells"][0].update(angle_deg=float("nan")), "wells[0].angle_deg"),
    (lambda d: d["wells"][0].pop("cc1_deg"), "wells[0].cc1_deg"),
    (lambda d: d["wells"][1].update(cc2_deg=[1]), "wells[1].cc2_deg"),
    (lambda d: d["wells"][1].update(width=1), "wells[1].width"),
    (lambda d: d["wells"][1].update(name=None), "wells[1].name"),
])
def test_each_bad_field_is_named(tmp_path, change, field):
    path = write(tmp_path, mutate(change))
    with pytest.raises(LandscapeFileError) as err:
        load_landscape(path)
    assert err.value.field == field
    assert str(path) in str(err.value) and field in str(err.value)


@pytest.mark.parametrize("text, problem", [
    ('{"format_version": 1,', "malformed JSON"),
    ("[1, 2]", "JSON object"),
    ("", "malformed JSON"),
])
def test_malformed_files_are_refused(tmp_path, text, problem):
    with pytest.raises(LandscapeFileError, match=problem):
        load_landscape(write(tmp_path, text))


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(LandscapeFileError, match="nope.json: no such file"):
        load_landscape(tmp_path / "nope.json")
    binary = tmp_path / "b.json"
    binary.write_bytes(b"\xff\xfe\x00\x93")
    with pytest.raises(LandscapeFileError, match="not a text file"):
        load_landscape(binary)


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "l.json"
    save_landscape(load_preset("paper-3x4"), path)
    before = path.read_bytes()
    import engine.atomic_files as atomic_files

    def boom(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(atomic_files.os, "fsync", boom)
    with pytest.raises(OSError):
        save_landscape(load_preset("ratchet-valley"), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["l.json"]


def test_saved_files_get_normal_permissions(tmp_path):
    import os
    import stat
    path = tmp_path / "l.json"
    save_landscape(load_preset("paper-3x4"), path)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    path.chmod(0o640)
    save_landscape(load_preset("paper-3x4"), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_well_outside_the_domain_is_named(tmp_path):
    path = write(tmp_path, mutate(lambda d: d["wells"][5].update(cc1_deg=55.0)))
    with pytest.raises(LandscapeFileError) as err:
        load_landscape(path)
    assert err.value.field == "wells[5].cc1_deg"
    assert "outside the domain" in str(err.value)

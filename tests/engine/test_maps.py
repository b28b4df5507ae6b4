"""MRC maps: round trip, header axis order, and refusal of unusable files with clear messages."""
import warnings

import mrcfile
import numpy as np
import pytest

from engine.maps import MapFileError, object_from_map_and_mask, object_from_maps, read_map, write_map
from engine.object_model import build_ribosome_like, composite_map

AXES = dict(pivot_A=(0.0, 10.0, 0.0), axis1=(0.0, 1.0, 0.0), axis2=(0.0, 0.0, 1.0))


@pytest.fixture(scope="module")
def obj():
    return build_ribosome_like(40, apix_A=7.5, seed=1)


def _write_raw(path, data, voxel=2.0):
    with warnings.catch_warnings(), mrcfile.new(path, overwrite=True) as m:
        warnings.simplefilter("ignore")  # mrcfile warns about the NaN map we write on purpose
        m.set_data(np.asarray(data, dtype=np.float32))
        m.voxel_size = voxel


def test_round_trip_keeps_data_voxel_size_and_centres_the_origin(tmp_path, obj):
    vol = composite_map(obj, 5.0, -3.0)
    path = tmp_path / "maps" / "full.mrc"
    write_map(path, vol, obj.apix_A)
    back, apix = read_map(path)
    np.testing.assert_array_equal(back, vol)
    assert apix == pytest.approx(obj.apix_A, rel=1e-6)
    with mrcfile.open(path) as m:
        origin = m.header.origin
        assert (float(origin.x), float(origin.y), float(origin.z)) == pytest.approx((-20 * 7.5,) * 3, rel=1e-6)
    assert [p.name for p in path.parent.iterdir()] == ["full.mrc"]  # no temporary left behind


def test_header_axis_order_is_honoured(tmp_path):
    vol = np.random.default_rng(0).random((8, 8, 8)).astype(np.float32)  # [z, y, x]
    path = tmp_path / "swapped.mrc"
    with mrcfile.new(path) as m:
        m.set_data(np.ascontiguousarray(vol.transpose(0, 2, 1)))  # sections z, rows x, columns y
        m.header.mapc, m.header.mapr, m.header.maps = 2, 1, 3
        m.voxel_size = 1.5
    back, _ = read_map(path)
    np.testing.assert_array_equal(back, vol)


@pytest.mark.parametrize("kind, message", [
    ("missing", "no such file"),
    ("text", "not a readable MRC file"),
    ("noncubic", "not cubic"),
    ("image", "not a 3D map"),
    ("empty", "empty"),
    ("nan", "NaN"),
    ("novoxel", "voxel size is not set"),
])
def test_unusable_maps_are_refused_naming_the_file(tmp_path, kind, message):
    path = tmp_path / f"bad_{kind}.mrc"
    if kind == "text":
        path.write_text("this is not a map\n" * 100)
    elif kind == "noncubic":
        _write_raw(path, np.ones((8, 8, 10)))
    elif kind == "image":
        _write_raw(path, np.ones((8, 8)))
    elif kind == "empty":
        _write_raw(path, np.zeros((8, 8, 8)))
    elif kind == "nan":
        _write_raw(path, np.full((8, 8, 8), np.nan))
    elif kind == "novoxel":
        _write_raw(path, np.ones((8, 8, 8)), voxel=0.0)
    with pytest.raises(MapFileError, match=message) as err:
        read_map(path)
    assert str(path) in str(err.value)


def test_object_from_two_maps(tmp_path, obj):
    write_map(tmp_path / "lsu.mrc", obj.lsu, obj.apix_A)
    write_map(tmp_path / "ssu.mrc", obj.ssu, obj.apix_A)
    two = object_from_maps(tmp_path / "lsu.mrc", tmp_path / "ssu.mrc", pivot_A=(1.0, 2.0, 3.0),
                           axis1=(0.0, 2.0, 0.0), axis2=(0.0, 0.0, 5.0))
    np.testing.assert_array_equal(two.lsu, obj.lsu)
    np.testing.assert_array_equal(two.ssu, obj.ssu)
    np.testing.assert_allclose(two.axis1, [0, 1, 0])
    np.testing.assert_allclose(two.pivot_A, [1, 2, 3])
    assert (two.ssu * two.ssu_mask).sum() / two.ssu.sum() > 0.97
    assert two.name == "lsu + ssu"


def test_two_maps_must_match_in_size_and_pixel_size(tmp_path, obj):
    write_map(tmp_path / "lsu.mrc", obj.lsu, obj.apix_A)
    write_map(tmp_path / "ssu_px.mrc", obj.ssu, obj.apix_A * 1.1)
    write_map(tmp_path / "ssu_box.mrc", obj.ssu[:38, :38, :38], obj.apix_A)
    with pytest.raises(MapFileError, match="pixel size") as err:
        object_from_maps(tmp_path / "lsu.mrc", tmp_path / "ssu_px.mrc", **AXES)
    assert "ssu_px.mrc" in str(err.value)
    with pytest.raises(MapFileError, match="box size") as err:
        object_from_maps(tmp_path / "lsu.mrc", tmp_path / "ssu_box.mrc", **AXES)
    assert "ssu_box.mrc" in str(err.value)
    with pytest.raises(ValueError, match="orthogonal"):
        object_from_maps(tmp_path / "lsu.mrc", tmp_path / "lsu.mrc", pivot_A=(0, 0, 0), axis1=(1, 0, 0),
                         axis2=(1, 1, 0))


@pytest.mark.parametrize("soft", [False, True])
def test_object_from_map_and_mask(tmp_path, obj, soft):
    full = obj.lsu + obj.ssu
    mask = obj.ssu_mask if soft else (obj.ssu_mask > 0.5).astype(np.float32)
    write_map(tmp_path / "full.mrc", full, obj.apix_A)
    write_map(tmp_path / "mask.mrc", mask, obj.apix_A)
    two = object_from_map_and_mask(tmp_path / "full.mrc", tmp_path / "mask.mrc", **AXES)
    np.testing.assert_allclose(two.lsu + two.ssu, full, atol=1e-6)
    np.testing.assert_allclose(two.ssu, full * mask, atol=1e-7)
    np.testing.assert_array_equal(two.ssu_mask, mask)
    assert two.name == "full"


def test_bad_masks_are_refused(tmp_path, obj):
    full = obj.lsu + obj.ssu
    write_map(tmp_path / "full.mrc", full, obj.apix_A)
    for name, mask, message in [("range.mrc", obj.ssu_mask * 3, "must lie in \\[0, 1\\]"),
                                ("all.mrc", np.ones_like(full), "nothing is left for the LSU"),
                                ("outside.mrc", np.pad(np.ones((4, 4, 4)), ((0, 36),) * 3), "no density for the SSU")]:
        write_map(tmp_path / name, mask, obj.apix_A)
        with pytest.raises(MapFileError, match=message) as err:
            object_from_map_and_mask(tmp_path / "full.mrc", tmp_path / name, **AXES)
        assert name in str(err.value)

"""MRC maps: round trip, header axis order, and refusal of unusable files with clear messages."""
import warnings

import mrcfile
import numpy as np
import pytest

from engine.structure.maps import (PIVOT_FRAME_BOX, PIVOT_FRAME_MAP, MapFileError, fourier_crop, map_frame,
                         object_from_map_and_mask, object_from_maps, pivot_to_box_frame,
                         pivot_to_map_frame, read_map, write_map)
from engine.structure.object_model import build_ribosome_like, composite_map

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


def test_ssu_map_without_positive_density_is_refused_naming_it(tmp_path, obj):
    write_map(tmp_path / "lsu.mrc", obj.lsu, obj.apix_A)
    write_map(tmp_path / "negative_ssu.mrc", -obj.ssu, obj.apix_A)
    with pytest.raises(MapFileError, match="no positive density") as err:
        object_from_maps(tmp_path / "lsu.mrc", tmp_path / "negative_ssu.mrc", **AXES)
    assert "negative_ssu.mrc" in str(err.value)


@pytest.mark.parametrize("noise", [0.0, 0.02])   # the same file twice, or a near copy
def test_ssu_map_that_is_the_whole_map_is_refused(tmp_path, obj, noise):
    full = obj.lsu + obj.ssu
    copy = full * 1.1 + np.random.default_rng(0).normal(0.0, noise, full.shape).astype(np.float32)
    write_map(tmp_path / "full.mrc", full, obj.apix_A)
    write_map(tmp_path / "also_full.mrc", copy, obj.apix_A)
    with pytest.raises(MapFileError, match="looks like the whole map") as err:
        object_from_maps(tmp_path / "full.mrc", tmp_path / "also_full.mrc", **AXES)
    message = str(err.value)
    assert "full.mrc" in message and "also_full.mrc" in message
    assert "give the LSU map without the SSU, or use map + SSU mask" in message


def test_lsu_map_that_still_holds_the_ssu_is_refused(tmp_path, obj):
    write_map(tmp_path / "full.mrc", obj.lsu + obj.ssu, obj.apix_A)   # the whole map as "LSU"
    write_map(tmp_path / "ssu.mrc", obj.ssu, obj.apix_A)
    with pytest.raises(MapFileError, match="also holds the SSU") as err:
        object_from_maps(tmp_path / "full.mrc", tmp_path / "ssu.mrc", **AXES)
    assert "full.mrc" in str(err.value) and "ssu.mrc" in str(err.value)


def test_separate_noisy_bodies_are_accepted(tmp_path, obj):
    """Real maps carry noise: 10 % noise must not look like duplicated density."""
    rng = np.random.default_rng(3)
    for name, body in (("lsu.mrc", obj.lsu), ("ssu.mrc", obj.ssu)):
        write_map(tmp_path / name, body + rng.normal(0.0, 0.1, body.shape).astype(np.float32), obj.apix_A)
    two = object_from_maps(tmp_path / "lsu.mrc", tmp_path / "ssu.mrc", **AXES)
    assert two.box_size == obj.box_size


def _write_with_origin(path, data, apix, origin=(0.0, 0.0, 0.0), start=(0, 0, 0)):
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(np.asarray(data, dtype=np.float32))
        m.voxel_size = apix
        m.header.origin = origin
        m.header.nxstart, m.header.nystart, m.header.nzstart = start


def test_map_frame_reads_the_header_origin_like_chimerax(tmp_path, obj):
    d, apix = obj.box_size, obj.apix_A
    _write_with_origin(tmp_path / "origin.mrc", obj.lsu, apix, origin=(100.0, 50.0, -20.0))
    frame = map_frame(tmp_path / "origin.mrc")
    np.testing.assert_allclose(frame.origin_A, (100.0, 50.0, -20.0))
    np.testing.assert_allclose(frame.box_centre_A, np.array([100.0, 50.0, -20.0]) + (d // 2) * apix)
    # no origin: the start indices times the voxel size (x, y, z from column, row, section)
    _write_with_origin(tmp_path / "start.mrc", obj.lsu, apix, start=(-20, -10, 3))
    np.testing.assert_allclose(map_frame(tmp_path / "start.mrc").origin_A, np.array([-20, -10, 3]) * apix)
    # our own maps: the map's frame is the box-centred frame
    write_map(tmp_path / "ours.mrc", obj.lsu, apix)
    np.testing.assert_allclose(map_frame(tmp_path / "ours.mrc").box_centre_A, 0.0, atol=1e-4)
    p = np.array([12.0, -30.0, 7.5])
    np.testing.assert_allclose(pivot_to_box_frame(pivot_to_map_frame(p, frame), frame), p)


def test_pivot_given_in_the_maps_own_frame_is_converted(tmp_path, obj):
    """A pivot copied from ChimeraX (map frame, header origin) lands on the same voxel."""
    d, apix = obj.box_size, obj.apix_A
    origin = np.array([100.0, 50.0, -20.0])
    _write_with_origin(tmp_path / "lsu.mrc", obj.lsu, apix, origin=tuple(origin))
    _write_with_origin(tmp_path / "ssu.mrc", obj.ssu, apix, origin=tuple(origin))
    voxel = np.array([25, 18, 22])                      # (x, y, z) index of the pivot voxel
    chimerax_pivot = origin + voxel * apix              # what ChimeraX shows for that voxel
    axes = dict(axis1=AXES["axis1"], axis2=AXES["axis2"])
    two = object_from_maps(tmp_path / "lsu.mrc", tmp_path / "ssu.mrc", chimerax_pivot,
                           pivot_frame=PIVOT_FRAME_MAP, **axes)
    np.testing.assert_allclose(two.pivot_A, (voxel - d // 2) * apix, atol=1e-4)
    # the same numbers read as box-centred lie far outside the box: refused with a hint
    with pytest.raises(MapFileError, match="map's own frame") as err:
        object_from_maps(tmp_path / "lsu.mrc", tmp_path / "ssu.mrc", chimerax_pivot,
                         pivot_frame=PIVOT_FRAME_BOX, **axes)
    assert "lsu.mrc" in str(err.value) and "outside" in str(err.value)
    # map + mask takes the full map's frame
    _write_with_origin(tmp_path / "full.mrc", obj.lsu + obj.ssu, apix, origin=tuple(origin))
    _write_with_origin(tmp_path / "mask.mrc", obj.ssu_mask, apix, origin=tuple(origin))
    masked = object_from_map_and_mask(tmp_path / "full.mrc", tmp_path / "mask.mrc", chimerax_pivot,
                                      pivot_frame=PIVOT_FRAME_MAP, **axes)
    np.testing.assert_allclose(masked.pivot_A, (voxel - d // 2) * apix, atol=1e-4)


def _gaussian_map(box, apix, centre_A, sigma_A):
    axis = (np.arange(box) - box // 2) * apix
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    r2 = (x - centre_A[0]) ** 2 + (y - centre_A[1]) ** 2 + (z - centre_A[2]) ** 2
    return np.exp(-0.5 * r2 / sigma_A ** 2).astype(np.float32)


@pytest.mark.parametrize("box, new_box", [(64, 40), (63, 32), (64, 33)])
def test_fourier_crop_keeps_position_mass_and_values(box, new_box):
    apix, centre, sigma = 2.0, np.array([14.0, -9.0, 5.0]), 6.0
    big = _gaussian_map(box, apix, centre, sigma)
    small = fourier_crop(big, new_box)
    new_apix = apix * box / new_box
    assert small.shape == (new_box,) * 3 and small.dtype == np.float32
    # the same band-limited Gaussian sampled on the coarser grid, box centre still at 0 A
    np.testing.assert_allclose(small, _gaussian_map(new_box, new_apix, centre, sigma), atol=2e-3)
    assert small.sum() * new_apix ** 3 == pytest.approx(big.sum() * apix ** 3, rel=1e-4)
    assert fourier_crop(big, box) is not big and np.array_equal(fourier_crop(big, box), big)


def test_large_maps_are_cropped_for_previews(tmp_path, obj):
    write_map(tmp_path / "lsu.mrc", obj.lsu, obj.apix_A)
    write_map(tmp_path / "ssu.mrc", obj.ssu, obj.apix_A)
    small = object_from_maps(tmp_path / "lsu.mrc", tmp_path / "ssu.mrc", max_box=24, **AXES)
    assert small.box_size == 24 and small.apix_A == pytest.approx(obj.apix_A * 40 / 24)
    np.testing.assert_allclose(small.pivot_A, AXES["pivot_A"])      # Angstrom: unchanged
    assert small.mass_fraction_lsu == pytest.approx(obj.mass_fraction_lsu, abs=0.01)
    write_map(tmp_path / "full.mrc", obj.lsu + obj.ssu, obj.apix_A)
    write_map(tmp_path / "mask.mrc", obj.ssu_mask, obj.apix_A)
    masked = object_from_map_and_mask(tmp_path / "full.mrc", tmp_path / "mask.mrc", max_box=24, **AXES)
    assert masked.box_size == 24 and 0.0 <= masked.ssu_mask.min() and masked.ssu_mask.max() <= 1.0
    same = object_from_maps(tmp_path / "lsu.mrc", tmp_path / "ssu.mrc", max_box=40, **AXES)
    np.testing.assert_array_equal(same.lsu, obj.lsu)


def test_map_frame_refuses_a_header_that_is_not_a_maps_before_anything_trusts_it(tmp_path):
    """The box size of a map is read from its header for estimates (disk, time): a file that
    is not an MRC map, a truncated one, or a non-cubic one is refused by map_frame itself."""
    (tmp_path / "notes.mrc").write_bytes(b"these are not density values. " * 100)
    with pytest.raises(MapFileError, match=r"notes.mrc: not a readable MRC file \(Map ID string not found"):
        map_frame(tmp_path / "notes.mrc")
    write_map(tmp_path / "full.mrc", np.ones((16, 16, 16), np.float32), 2.0)
    data = (tmp_path / "full.mrc").read_bytes()
    (tmp_path / "cut.mrc").write_bytes(data[:len(data) // 2])
    with pytest.raises(MapFileError, match=r"cut.mrc: the header announces 16\^3 voxels \(17.4 KB\) but the file "
                                           r"is 8.7 KB: a truncated map"):
        map_frame(tmp_path / "cut.mrc")
    with mrcfile.new(tmp_path / "slab.mrc", overwrite=True) as mrc:
        mrc.set_data(np.ones((4, 16, 16), np.float32))
        mrc.voxel_size = 2.0
    with pytest.raises(MapFileError, match=r"slab.mrc: map is not cubic \(header nx, ny, nz = \(16, 16, 4\)\)"):
        map_frame(tmp_path / "slab.mrc")
    assert map_frame(tmp_path / "full.mrc").box_size == 16

"""Reading a dataset folder (or a bare ground-truth file) for scoring."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import starfile

from engine.formats.dataset import (DatasetError, ground_truth_from_arrays, image_names_for, load_dataset,
                            synthetic_ground_truth)
from engine.formats.ground_truth import save_ground_truth
from engine.landscape.io import save_landscape
from engine.landscape.presets import load_preset

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def write_dataset(folder: Path, n: int = 600, seed: int = 3, chunk_size: int = 250, star: bool = True):
    """A scoring-only dataset folder: ground_truth.npz, landscape.json, particles.star."""
    land = load_preset("paper-3x4")
    gt = synthetic_ground_truth(land, n, seed, chunk_size=chunk_size)
    folder.mkdir(parents=True, exist_ok=True)
    save_ground_truth(gt, folder / "ground_truth.npz")
    save_landscape(land, folder / "landscape.json")
    if star:
        optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnImagePixelSize": [5.0], "rlnImageSize": [64]})
        particles = pd.DataFrame({"rlnImageName": gt.image_name, "rlnOpticsGroup": np.ones(n, int)})
        starfile.write({"optics": optics, "particles": particles}, folder / "particles.star")
    return gt


def test_folder_with_ground_truth_landscape_and_star(tmp_path):
    gt = write_dataset(tmp_path / "ds")
    ds = load_dataset(tmp_path / "ds")
    assert ds.n_particles == 600 and ds.n_wells == 12 and ds.landscape.name == "paper-3x4"
    np.testing.assert_array_equal(ds.ground_truth.well, gt.well)
    np.testing.assert_array_equal(ds.star_image_names(), gt.image_name)
    assert ds.image_names[250] == "000001@particles/particles_00001.mrcs"
    np.testing.assert_array_equal(ds.index_of_names(["000003@particles/particles_00001.mrcs", "nope"]), [252, -1])
    assert ds.cryosparc_uids is None
    assert ds.kT_kcal_per_mol == pytest.approx(0.0019872041 * 300)


def test_image_names_follow_the_chunked_stack_layout():
    names = image_names_for(5, chunk_size=2)
    assert names.tolist() == ["000001@particles/particles_00000.mrcs", "000002@particles/particles_00000.mrcs",
                              "000001@particles/particles_00001.mrcs", "000002@particles/particles_00001.mrcs",
                              "000001@particles/particles_00002.mrcs"]


def test_synthetic_ground_truth_labels_match_the_landscape_basins():
    land = load_preset("paper-3x4")
    gt = synthetic_ground_truth(land, 20_000, seed=4)
    fractions = np.bincount(gt.well, minlength=13)[1:] / len(gt)
    np.testing.assert_allclose(fractions, land.grid().basins.occupancy, atol=0.012)
    np.testing.assert_allclose(gt.energy_kcal_per_mol[:5], land.energy(gt.cc1_deg[:5], gt.cc2_deg[:5]))
    assert np.isnan(gt.rot_deg).all()


def test_without_landscape_the_dataset_still_scores(tmp_path):
    write_dataset(tmp_path / "ds", star=False)
    (tmp_path / "ds" / "landscape.json").unlink()
    ds = load_dataset(tmp_path / "ds")
    assert ds.landscape is None and any("landscape.json" in note for note in ds.notes)


def test_minimal_fixture_ground_truth_files():
    ds = load_dataset(FIXTURES / "relion" / "ground_truth.first300.npz")
    assert ds.n_particles == 300 and ds.n_wells == 12 and ds.root is None
    assert ds.image_names[0] == "000001@particles.mrcs"
    # centres are the mean true conformation of each well: near the 3 x 4 design grid
    np.testing.assert_allclose(ds.ground_truth.well_centres_deg[[0, 11]], [[-12, -9], [12, 9]], atol=1.0)
    twobody = load_dataset(FIXTURES / "cryodrgn" / "twobody" / "ground_truth.npz")
    np.testing.assert_array_equal(twobody.ground_truth.well_centres_deg[4], [-12, 0])
    assert twobody.ground_truth.core.all() and "minimal" in twobody.notes[0]


def test_ground_truth_from_arrays_validates_labels():
    with pytest.raises(ValueError, match="well: labels must be 1-based"):
        ground_truth_from_arrays(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="well: must be a 1-D integer array"):
        ground_truth_from_arrays(np.array([1.5, 2.0]))


def test_refused_datasets_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset"):
        load_dataset(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty: not a dataset folder \(no ground_truth.npz\)"):
        load_dataset(tmp_path / "empty")
    bad = tmp_path / "labels.npz"
    np.savez(bad, cc1=np.zeros(3))
    with pytest.raises(DatasetError, match="labels.npz: missing field 'well'"):
        load_dataset(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match="junk.npz"):
        load_dataset(junk)


def test_star_with_a_different_particle_count_is_refused(tmp_path):
    write_dataset(tmp_path / "ds")
    star = tmp_path / "ds" / "particles.star"
    blocks = starfile.read(star, always_dict=True)
    starfile.write({"optics": blocks["optics"], "particles": blocks["particles"].iloc[:10]}, star, overwrite=True)
    with pytest.raises(DatasetError, match="particles.star: 10 particles, but ground_truth.npz has 600"):
        load_dataset(tmp_path / "ds").star_image_names()


def test_cryosparc_uids_of_the_dataset(tmp_path):
    write_dataset(tmp_path / "ds", n=50, star=False)
    (tmp_path / "ds" / "cryosparc").mkdir()
    table = np.zeros(50, dtype=[("uid", "<u8"), ("blob/idx", "<u4")])
    table["uid"] = np.arange(50, dtype=np.uint64) * 7 + 2**62
    with open(tmp_path / "ds" / "cryosparc" / "particles.cs", "wb") as fh:
        np.save(fh, table)
    np.testing.assert_array_equal(load_dataset(tmp_path / "ds").cryosparc_uids, table["uid"])

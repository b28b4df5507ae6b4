"""Hostile inputs to every reader of user files (issue 11): each is refused with one message
that names the file and says what is actually wrong, never a traceback, a hang or a fill of
memory: text in a number column, a truncated or ragged table, foreign cryoSPARC uids, a FIFO,
a device, a file far above the size its kind can have, a landscape without wells."""
import json
import os
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import starfile
from cryosparc.dataset import Dataset as CsDataset

from engine.formats.dataset import DatasetError, Dataset, load_dataset, synthetic_ground_truth
from engine.formats.ground_truth import save_ground_truth
from engine.formats.loaders import LoaderError, load_occupancy_map, load_output
from engine.formats.safe_pickle import PickleLoadError, load_pickle
from engine.formats.star import StarFileError, read_star_angles
from engine.landscape.io import LandscapeFileError, load_landscape, save_landscape
from engine.landscape.presets import load_preset

N = 30
TEXT_CELL = r"row 6, column 'x': 'abc' is not a number"


@pytest.fixture(scope="module")
def gt():
    return synthetic_ground_truth(load_preset("paper-3x4"), N, seed=8, chunk_size=20)


@pytest.fixture(scope="module")
def dataset(gt):
    return Dataset(gt)


def _table(dataset) -> pd.DataFrame:
    return pd.DataFrame({"rlnImageName": dataset.image_names, "x": np.arange(N, dtype=float) + 0.123456,
                         "y": np.ones(N)})


def test_a_text_cell_gets_the_same_message_from_star_and_csv(tmp_path, dataset):
    table = _table(dataset).astype({"x": object})
    table.loc[5, "x"] = "abc"
    starfile.write({"particles": table}, tmp_path / "t.star")
    table.to_csv(tmp_path / "t.csv", index=False)
    for name in ("t.star", "t.csv"):
        with pytest.raises(LoaderError, match=rf"{name}: {TEXT_CELL}$"):
            load_output(tmp_path / name, dataset)


def test_a_star_text_column_is_not_a_coordinate(tmp_path, dataset):
    table = _table(dataset).assign(rlnCtfImage=[f"ctf/{i}.mrc" for i in range(N)])
    starfile.write({"particles": table}, tmp_path / "named.star")
    assert load_output(tmp_path / "named.star", dataset).dim_names == ("x", "y")


def test_text_in_an_angle_column_names_row_and_column(tmp_path):
    angles = pd.DataFrame({"rlnAngleRot": ["10", "x"], "rlnAngleTilt": [1.0, 2.0], "rlnAnglePsi": [3.0, 4.0]})
    starfile.write({"particles": angles}, tmp_path / "poses.star")
    with pytest.raises(StarFileError, match=r"poses.star: row 2, column 'rlnAngleRot': 'x' is not a number"):
        read_star_angles(tmp_path / "poses.star")


def test_a_truncated_star_is_refused_not_read_with_its_last_number_cut(tmp_path, dataset):
    starfile.write({"particles": _table(dataset)}, tmp_path / "full.star")
    text = (tmp_path / "full.star").read_text().rstrip("\n")
    (tmp_path / "cut.star").write_text(text[:-4])  # ...29.123456 1.00 instead of 1.000000
    with pytest.raises(LoaderError, match=r"cut.star: does not end with a line break, so its last line "
                                          r"\('.*29.123456\\t1.00'\) was cut short: the file is truncated"):
        load_output(tmp_path / "cut.star", dataset)


def test_a_ragged_csv_says_which_row_is_short(tmp_path, dataset):
    lines = _table(dataset).to_csv(index=False).splitlines()
    lines[8] = lines[8].rsplit(",", 1)[0]
    (tmp_path / "ragged.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(LoaderError, match=r"ragged.csv: row 8 has 2 values, but the table has 3 columns "
                                          r"\(rlnImageName, x, y\): a ragged or truncated table"):
        load_output(tmp_path / "ragged.csv", dataset)
    (tmp_path / "hole.csv").write_text("index,x,y\n0,,2\n")
    with pytest.raises(LoaderError, match=r"hole.csv: row 1, column 'x': the cell is empty"):
        load_output(tmp_path / "hole.csv", dataset)


def test_foreign_cryosparc_uids_are_named_as_such(tmp_path, gt):
    root = tmp_path / "ds"
    (root / "cryosparc").mkdir(parents=True)
    save_ground_truth(gt, root / "ground_truth.npz")
    table = np.zeros(N, dtype=[("uid", "<u8")])
    table["uid"] = np.arange(N, dtype=np.uint64) + 1000
    with open(root / "cryosparc" / "particles.cs", "wb") as fh:
        np.save(fh, table)
    ds = Dataset(gt, root=root)
    columns = [("uid", np.arange(N, dtype=np.uint64) + 5000),
               ("components_mode_0/value", np.zeros(N, np.float32))]
    CsDataset(columns).save(tmp_path / "J9_particles.cs")
    with pytest.raises(LoaderError, match=r"J9_particles.cs: missing field blob/path and blob/idx \(needed to "
                                          r"match rows to particles by image, since 30 of its 30 uids \(e.g. 5000\) "
                                          r"are not in the dataset's cryosparc/particles.cs"):
        load_output(tmp_path / "J9_particles.cs", ds)


OUTPUT_NAMES = ["z.4.pkl", "J1_particles.cs", "emb.npy", "emb.npz", "emb.csv", "emb.txt", "emb.star",
                "run_projections_along_eigenvectors_all_particles.txt", "latent_coords.npy"]


@pytest.fixture
def fifo_named(tmp_path):
    def make(name):
        path = tmp_path / name
        os.mkfifo(path)
        return path
    return make


@pytest.mark.parametrize("name", OUTPUT_NAMES)
def test_no_loader_blocks_on_a_fifo(fifo_named, dataset, name):
    path = fifo_named(name)
    with pytest.raises(LoaderError, match=rf"{name}: is a named pipe \(FIFO\), not a regular file"):
        load_output(path, dataset)


@pytest.mark.parametrize("name", OUTPUT_NAMES)
def test_no_loader_reads_a_device_or_a_file_far_too_big(tmp_path, dataset, name):
    (tmp_path / "dev").mkdir()
    os.symlink("/dev/zero", tmp_path / "dev" / name)
    with pytest.raises(LoaderError, match=rf"{name}: is a character device, not a regular file"):
        load_output(tmp_path / "dev" / name, dataset)
    huge = tmp_path / name
    with open(huge, "wb") as fh:
        fh.truncate(40 * 1000**3)  # sparse: 40 GB announced, nothing written
    with pytest.raises(LoaderError, match=rf"{name}: is 40.0 GB, more than the \d+.0 GB that a .+ may be"):
        load_output(huge, dataset)


def test_pickles_occupancy_maps_datasets_and_landscapes_refuse_fifos(fifo_named, tmp_path):
    with pytest.raises(PickleLoadError, match=r"ind.pkl: is a named pipe"):
        load_pickle(fifo_named("ind.pkl"))
    with pytest.raises(LoaderError, match=r"S2_OM: is a named pipe"):
        load_occupancy_map(fifo_named("S2_OM"))
    with pytest.raises(DatasetError, match=r"gt.npz: is a named pipe"):
        load_dataset(fifo_named("gt.npz"))
    (tmp_path / "ds").mkdir()
    with pytest.raises(DatasetError, match=r"ds/ground_truth.npz: is a named pipe"):
        load_dataset(fifo_named("ds/ground_truth.npz"))
    with pytest.raises(LandscapeFileError, match=r"land.json: is a named pipe"):
        load_landscape(fifo_named("land.json"))
    with pytest.raises(LandscapeFileError, match=r"^/dev/zero: is a character device, not a regular file$"):
        load_landscape("/dev/zero")


def test_a_dataset_folder_with_a_fifo_for_its_landscape_or_cs_names_it(tmp_path, gt, fifo_named):
    root = tmp_path / "ds"
    (root / "cryosparc").mkdir(parents=True)
    save_ground_truth(gt, root / "ground_truth.npz")
    fifo_named("ds/cryosparc/particles.cs")
    with pytest.raises(DatasetError, match=r"cryosparc/particles.cs: is a named pipe"):
        load_dataset(root).cryosparc_uids
    fifo_named("ds/landscape.json")
    with pytest.raises(DatasetError, match=r"ds/landscape.json: is a named pipe"):
        load_dataset(root)


def test_a_landscape_file_without_wells_is_named(tmp_path):
    data = {"format_version": 1, "cc1_range_deg": [-5, 5], "cc2_range_deg": [-5, 5], "temperature_K": 300,
            "wells": []}
    (tmp_path / "empty.json").write_text(json.dumps(data))
    expected = r"empty.json: wells: the list is empty; a landscape file needs at least one well"
    with pytest.raises(LandscapeFileError, match=expected):
        load_landscape(tmp_path / "empty.json")
    with pytest.raises(LandscapeFileError, match=r"out.json: wells: the list is empty"):
        save_landscape(replace(load_preset("paper-3x4"), wells=()), tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()

"""``elbench verify DATASET``: exit 0 when every hash matches and the files agree, else 1 with
one line per problem naming the file."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.landscape.presets import load_preset
from engine.simulation.plan import SimulationPlan
from engine.simulation.run import run_simulation

ROOT = Path(__file__).resolve().parents[3]
STALE = "does not match its sha256 in manifest.json (damaged or changed since it was written)"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("verify") / "ds"
    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=250, box_size=32, chunk_size=100, seed=2)
    assert run_simulation(plan, folder, workers=1).status == "complete"
    return folder


def verify(folder):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "verify", str(folder)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def copy(dataset, tmp_path) -> Path:
    target = tmp_path / "ds"
    shutil.copytree(dataset, target)
    return target


def problems(run) -> list[str]:
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    return run.stderr.splitlines()


def test_an_intact_dataset_passes(dataset):
    run = verify(dataset)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"{dataset}: intact")


def test_a_stack_damaged_in_place_is_named(dataset, tmp_path):
    ds = copy(dataset, tmp_path)
    with open(ds / "particles/particles_00001.mrcs", "r+b") as fh:
        fh.seek(8192)
        fh.write(bytes(4096))
    assert problems(verify(ds)) == [f"{ds}: particles/particles_00001.mrcs: {STALE}"]


def test_star_rows_must_name_existing_frames(dataset, tmp_path):
    ds = copy(dataset, tmp_path)
    star = ds / "particles.star"
    star.write_text(star.read_text().replace("000050@particles/particles_00002.mrcs",
                                             "000051@particles/particles_00002.mrcs"))  # chunk 2 holds 50
    assert problems(verify(ds)) == [
        f"{ds}: particles.star: {STALE}",
        f"{ds}: particles.star: 1 rows name no existing stack frame (first: row 250, "
        "'000051@particles/particles_00002.mrcs')"]


def test_counts_must_agree_across_the_metadata_files(dataset, tmp_path):
    ds = copy(dataset, tmp_path)
    with np.load(ds / "ground_truth.npz", allow_pickle=False) as data:
        arrays = {k: (data[k][:-1] if data[k].shape[:1] == (250,) else data[k]) for k in data.files}
    np.savez(ds / "ground_truth.npz", **arrays)
    cs = np.load(ds / "cryosparc/particles.cs", allow_pickle=False)
    with open(ds / "cryosparc/particles.cs", "wb") as fh:
        np.save(fh, cs[:200])
    lines = problems(verify(ds))
    assert f"{ds}: ground_truth.npz: 249 particles, the manifest lists 250" in lines
    assert f"{ds}: cryosparc/particles.cs: 200 particles, the manifest lists 250" in lines
    assert f"{ds}: ground_truth.npz: {STALE}" in lines and len(lines) == 4


def test_missing_files_and_an_unfinished_dataset_are_named(dataset, tmp_path):
    ds = copy(dataset, tmp_path)
    (ds / "cryodrgn/ctf.pkl").unlink()
    (ds / "maps/ssu_mask.mrc").unlink()
    lines = problems(verify(ds))
    assert lines == [f"{ds}: maps/ssu_mask.mrc: is missing", f"{ds}: cryodrgn/ctf.pkl: is missing"]
    assert problems(verify(tmp_path / "nothing")) == [
        f"{tmp_path / 'nothing' / 'manifest.json'}: no such file (is {tmp_path / 'nothing'} a dataset folder?)"]
    (ds / "manifest.json").unlink()
    os.mkfifo(ds / "manifest.json")  # would block a reader for good
    assert problems(verify(ds)) == [f"{ds / 'manifest.json'}: is a named pipe (FIFO), not a regular file"]

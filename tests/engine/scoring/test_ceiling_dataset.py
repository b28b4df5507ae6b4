"""The ideal-observer ceiling of a real dataset folder: images, poses and CTF read back, the
ceiling against its controls, worker processes, a Dask cluster, stopping, and refused folders
and schedulers."""
import json
import shutil

import numpy as np
import pytest

from engine.formats.dataset import load_dataset
from engine.formats.dataset_geometry import dataset_object, read_dataset_geometry
from engine.formats.image_names import parse_image_names
from engine.formats.star import read_star_blocks
from engine.imaging.ctf import ctf_2d
from engine.imaging.projector import TwoBodyProjector
from engine.landscape.presets import load_preset
from engine.scoring.ceiling_dataset import LABELS, CeilingError, dataset_ceiling, dataset_snr_sweep, read_images
from engine.simulation.plan import SimulationPlan
from engine.simulation.run import run_simulation

N = 200


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ceiling") / "ds"
    plan = SimulationPlan(landscape=load_preset("paper-3x4"), n_particles=N, box_size=32, snr=10, max_shift_A=15.0,
                          chunk_size=120, write_cryosparc=False)
    assert run_simulation(plan, folder, workers=1).status == "complete"
    return folder


def test_images_minus_their_reprojection_are_the_manifests_noise(dataset):
    """Images from the stacks, poses, origins (A) and CTF from particles.star, the object from
    maps/ and the truth's cc: the residual is white noise of the manifest's sigma."""
    geo, obj = read_dataset_geometry(dataset), dataset_object(dataset)
    star = read_star_blocks(dataset / "particles.star")["particles"]
    gt = load_dataset(dataset).ground_truth
    positions, stacks, ok = parse_image_names(star["rlnImageName"])
    assert ok.all() and len(set(stacks)) == 2  # two chunks: both stacks are read
    images = read_images(dataset, stacks, positions, geo.box_size)
    ctf = ctf_2d(32, geo.apix_A, star["rlnDefocusU"], star["rlnDefocusV"], star["rlnDefocusAngle"], geo.optics)
    clean = TwoBodyProjector(obj).project(star[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy(),
                                          np.stack([gt.cc1_deg, gt.cc2_deg], axis=1),
                                          star[["rlnOriginXAngst", "rlnOriginYAngst"]].to_numpy(), ctf)
    assert np.abs(star["rlnOriginXAngst"]).max() > 1.0  # shifted particles, so the origins are tested
    residual = images - clean
    assert residual.std() == pytest.approx(geo.noise_sigma, rel=0.02)
    assert abs(np.corrcoef(residual.ravel(), clean.ravel())[0, 1]) < 0.02


def test_high_snr_ceiling_is_near_100_and_far_above_random(dataset):
    fractions = []
    c = dataset_ceiling(dataset, n_subsample=None, seed=0, workers=1, progress=fractions.append)
    assert [s.label for s in c.rows] == list(LABELS) and np.array_equal(c.subsample, np.arange(N))
    truth, rand, mean, bayes = c.rows
    assert truth.accuracy > 0.95 and bayes.accuracy > 0.9 and mean.accuracy > 0.9
    assert rand.accuracy < 0.3 and c.ci[rand.label][1] < c.ci[bayes.label][0]  # intervals apart
    assert c.ceiling is bayes and c.fraction_of_ceiling(bayes.accuracy / 2) == pytest.approx(0.5)
    lo, hi = c.ci[bayes.label]
    assert lo <= bayes.accuracy <= hi and all(s.n_scored == N for s in c.rows)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    doc = json.loads(json.dumps(c.as_dict()))
    assert doc["subsample"] == N and [r["label"] for r in doc["controls"] + doc["ceiling"]] == list(LABELS)


def test_worker_processes_do_not_change_the_result(dataset):
    one = dataset_ceiling(dataset, n_subsample=96, seed=3, workers=1)
    two = dataset_ceiling(dataset, n_subsample=96, seed=3, workers=2)
    assert two.workers == 2 and np.array_equal(one.subsample, two.subsample) and len(one.subsample) == 96
    for name in ("mean_deg", "basin_mass", "balanced_well", "map_well", "n_evaluations"):
        assert np.array_equal(getattr(one.result, name), getattr(two.result, name)), name
    assert one.ci == two.ci
    # the scores name dataset particles, not subsample rows
    assert np.array_equal(one.ceiling.particle_index, one.subsample)


def test_stopping_returns_none(dataset):
    assert dataset_ceiling(dataset, n_subsample=96, workers=1, should_stop=lambda: True) is None


def test_snr_sweep_of_the_dataset_rises_with_snr(dataset):
    low, high = dataset_snr_sweep(dataset, [0.05, 10], n_particles=48)
    assert low.accuracy < high.accuracy and high.accuracy > 0.8


def test_folders_that_cannot_have_a_ceiling_say_why(dataset, tmp_path):
    with pytest.raises(CeilingError, match=r"manifest\.json: no such file .*not a dataset made by elbench"):
        dataset_ceiling(tmp_path, 10)
    copy = tmp_path / "ds"
    shutil.copytree(dataset, copy, ignore=shutil.ignore_patterns("maps"))
    with pytest.raises(CeilingError, match=r"maps/lsu\.mrc.*a ceiling needs a dataset made by elbench, with its maps"):
        dataset_ceiling(copy, 10)
    shutil.copytree(dataset / "maps", copy / "maps")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["noise"].update(snr=None, sigma=0.0)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CeilingError, match="noiseless dataset"):
        dataset_ceiling(copy, 10)


def test_a_dask_cluster_gives_the_same_ceiling_and_stops(dataset, capsys):
    """Two worker processes of a real distributed LocalCluster on loopback (as a cluster's
    workers: each imports elbench and builds its own observer), against one local process."""
    from distributed import LocalCluster

    from main import main

    local = dataset_ceiling(dataset, n_subsample=96, seed=3, workers=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tcp", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        seen, lines = [], []
        on_dask = dataset_ceiling(dataset, n_subsample=96, seed=3, scheduler=cluster.scheduler_address,
                                  progress=seen.append, log=lines.append)
        assert dataset_ceiling(dataset, n_subsample=96, scheduler=cluster.scheduler_address,
                               should_stop=lambda: True) is None
        assert main(["evaluate", str(dataset), "--ceiling", "--subsample", "96", "--no-latent", "--json",
                     "--scheduler", cluster.scheduler_address]) == 0
    assert on_dask.workers == 2 and f"on the Dask cluster at {cluster.scheduler_address}" in lines[0]
    assert seen[-1] == 1.0 and seen == sorted(seen)
    for name in ("mean_deg", "basin_mass", "balanced_well", "map_well", "n_evaluations"):
        assert np.array_equal(getattr(local.result, name), getattr(on_dask.result, name)), name
    assert local.ci == on_dask.ci
    printed = json.loads(capsys.readouterr().out)["ceiling"]
    bayes = [row for row in printed["ceiling"] if row["label"] == LABELS[-1]][0]
    expected = dataset_ceiling(dataset, n_subsample=96, seed=0, workers=1).ceiling.accuracy
    assert printed["workers"] == 2 and bayes["accuracy"] == pytest.approx(expected)


def test_an_unusable_scheduler_is_refused_naming_it(dataset, capsys, tmp_path):
    from main import main

    np.save(tmp_path / "output.npy", np.zeros((N, 2)))
    with pytest.raises(CeilingError, match="'nowhere': not a Dask scheduler address"):
        dataset_ceiling(dataset, n_subsample=10, scheduler="nowhere")
    assert main(["evaluate", str(dataset), "--ceiling", "--scheduler", "nowhere", "--json"]) == 2
    assert "--scheduler 'nowhere': not a Dask scheduler address (expected tcp://HOST:PORT" in capsys.readouterr().err
    assert main(["evaluate", str(dataset), str(tmp_path / "output.npy"), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "--scheduler needs --ceiling" in capsys.readouterr().err

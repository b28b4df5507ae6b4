"""The ideal observer bounds the real methods: on the images of tests/fixtures/
elbench_paper3x4_3000 (3,000 particles, paper-3x4, box 64, SNR 1), whose RELION multibody and
cryoDRGN outputs are real runs.

The fixture keeps the dataset's metadata, not its stacks, so the dataset is simulated again from
its manifest's plan (deterministic: the stack's SHA-256 is the manifest's, so these are the
very images the methods saw). Measured (seed 0, 1,000 particles): Bayes label 95.1 %
(95 % CI 93.0-97.3), posterior mean 95.9 %, ground truth 99.6 %, random 12.0 %; RELION
multibody 30.9 %, cryoDRGN 11.3 % on all 3,000.

Per-well maps (relion_reconstruct) from the true labels of the three largest wells: each is
closer to its well's true map than a map of as many random particles (correlation 0.991 vs
0.986, 0.987 vs 0.982, 0.981 vs 0.964; FSC 0.5 at 21.6-22.4 A vs 22.1-23.4 A). They do not
reach the full set's: the map of all 3,000 particles is closer still (0.993, 0.993, 0.981; FSC
0.5 at 20.0-20.2 A), since at SNR 1 a well of 366-724 particles is limited by its noise more
than the full set is blurred by the other wells' conformations.
"""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from engine.formats.dataset import load_dataset
from engine.formats.loaders import load_output
from engine.methods.well_maps import plan_well_maps, run_well_maps
from engine.scoring.ceiling_dataset import dataset_ceiling
from engine.scoring.report import evaluate_output
from engine.simulation.plan import plan_from_dict
from engine.simulation.run import run_simulation
from engine.structure.fsc import compare_maps
from engine.structure.maps import read_map

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "elbench_paper3x4_3000"
METHODS = {"RELION multibody": "relion_multibody", "cryoDRGN": "cryodrgn/z.25.pkl"}
N_SUBSAMPLE = 1000
N_WELLS = 12


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """The fixture's dataset simulated again from its manifest, checked image for image."""
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    folder = tmp_path_factory.mktemp("paper3x4_3000") / "ds"
    assert run_simulation(plan_from_dict(manifest["plan"]), folder, workers=1).status == "complete"
    (chunk,) = manifest["chunks"]
    assert hashlib.sha256((folder / chunk["file"]).read_bytes()).hexdigest() == chunk["sha256"]
    for name in ("particles.star", "ground_truth.npz"):
        assert (folder / name).read_bytes() == (FIXTURE / name).read_bytes()
    return folder


@pytest.fixture(scope="module")
def method_accuracy():
    """Each real method's paper Accuracy on components 1, 2, as ``evaluate`` gives it."""
    ds = load_dataset(FIXTURE)
    return {label: evaluate_output(ds, load_output(FIXTURE / path, ds)).scores.accuracy
            for label, path in METHODS.items()}


def test_the_methods_scores_are_the_fixtures(method_accuracy):
    assert method_accuracy["RELION multibody"] == pytest.approx(0.3091, abs=5e-4)
    assert method_accuracy["cryoDRGN"] == pytest.approx(0.1125, abs=5e-4)


def test_the_ideal_observer_bounds_every_real_method_and_clears_chance(dataset, method_accuracy):
    c = dataset_ceiling(dataset, N_SUBSAMPLE, seed=0, workers=1)
    truth, rand, mean, bayes = c.rows
    assert len(c.subsample) == N_SUBSAMPLE and bayes.n_scored == N_SUBSAMPLE and c.snr == 1.0
    lo, hi = c.ci[bayes.label]
    for label, accuracy in method_accuracy.items():
        assert hi >= accuracy, (label, accuracy, (lo, hi))
    # far above chance (1/12) and the random control; short of the ground-truth control
    assert lo > 0.5 and lo > c.ci[rand.label][1]
    assert bayes.accuracy <= truth.accuracy + 0.01
    assert mean.accuracy > 0.5  # the metric on the posterior means is as far above the methods


def test_true_label_well_maps_beat_random_particles_of_the_same_count(dataset, tmp_path):
    """The map-side ceiling per well: the true labels of the three largest wells against as
    many particles drawn at random from the whole set (relion_reconstruct, the wells' true maps
    as references)."""
    well = np.load(dataset / "ground_truth.npz")["well"].astype(np.int64)
    largest = np.argsort(np.bincount(well, minlength=N_WELLS + 1)[1:])[::-1][:3] + 1
    truth = run_well_maps(plan_well_maps(dataset, np.where(np.isin(well, largest), well, 0), tmp_path / "truth",
                                         N_WELLS))
    random = np.zeros_like(well)
    rng = np.random.default_rng(0)
    for w in largest:  # disjoint random draws of each well's size
        free = np.flatnonzero(random == 0)
        random[rng.choice(free, int(np.sum(well == w)), replace=False)] = w
    drawn = run_well_maps(plan_well_maps(dataset, random, tmp_path / "random", N_WELLS))
    for w in largest:
        reference, apix = read_map(dataset / "maps" / f"well_{w:02d}.mrc")
        true_map, random_map = (read_map(r.wells[w - 1].map_path)[0] for r in (truth, drawn))
        ours, theirs = compare_maps(true_map, reference, apix), compare_maps(random_map, reference, apix)
        assert ours.correlation > theirs.correlation + 0.002, (w, ours.correlation, theirs.correlation)
        assert ours.resolution_fsc05_A <= theirs.resolution_fsc05_A, (w, ours, theirs)

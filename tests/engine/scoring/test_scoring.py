"""The paper's metric: hand-computed cases, scikit-learn, limits, invariances, real runs."""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, confusion_matrix

from engine.formats.dataset import Dataset, ground_truth_from_arrays, load_dataset, synthetic_ground_truth
from engine.formats.loaders import build_output, load_output
from engine.landscape.presets import load_preset
from engine.scoring.metric import ScoringError, nearest_centre, score, score_labels

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def output_for(gt, coords, index=None, label="test"):
    return build_output("emb.npy", Dataset(gt), coords, kind="generic", label=label, index=index)


@pytest.fixture(scope="module")
def paper_gt():
    return synthetic_ground_truth(load_preset("paper-3x4"), 60_000, seed=1)


def test_hand_computed_one_dimensional_case():
    # well 1 at x = 0, 1 (centre 0.5); well 2 at x = 10, 3 (centre 6.5).
    # x = 3 is 2.5 from centre 1 and 3.5 from centre 2: assigned to well 1 -> recall 1, 1/2.
    gt = ground_truth_from_arrays(np.array([1, 1, 2, 2]))
    s = score(gt, output_for(gt, np.array([[0.0], [1.0], [10.0], [3.0]])), dims=(0,))
    np.testing.assert_allclose(s.centres, [[0.5], [6.5]])
    np.testing.assert_array_equal(s.confusion, [[2, 0], [1, 1]])
    np.testing.assert_allclose(s.recall, [1.0, 0.5])
    assert s.accuracy == pytest.approx(0.75) and s.recall_std == pytest.approx(0.25)
    assert s.recall_by_well() == {1: 1.0, 2: 0.5} and s.n_scored == 4
    np.testing.assert_array_equal(s.assigned, [1, 1, 2, 1])


def test_hand_computed_two_dimensional_case_with_squared_euclidean_distance():
    # centres: well 1 (0, 0), well 2 (4, 0), well 3 (0, 3).
    coords = np.array([[-1, 0], [1, 0], [0, -1], [0, 1],   # well 1 -> mean (0, 0)
                       [3, 0], [5, 0],                     # well 2 -> mean (4, 0)
                       [1.9, 1.6], [-1.9, 4.4]],           # well 3 -> mean (0, 3)
                      dtype=float)
    labels = np.array([1, 1, 1, 1, 2, 2, 3, 3])
    r = score_labels(coords, labels)
    np.testing.assert_allclose(r["centres"], [[0, 0], [4, 0], [0, 3]])
    # (1.9, 1.6): d1^2 = 6.17, d2^2 = 7.97, d3^2 = 5.57 -> well 3; (1, 0): d1 1, d2 9 -> well 1
    np.testing.assert_array_equal(r["assigned"], [1, 1, 1, 1, 2, 2, 3, 3])
    coords[6] = [2.2, 1.2]  # d1^2 = 6.28, d2^2 = 4.78, d3^2 = 8.08 -> well 2 (centres move too)
    r = score_labels(coords, labels)
    c = r["centres"]
    expected = np.argmin(((coords[:, None, :] - c[None]) ** 2).sum(-1), axis=1) + 1
    np.testing.assert_array_equal(r["assigned"], expected)
    assert r["assigned"][6] == 2 and r["recall"][2] == 0.5


def test_ties_go_to_the_lower_numbered_well():
    centres = np.array([[1.0, 0.0], [-1.0, 0.0]])
    assert nearest_centre(np.array([[0.0, 5.0]]), centres)[0] == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_sklearn_balanced_accuracy_and_confusion_matrix(seed):
    rng = np.random.default_rng(seed)
    n_wells = 12
    labels = rng.choice(np.arange(1, n_wells + 1), size=20_000, p=rng.dirichlet(np.ones(n_wells)))
    truth = np.stack([labels % 4, labels // 4], axis=1).astype(float)
    coords = np.column_stack([truth + rng.normal(0, 0.6, truth.shape), rng.normal(size=(len(labels), 3))])
    gt = ground_truth_from_arrays(labels)
    for dims in [(0, 1), (1, 3), None]:
        s = score(gt, output_for(gt, coords), dims=dims)
        assert s.accuracy == pytest.approx(balanced_accuracy_score(labels, s.assigned), abs=1e-12)
        np.testing.assert_array_equal(s.confusion, confusion_matrix(labels, s.assigned, labels=s.wells))
    assert score(gt, output_for(gt, coords), dims=None).dims == (0, 1, 2, 3, 4)


def test_random_embedding_scores_one_in_twelve(paper_gt):
    coords = np.random.default_rng(5).normal(size=(len(paper_gt), 2))
    s = score(paper_gt, output_for(paper_gt, coords))
    # coordinates independent of the labels: recall(n) = P(cell n), and the cells' P sum to 1
    assert s.accuracy == pytest.approx(1 / 12, abs=0.012)
    assert len(s.wells) == 12


def test_ground_truth_coordinates_score_near_100_and_noise_lowers_it(paper_gt):
    truth = np.stack([paper_gt.cc1_deg, paper_gt.cc2_deg], axis=1)
    perfect = score(paper_gt, output_for(paper_gt, truth))
    assert perfect.accuracy > 0.98 and perfect.recall.min() > 0.97
    rng = np.random.default_rng(0)
    accuracies = [score(paper_gt, output_for(paper_gt, truth + rng.normal(0, sigma, truth.shape))).accuracy
                  for sigma in (0.5, 2.0, 4.0, 8.0)]
    assert all(a > b for a, b in zip([perfect.accuracy] + accuracies, accuracies))
    assert accuracies[-1] < 0.5


def test_invariant_to_rotation_translation_scale_and_row_order(paper_gt):
    rng = np.random.default_rng(3)
    truth = np.stack([paper_gt.cc1_deg, paper_gt.cc2_deg], axis=1) + rng.normal(0, 2.0, (len(paper_gt), 2))
    base = score(paper_gt, output_for(paper_gt, truth))
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = score(paper_gt, output_for(paper_gt, 3.5 * truth @ rot.T + [100.0, -7.0]))
    np.testing.assert_array_equal(moved.confusion, base.confusion)
    order = rng.permutation(len(paper_gt))
    shuffled = score(paper_gt, output_for(paper_gt, truth[order], index=order))
    np.testing.assert_array_equal(shuffled.confusion, base.confusion)


def test_partial_output_is_scored_on_kept_particles(paper_gt):
    keep = np.sort(np.random.default_rng(4).choice(len(paper_gt), 10_000, replace=False))
    truth = np.stack([paper_gt.cc1_deg, paper_gt.cc2_deg], axis=1)
    s = score(paper_gt, output_for(paper_gt, truth[keep], index=keep))
    assert s.n_scored == 10_000 and s.n_dropped == len(paper_gt) - 10_000
    np.testing.assert_array_equal(s.n_true, np.bincount(paper_gt.well[keep], minlength=13)[1:])
    assert any("10000 particles the output kept" in n for n in s.notes)


def test_core_only_and_well_subset():
    land = replace(load_preset("paper-3x4"), core_radius_deg=2.0)
    gt = synthetic_ground_truth(land, 30_000, seed=2)
    noisy = np.stack([gt.cc1_deg, gt.cc2_deg], axis=1) + np.random.default_rng(1).normal(0, 1.5, (len(gt), 2))
    out = output_for(gt, noisy)
    everyone = score(gt, out)
    core = score(gt, out, core_only=True)
    assert core.n_scored == int(gt.core.sum()) < len(gt) and core.core_only
    assert core.accuracy > everyone.accuracy
    subset = score(gt, out, wells=[1, 6, 12])
    assert subset.wells.tolist() == [1, 6, 12] and subset.confusion.shape == (3, 3)
    assert subset.n_scored == int(np.isin(gt.well, [1, 6, 12]).sum())
    assert set(np.unique(subset.assigned)) <= {1, 6, 12}
    assert subset.accuracy > everyone.accuracy  # three well-separated wells are easier than twelve


def test_wells_without_particles_are_left_out():
    gt = ground_truth_from_arrays(np.array([1, 1, 3, 3]), well_centres_deg=np.zeros((4, 2)))
    s = score(gt, output_for(gt, np.array([[0.0], [0.1], [5.0], [5.1]])), dims=(0,))
    assert s.wells.tolist() == [1, 3] and s.accuracy == 1.0
    s = score(gt, output_for(gt, np.array([[0.0], [0.1], [5.0], [5.1]])), dims=(0,), wells=[1, 2])
    assert s.wells.tolist() == [1] and any("[2]" in n for n in s.notes)


def test_a_well_the_method_dropped_is_reported_not_silently_averaged_away():
    # wells 1, 2, 3 at x = 0, 10, 20; the method kept no particle of well 2
    gt = ground_truth_from_arrays(np.repeat([1, 2, 3], 4), well_centres_deg=np.zeros((3, 2)))
    kept = np.flatnonzero(gt.well != 2)
    coords = np.where(np.asarray(gt.well)[kept] == 1, 0.0, 20.0)[:, None] + np.arange(len(kept))[:, None] * 0.01
    s = score(gt, output_for(gt, coords, index=kept), dims=(0,))
    assert s.wells.tolist() == [1, 3] and s.accuracy == 1.0  # the metric itself is unchanged
    assert s.missing_wells == (2,)
    (note,) = [n for n in s.notes if "left out of the mean" in n]
    assert "wells [2]" in note and "dropped all 4 of its particles" in note and "only 2 of 3 wells" in note
    complete = score(gt, output_for(gt, np.repeat([0.0, 10.0, 20.0], 4)[:, None]), dims=(0,))
    assert complete.missing_wells == () and not any("left out of the mean" in n for n in complete.notes)


def test_missing_wells_say_why_empty_in_the_dataset_or_removed_by_core_only():
    well = np.array([1, 1, 1, 3, 3, 3, 4, 4])
    core = np.array([True, True, True, True, True, True, False, False])
    gt = ground_truth_from_arrays(well, core=core, well_centres_deg=np.zeros((4, 2)))
    coords = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2], [9.0], [9.1]])
    s = score(gt, output_for(gt, coords), dims=(0,), core_only=True)
    assert s.missing_wells == (2, 4) and s.wells.tolist() == [1, 3]
    (note,) = [n for n in s.notes if "left out of the mean" in n]
    assert "2: the dataset has no particle in it" in note and "4: core-only left none" in note
    chosen = score(gt, output_for(gt, coords), dims=(0,), wells=[1, 2])
    assert chosen.missing_wells == (2,) and "only 1 of 2 wells" in " ".join(chosen.notes)


def test_refused_choices_name_the_output_file():
    gt = ground_truth_from_arrays(np.array([1, 2, 1, 2]))
    out = output_for(gt, np.zeros((4, 3)))
    with pytest.raises(ScoringError, match=r"emb.npy: dimension 3 does not exist \(the output has 3 dimensions: 0..2\)"):
        score(gt, out, dims=(0, 3))
    with pytest.raises(ScoringError, match="emb.npy: dimension chosen twice"):
        score(gt, out, dims=(1, 1))
    with pytest.raises(ScoringError, match="emb.npy: no output dimension chosen"):
        score(gt, out, dims=())
    with pytest.raises(ScoringError, match=r"emb.npy: there is no well 7 \(the dataset has wells 1..2\)"):
        score(gt, out, wells=[1, 7])
    other = ground_truth_from_arrays(np.array([1, 2, 1]))
    with pytest.raises(ScoringError, match="emb.npy: was matched to a dataset of 4 particles, but the ground truth has 3"):
        score(other, out)


def test_real_relion_multibody_run_first_300_particles():
    """README: 67.1 % over all 3000 particles; the first 300 alone give 70.13 %."""
    ds = load_dataset(FIXTURES / "relion" / "ground_truth.first300.npz")
    out = load_output(FIXTURES / "relion" / "analyse_projections_along_eigenvectors_all_particles.first300.txt", ds)
    s = score(ds, out, dims=(0, 1))
    assert s.accuracy == pytest.approx(0.70126, abs=5e-5)
    assert s.recall_std == pytest.approx(0.11621, abs=5e-5)
    assert 0.48 < s.recall.min() and s.recall.max() < 0.85 and s.n_scored == 300
    # the unbalanced ("micro") accuracy differs: the metric must be the per-well mean
    assert np.mean(s.assigned == ds.ground_truth.well) != pytest.approx(s.accuracy, abs=1e-4)
    assert score(ds, out, dims=None).accuracy == pytest.approx(0.74334, abs=5e-5)


def test_real_cryodrgn_run_3000_particles():
    ds = load_dataset(FIXTURES / "cryodrgn" / "twobody" / "ground_truth.npz")
    out = load_output(FIXTURES / "cryodrgn" / "twobody" / "z.25.pkl", ds)
    first_two = score(ds, out, dims=(0, 1))
    assert first_two.accuracy == pytest.approx(0.28398, abs=5e-5) and first_two.n_scored == 3000
    assert score(ds, out, dims=None).accuracy == pytest.approx(0.46470, abs=5e-5)

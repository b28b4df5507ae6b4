"""CryoBench's latent metrics: the invariants the definitions promise (perfect for the truth
and for any similarity transform of it, chance for noise, the asymmetry of information
imbalance when the output loses a coordinate), agreement with a brute-force O(n^2) version,
ties, and the precision of the subsample."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine.scoring.latent_metrics import (
    DEFAULT_SUBSAMPLE, information_imbalance, latent_metrics, max_k, neighbourhood_similarity,
)


def _truth(n: int, seed: int = 0) -> np.ndarray:
    """(n, 2) continuous (cc1, cc2) in degrees, as elbench samples them (no ties)."""
    return np.random.default_rng(seed).uniform(-30, 30, (n, 2))


def _brute_force(a: np.ndarray, b: np.ndarray, k_max: int):
    """Similarity curve (k = 1..k_max) and (Delta(a->b), Delta(b->a)) from full n x n
    distance matrices, ordering neighbours by (distance, row) with a stable sort."""
    n = len(a)
    orders, ranks = [], []
    for x in (a, b):
        d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
        np.fill_diagonal(d, np.inf)
        order = np.argsort(d, axis=1, kind="stable")[:, :n - 1]
        rank = np.zeros((n, n), np.int64)
        rank[np.arange(n)[:, None], order] = np.arange(1, n)
        orders.append(order)
        ranks.append(rank)
    curve = np.array([np.mean([len(np.intersect1d(orders[0][i, :k], orders[1][i, :k])) / k
                               for i in range(n)]) for k in range(1, k_max + 1)])
    rows = np.arange(n)
    delta_ab = 2 / n * ranks[1][rows, orders[0][:, 0]].mean()
    delta_ba = 2 / n * ranks[0][rows, orders[1][:, 0]].mean()
    return curve, (delta_ab, delta_ba)


def test_identity_is_perfect_at_every_k_and_imbalance_is_its_minimum():
    truth = _truth(3000)
    m = latent_metrics(truth, truth)
    assert m.n_used == 3000 and m.k[0] == 1 and m.k[-1] == max_k(3000) == 299
    np.testing.assert_array_equal(m.similarity, 1.0)
    assert m.similarity_summary == 1.0
    # 2 / n: every particle's nearest neighbour has rank 1 in the other space
    assert m.imbalance_truth_to_output == m.imbalance_output_to_truth == 2 / 3000


def test_rotated_scaled_shifted_output_is_as_good_as_the_truth():
    truth = _truth(3000, seed=1)
    angle = np.deg2rad(37.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    output = 0.013 * truth @ rotation.T + [4.0, -2.0]  # rad-like units, rotated, moved
    m = latent_metrics(truth, output)
    np.testing.assert_allclose(m.similarity, 1.0, atol=1e-3)  # rounding may swap a near-tie
    assert m.similarity_summary > 0.999
    assert m.imbalance_truth_to_output < 1.01 * 2 / 3000
    assert m.imbalance_output_to_truth < 1.01 * 2 / 3000


def test_noise_output_scores_chance():
    n = 2500
    truth = _truth(n, seed=2)
    output = np.random.default_rng(3).normal(size=(n, 5))
    m = latent_metrics(truth, output)
    np.testing.assert_allclose(m.chance, m.k / (n - 1))
    # Per k, the mean over n particles of a hypergeometric fraction: std ~ sqrt(chance / (k n)).
    tolerance = 5 * np.sqrt(m.chance / (m.k * n)) + 1e-3
    assert np.all(np.abs(m.similarity - m.chance) < tolerance)
    assert m.similarity_summary == pytest.approx(0.055, abs=0.005)  # mean radius over 1..10 %
    # a random rank among n - 1 has mean n / 2: Delta ~ 1, std ~ 2 * 0.29 / sqrt(n) ~ 0.01
    assert m.imbalance_truth_to_output == pytest.approx(1.0, abs=0.05)
    assert m.imbalance_output_to_truth == pytest.approx(1.0, abs=0.05)


def test_an_output_that_loses_cc2_is_predicted_by_the_truth_but_does_not_predict_it():
    truth = _truth(2500, seed=4)
    m = latent_metrics(truth, truth[:, :1])  # keeps cc1 exactly, nothing of cc2
    # truth neighbours share cc1, so they are near in the output; output neighbours share cc1
    # only and are anywhere in cc2: Glielmo et al.'s asymmetry.
    assert m.imbalance_truth_to_output < 0.05
    assert m.imbalance_output_to_truth > 0.4
    assert m.imbalance_output_to_truth > 10 * m.imbalance_truth_to_output
    assert 0.1 < m.similarity_summary < 0.6


def test_agrees_with_brute_force_on_a_small_random_case():
    rng = np.random.default_rng(5)
    truth = _truth(300, seed=5)
    output = np.column_stack([truth @ rng.normal(size=(2, 2)), rng.normal(size=300)])
    output += rng.normal(0, 5.0, output.shape)
    curve, deltas = _brute_force(truth, output, 60)
    np.testing.assert_allclose(neighbourhood_similarity(truth, output, 60), curve, rtol=0, atol=1e-12)
    np.testing.assert_allclose(information_imbalance(truth, output), deltas, rtol=0, atol=1e-12)
    assert 0.2 < curve[-1] < 0.9 and 0.05 < deltas[0] < 0.9  # a case neither perfect nor chance


def test_ties_follow_the_row_order_rule_exactly_like_brute_force():
    rng = np.random.default_rng(6)
    # integer points on a small grid: many duplicates and equal distances, in both spaces;
    # the output a discrete "class" coordinate with big tie groups straddling every k
    truth = rng.integers(0, 6, (250, 2)).astype(float)
    output = (truth[:, :1] // 2 + rng.integers(0, 2, (250, 1))).astype(float)
    curve, deltas = _brute_force(truth, output, 40)
    np.testing.assert_allclose(neighbourhood_similarity(truth, output, 40), curve, rtol=0, atol=1e-12)
    np.testing.assert_allclose(information_imbalance(truth, output), deltas, rtol=0, atol=1e-12)
    same_curve, same_deltas = _brute_force(truth, truth, 40)
    np.testing.assert_array_equal(same_curve, 1.0)  # the rule: one order in both spaces
    assert np.allclose(information_imbalance(truth, truth), same_deltas)
    assert same_deltas == (2 / 250, 2 / 250)


def test_subsample_is_seeded_and_two_seeds_agree_within_the_stated_precision():
    n, size = 100_000, 2000
    rng = np.random.default_rng(7)
    truth = _truth(n, seed=7)
    output = np.column_stack([truth + rng.normal(0, 4.0, (n, 2)), rng.normal(size=(n, 4))])
    a = latent_metrics(truth, output, n_subsample=size, seed=0)
    b = latent_metrics(truth, output, n_subsample=size, seed=1)
    assert a.n_used == b.n_used == size and a.n_particles == n
    # bench_latent_metrics.py measures a seed-to-seed std of about 0.005 (similarity summary)
    # and 0.002 (imbalances) at 2,000 particles; two seeds may differ by ~sqrt(2) of that:
    # 0.03 is over 4 sigma
    assert abs(a.similarity_summary - b.similarity_summary) < 0.03
    assert abs(a.imbalance_truth_to_output - b.imbalance_truth_to_output) < 0.03
    assert abs(a.imbalance_output_to_truth - b.imbalance_output_to_truth) < 0.03
    assert 0.1 < a.similarity_summary < 0.9  # informative, not perfect: the precision matters
    assert 0.02 < a.imbalance_truth_to_output < 0.5
    again = latent_metrics(truth, output, n_subsample=size, seed=0)
    assert again.similarity_summary == a.similarity_summary
    assert again.imbalance_output_to_truth == a.imbalance_output_to_truth
    assert latent_metrics(truth[:3000], output[:3000]).n_used == 3000  # fewer than the default: all
    assert DEFAULT_SUBSAMPLE > 3000


def test_nan_rows_and_bad_shapes_are_refused_with_what_is_wrong():
    truth = _truth(100)
    output = truth.copy()
    output[[7, 42], 1] = np.nan
    with pytest.raises(ValueError, match=r"output: 2 of 100 rows have NaN.*first rows 7, 42"):
        latent_metrics(truth, output)
    bad_truth = truth.copy()
    bad_truth[3, 0] = np.inf
    with pytest.raises(ValueError, match=r"truth_deg: 1 of 100 rows.*first rows 3"):
        latent_metrics(bad_truth, output)
    with pytest.raises(ValueError, match="99 rows but truth_deg has 100"):
        latent_metrics(truth, truth[:99])
    with pytest.raises(ValueError, match=r"expected \(N, 2\)"):
        latent_metrics(np.zeros((100, 3)), truth)
    with pytest.raises(ValueError, match="at least 3"):
        latent_metrics(truth[:2], truth[:2])
    with pytest.raises(ValueError, match="same points in both spaces"):
        neighbourhood_similarity(truth, truth[:50], 5)
    with pytest.raises(ValueError, match="k_max: must be 1..99"):
        neighbourhood_similarity(truth, truth, 100)


def test_result_is_json_ready_and_a_stopped_job_returns_none():
    truth = _truth(500)
    fractions = []
    m = latent_metrics(truth, truth, progress=fractions.append)
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    d = json.loads(json.dumps(m.as_dict()))
    assert d["n_used"] == 500 and d["neighbourhood_similarity"]["summary"] == 1.0
    assert len(d["neighbourhood_similarity"]["k"]) == len(m.k)
    assert latent_metrics(truth, truth, should_stop=lambda: True) is None

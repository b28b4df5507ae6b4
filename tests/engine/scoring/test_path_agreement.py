"""Path agreement: the truth agrees with itself, small noise nearly, pure noise hardly; the report."""
import csv
import json
import math

import numpy as np
import pytest

from engine.formats.dataset import Dataset, synthetic_ground_truth
from engine.formats.loaders import build_output
from engine.landscape.presets import load_preset
from engine.scoring.metric import score
from engine.scoring.path_agreement import (EMPTY_BIN_MARGIN_KT, filled_free_energy, neighbouring_pairs,
                                           path_agreement_of)
from engine.scoring.recovered_landscape import recovered_landscape
from engine.scoring.report import evaluate_output, methods_json, paths_table, write_report


@pytest.fixture(scope="module")
def paper():
    land = load_preset("paper-3x4")
    gt = synthetic_ground_truth(land, 100_000, seed=3)
    return Dataset(gt, land), np.column_stack([gt.cc1_deg, gt.cc2_deg])


def agreement(dataset, coords):
    out = build_output("emb.npy", dataset, coords, kind="generic", label="m")
    s = score(dataset.ground_truth, out, dims=(0, 1))
    return path_agreement_of(dataset, s, recovered_landscape(coords[s.particle_index],
                                                             dataset.ground_truth.kT_kcal_per_mol))


def test_neighbouring_pairs_are_the_basins_sharing_a_border(paper):
    pairs = neighbouring_pairs(paper[0].landscape.grid())
    assert {(1, 2), (2, 3), (3, 4), (1, 5), (4, 8), (8, 12), (11, 12)} <= set(pairs)
    assert (1, 12) not in pairs and (1, 3) not in pairs
    assert all(i < j and s > 0 for (i, j), s in pairs.items())


def test_true_coordinates_agree_perfectly(paper):
    dataset, true = paper
    a = agreement(dataset, true)
    assert len(a.pairs) == len(neighbouring_pairs(dataset.landscape.grid()))
    assert a.score == 1.0 and a.sequence_agreement == 1.0
    assert a.mean_abs_barrier_error_kcal_per_mol == 0.0


def test_true_coordinates_with_small_noise_recover_routes_and_barriers(paper):
    dataset, true = paper
    noisy = true + np.random.default_rng(0).normal(0.0, 0.1, true.shape)
    a = agreement(dataset, noisy)
    assert a.sequence_agreement >= 0.9
    assert a.mean_abs_barrier_error_kcal_per_mol < 0.15
    assert a.score > 0.75          # pure noise: about 0.05
    # the barriers are real: of the order of the designed saddles
    for p in a.pairs:
        assert 0.3 < p.reference.barrier_kcal_per_mol < 1.5 * p.designed_saddle_kcal_per_mol + 0.3


def test_scale_and_shift_of_the_output_do_not_matter(paper):
    """The recovered landscape's G is -kT ln(p/p_max): units of the output do not change it."""
    dataset, true = paper
    a = agreement(dataset, 3.0 * true + 7.0)
    assert a.score == pytest.approx(1.0) and a.sequence_agreement == 1.0


def test_pure_noise_scores_low(paper):
    dataset, true = paper
    a = agreement(dataset, np.random.default_rng(1).normal(size=true.shape))
    assert a.score < 0.2
    assert a.mean_abs_barrier_error_kcal_per_mol > 0.8


def test_empty_bins_become_a_barrier_above_the_highest_observed(paper):
    kT = paper[0].ground_truth.kT_kcal_per_mol
    rl = recovered_landscape(np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [3.0, 3.0]]), kT, bins=4,
                             value_range=((0, 4), (0, 4)))
    g = filled_free_energy(rl)
    assert np.isfinite(g).all()
    highest = np.nanmax(rl.free_energy)
    assert highest == pytest.approx(kT * math.log(2))
    np.testing.assert_allclose(g[np.isnan(rl.free_energy)], highest + EMPTY_BIN_MARGIN_KT * kT)


def test_report_carries_the_paths(paper, tmp_path):
    dataset, true = paper
    small = Dataset(dataset.ground_truth.subset(np.arange(3000)), dataset.landscape)
    out = build_output("emb.npy", small, true[:3000], kind="generic", label="truth")
    report = evaluate_output(small, out, latent=False)
    assert report.paths is not None and report.paths.score == 1.0
    doc = methods_json([report])["methods"][0]["paths"]
    assert doc["score"] == 1.0 and len(doc["pairs"]) == len(report.paths.pairs)
    assert doc["pairs"][0]["true_visits"] == doc["pairs"][0]["recovered_visits"]
    assert "truth" in paths_table([report]) and "path agreement 1.000" in paths_table([report])
    write_report(tmp_path, small, [report])
    rows = list(csv.DictReader(open(tmp_path / "paths_truth.csv")))
    assert len(rows) == len(report.paths.pairs)
    assert rows[0]["true_visits"] == rows[0]["recovered_visits"] and rows[0]["same_route"] == "True"
    saved = json.loads((tmp_path / "scores.json").read_text())["methods"][0]["paths"]
    assert saved["score"] == 1.0
    # without a designed landscape there are no neighbouring pairs to compare
    bare = Dataset(small.ground_truth)
    assert evaluate_output(bare, build_output("emb.npy", bare, true[:3000], kind="generic"),
                           latent=False).paths is None

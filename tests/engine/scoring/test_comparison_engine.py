"""engine.scoring.comparison: settings, core radius, scoring several outputs, the report for a choice."""
import dataclasses
import json

import numpy as np
import pytest

from engine.scoring.comparison import (ONE_DIM_NOTE, ScoringSettings, core_mask, default_dims_for, score_methods,
                                      scored_particles, scoring_dataset, write_report_job)
from engine.formats.dataset import Dataset, synthetic_ground_truth
from engine.formats.loaders import build_output
from engine.landscape.presets import load_preset
from engine.scoring.metric import score


@pytest.fixture(scope="module")
def case():
    land = dataclasses.replace(load_preset("paper-3x4"), core_radius_deg=3.5)
    gt = synthetic_ground_truth(land, 8000, seed=21)
    ds = Dataset(gt, landscape=land)
    truth = np.stack([gt.cc1_deg, gt.cc2_deg], axis=1)
    rng = np.random.default_rng(0)
    good = build_output("good.npy", ds, truth + rng.normal(0, 1.5, truth.shape), kind="generic", label="good")
    poor = build_output("poor.npy", ds, np.column_stack([truth[:, 0] + rng.normal(0, 6, len(gt)), rng.normal(size=(len(gt), 2))]),
                        kind="generic", label="poor")
    one = build_output("one.npy", ds, truth[:, :1], kind="generic", label="one dim")
    return ds, good, poor, one


def test_core_radius_reproduces_the_simulators_core_flags(case):
    ds = case[0]
    gt = ds.ground_truth
    assert 0 < gt.core.sum() < len(gt)
    np.testing.assert_array_equal(core_mask(gt, 3.5), gt.core)
    # a larger radius keeps more particles, and the truth's distance rule holds exactly
    wide = core_mask(gt, 6.0)
    assert (wide >= gt.core).all() and wide.sum() > gt.core.sum()


def test_scored_particles_combine_core_and_wells(case):
    gt = case[0].ground_truth
    s = ScoringSettings(core_only=True, wells={2, 7})
    np.testing.assert_array_equal(scored_particles(gt, s), gt.core & np.isin(gt.well, [2, 7]))
    s = ScoringSettings(core_only=True, core_radius_deg=2.0)
    np.testing.assert_array_equal(scored_particles(gt, s), core_mask(gt, 2.0))
    assert scored_particles(gt, ScoringSettings(core_radius_deg=2.0)).all()  # radius without core-only: all
    assert scoring_dataset(case[0], ScoringSettings()) is case[0]


def test_score_methods_matches_the_metric_and_reports_what_cannot_be_scored(case):
    ds, good, poor, one = case
    settings = ScoringSettings(dims=(0, 1), core_only=True, core_radius_deg=2.5)
    result = score_methods(ds, {1: good, 2: poor, 3: one}, settings)
    gt_core = dataclasses.replace(ds.ground_truth, core=core_mask(ds.ground_truth, 2.5))
    for key, out in ((1, good), (2, poor)):
        s, landscape, error = result["results"][key]
        expected = score(gt_core, out, dims=(0, 1), core_only=True)
        assert error == "" and s.accuracy == pytest.approx(expected.accuracy)
        assert landscape.counts.sum() + landscape.n_outside == expected.n_scored
    assert result["results"][1][0].accuracy > 0.9 > result["results"][2][0].accuracy
    # the default dims on a 1D output: dim 0, said in a note, without a landscape
    s, landscape, error = result["results"][3]
    expected = score(gt_core, one, dims=(0,), core_only=True)
    assert error == "" and landscape is None and s.dims == (0,) and ONE_DIM_NOTE in s.notes
    assert s.accuracy == pytest.approx(expected.accuracy) and s.n_scored == expected.n_scored
    # dims a user chose that the output lacks stay an error naming the file
    s, landscape, error = score_methods(ds, {3: one, 1: good}, ScoringSettings(dims=(0, 2)))["results"][3]
    assert s is None and landscape is None and "one.npy" in error and "dimension 2 does not exist" in error
    assert result["truth"].counts.sum() + result["truth"].n_outside == int(core_mask(ds.ground_truth, 2.5).sum())
    # a one-dimensional choice scores, without a landscape
    s, landscape, error = score_methods(ds, {3: one}, ScoringSettings(dims=(0,)))["results"][3]
    assert error == "" and landscape is None and s.dims == (0,)


def test_score_methods_stops_between_outputs_when_asked(case):
    ds, good, poor, _ = case
    calls = []
    result = score_methods(ds, {1: good, 2: poor}, ScoringSettings(), progress=calls.append,
                           should_stop=lambda: len(calls) >= 1)
    assert list(result["results"]) == [1] and calls == [0.5]


def test_report_for_a_choice_of_settings(case, tmp_path):
    ds, good, poor, one = case
    logs = []
    settings = ScoringSettings(dims=(0, 1), core_only=True, core_radius_deg=3.0, wells={1, 2, 3, 4, 5, 6})
    scored_ds, reports = write_report_job(tmp_path, ds, [good, one, poor], settings, log=logs.append)
    assert [r.output.label for r in reports] == ["good", "one dim", "poor"] and logs == []
    assert reports[1].scores.dims == (0,) and ONE_DIM_NOTE in reports[1].scores.notes
    _, reports = write_report_job(tmp_path / "chosen", ds, [good, one], dataclasses.replace(settings, dims=(1,)),
                                  log=logs.append)
    assert [r.output.label for r in reports] == ["good"] and len(logs) == 1
    assert "one dim" in logs[0] and "left out" in logs[0] and "dimension 1 does not exist" in logs[0]
    data = json.loads((tmp_path / "scores.json").read_text())
    gt_core = dataclasses.replace(ds.ground_truth, core=core_mask(ds.ground_truth, 3.0))
    expected = score(gt_core, good, dims=(0, 1), core_only=True, wells=[1, 2, 3, 4, 5, 6])
    assert data["methods"][0]["accuracy"] == pytest.approx(expected.accuracy)
    assert data["methods"][0]["n_scored"] == expected.n_scored
    assert sorted(int(w) for w in data["methods"][0]["recall"]) == [1, 2, 3, 4, 5, 6]
    np.testing.assert_array_equal(scored_ds.ground_truth.core, gt_core.core)


def test_default_dims_for_a_one_dimensional_output_only(case):
    ds, good, poor, one = case
    dims, out = default_dims_for(one, (0, 1))
    assert dims == (0,) and out.notes == (*one.notes, ONE_DIM_NOTE) and out.coords is one.coords
    assert ONE_DIM_NOTE not in one.notes                        # the loaded output is left as it was
    for args in ((one, (0, 1), True), (one, None), (one, (1,)), (good, (0, 1)), (poor, (0, 1))):
        dims, out = default_dims_for(*args)
        assert dims == args[1] and out is args[0]


def test_settings_validate_their_fields():
    with pytest.raises(ValueError, match="dims"):
        ScoringSettings(dims=(-1,))
    with pytest.raises(ValueError, match="core_radius_deg"):
        ScoringSettings(core_radius_deg=float("nan"))
    with pytest.raises(ValueError, match="wells"):
        ScoringSettings(wells={0, 1})
    assert ScoringSettings(wells=[3, 1]).wells == frozenset({1, 3})

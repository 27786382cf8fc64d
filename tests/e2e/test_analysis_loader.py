"""analysis.loader and analysis.tables on a real tiny ``rayeaq.tune`` sweep (see tests/support/analysis_sweep.py).

Every figure the loader returns is checked against a second reading of the same run: the sweep's own
``summary.csv``, each trial's ``evaluate/metrics.jsonl`` and the datasets' cards. The tables are checked
against :mod:`analysis.stats` applied by hand and against ``rliable``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import loader, stats, tables
from support.analysis_sweep import AUGMENTERS, EVAL_INTERVAL, HORIZON, SEEDS, UPDATES, tiny_sweep

pytestmark = pytest.mark.slow  # the session's tiny sweep is shared with tests/e2e/test_report.py


@pytest.fixture(scope="session")
def sweep_dir(ray_local, tmp_path_factory) -> Path:
    return tiny_sweep(tmp_path_factory)


@pytest.fixture(scope="session")
def results(sweep_dir) -> loader.Results:
    return loader.load_results(sweep_dir)


def test_one_row_per_trial_with_canonical_parameters(results, sweep_dir):
    t = results.trials
    assert len(t) == len(AUGMENTERS) * len(SEEDS)
    assert (t["status"] == "done").all()
    assert set(t["augmenter"]) == set(AUGMENTERS)
    assert sorted(t["seed"].unique()) == list(SEEDS)
    assert (t["map"] == "3m").all() and (t["tier"] == "medium").all()  # not swept: from the sweep's config
    assert not t.duplicated(["augmenter", "seed"]).any()
    by = t.set_index(["augmenter", "seed"])
    assert by.loc["none", "q_weight"].isna().all() and by.loc["none", "ratio"].isna().all()  # unused by none
    if "eaq" in AUGMENTERS:
        assert (by.loc["eaq", "q_weight"] == 0.1).all() and (by.loc["eaq_noq", "q_weight"] == 0.0).all()
        assert (by.loc["eaq", "horizon"] == HORIZON).all() and (by.loc["eaq", "ratio"] == 0.5).all()
    assert results.defaults == {"q_weight": 0.1, "horizon": HORIZON, "ratio": 0.5}


def test_final_metrics_match_the_sweeps_summary_csv(results, sweep_dir):
    summary = pd.read_csv(sweep_dir / "summary.csv")
    assert len(summary) == len(results.trials)
    merged = results.trials.merge(summary, left_on="trial_dir", right_on="path", suffixes=("", "_summary"))
    assert len(merged) == len(summary)
    for metric in ("win_rate", "normalized_return", "return_mean", "learner_loss", "dataset_normalized_return"):
        np.testing.assert_allclose(merged[metric], merged[f"{metric}_summary"], rtol=1e-9, err_msg=metric)
    assert (merged["augmenter"] == merged["param/augment.augmenter"]).all()
    assert ((merged["win_rate"] >= 0) & (merged["win_rate"] <= 1)).all()


def test_steps_are_the_evaluators_metrics_jsonl(results):
    steps = results.steps
    assert set(steps.groupby("trial_id")["step"].apply(tuple)) == {
        tuple(range(EVAL_INTERVAL, UPDATES + 1, EVAL_INTERVAL))
    }
    for trial in results.trials.itertuples():
        metrics = Path(trial.trial_dir) / "evaluate" / "metrics.jsonl"  # the evaluate stage's own record
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        mine = steps[steps["trial_id"] == trial.trial_id].sort_values("step")
        assert mine["step"].tolist() == [r["updates"] for r in rows]
        np.testing.assert_allclose(mine["win_rate"], [r["win_rate"] for r in rows])
        np.testing.assert_allclose(mine["normalized_return"], [r["normalized_return"] for r in rows])
        np.testing.assert_allclose(mine["learner_loss"], [r["total_loss"] for r in rows])
        assert trial.win_rate == pytest.approx(rows[-1]["win_rate"])


def test_real_dataset_and_its_own_mean(results, sweep_dir):
    from rayeaq.data.card import read_card

    t = results.trials.set_index(["augmenter", "seed"])
    real = Path(t["real_dataset"].iloc[0])
    assert real == sweep_dir / "datasets" / "3m" / "medium"
    card = read_card(real)
    assert (t["real_dataset"] == str(real)).all()
    np.testing.assert_allclose(t["dataset_return_mean"], card.stats.mean_return)
    np.testing.assert_allclose(t["dataset_normalized_return"], card.stats.normalized_return, rtol=1e-6)
    assert t.loc["none", "synthetic_dataset"].isna().all()


def test_synthetic_datasets_and_fidelity(results, sweep_dir):
    from rayeaq.data.card import read_card

    t = results.trials.set_index(["augmenter", "seed"])
    fidelity = [c for c in results.trials if c.startswith("fidelity.")]
    assert fidelity, "no fidelity figures found"
    for augmenter in ("eaq", "eaq_noq"):
        for path in t.loc[augmenter, "synthetic_dataset"]:
            syn = read_card(path)
            assert syn.source == "synthetic" and syn.map == "3m" and Path(path).is_relative_to(sweep_dir)
        assert t.loc[augmenter, fidelity].notna().all().all()
    assert t.loc["none", fidelity].isna().all().all()
    assert t.loc["eaq", "gen_loss"].notna().all() and t.loc["none", "gen_loss"].isna().all()


def test_several_roots_and_a_torn_result_line(results, sweep_dir, tmp_path):
    copy = tmp_path / "copy"
    trial = Path(results.trials["trial_dir"].iloc[0])
    shutil.copytree(trial, copy / "exp" / trial.name)
    with (copy / "exp" / trial.name / "result.json").open("a") as f:
        f.write('{"win_rate": 0.9, "normalized_ret')  # a trial killed mid-write
    both = loader.load_results(sweep_dir, copy)
    assert len(both.trials) == len(results.trials) + 1
    copied = both.trials[both.trials["trial_dir"].str.startswith(str(copy))].iloc[0]
    original = results.trials.iloc[0]
    assert copied["experiment"] == "exp"
    assert copied["win_rate"] == original["win_rate"] and copied["augmenter"] == original["augmenter"]


def test_bad_results_directories(tmp_path):
    with pytest.raises(loader.ResultsError, match="not found"):
        loader.load_results(tmp_path / "missing")
    with pytest.raises(loader.ResultsError, match="no Tune trial"):
        loader.load_results(tmp_path)
    (tmp_path / "t1").mkdir()
    (tmp_path / "t1" / "params.json").write_text('{"seed": 0}')
    with pytest.raises(loader.ResultsError, match="no trial has reported"):
        loader.load_results(tmp_path)
    assert len(loader.load_results(tmp_path, require_eval=False).trials) == 1


def test_ignored_grid_values_and_dataset_vs_mixture_figures(tmp_path):
    (tmp_path / "config.resolved.yaml").write_text(
        "env: {map: 3m}\ndiffusion: {q_weight: 0.1, horizon: 16}\naugment: {ratio: 0.5}\ntune: {collect_tier: medium}\n"
    )
    swept = tmp_path / "exp" / "t1"  # a rayeaq.tune trial: ratio marked ignored by the grid
    swept.mkdir(parents=True)
    (swept / "params.json").write_text(
        json.dumps({"point": {"augment.augmenter": "eaq", "augment.ratio": "-", "collect_tier": "poor", "seed": 1}})
    )
    (swept / "result.json").write_text(
        json.dumps(
            {
                "win_rate": 0.5,
                "normalized_return": 0.4,
                "dataset_normalized_return": 0.3,
                "mixture_normalized_return": 0.35,
                "mixture_win_rate": 0.2,
                "learner_updates": 10,
                "aug_mmd": 0.7,
                "aug_ratio_effective": 0.5,
                "done": True,
            }
        )
        + "\n"
    )
    plain = tmp_path / "exp" / "t2"  # only the evaluator's metrics.jsonl: its dataset_* is the mixture's
    (plain / "evaluate").mkdir(parents=True)
    (plain / "params.json").write_text('{"seed": 2}')
    (plain / "evaluate" / "metrics.jsonl").write_text(
        json.dumps(
            {
                "updates": 10,
                "final": True,
                "win_rate": 0.1,
                "normalized_return": 0.2,
                "dataset_normalized_return": 0.9,
                "dataset_win_rate": 0.8,
            }
        )
        + "\n"
    )
    t = loader.load_results(tmp_path).trials.set_index("seed")
    assert t.loc[1, "tier"] == "poor" and t.loc[2, "tier"] == "medium" and (t["map"] == "3m").all()
    assert np.isnan(t.loc[1, "ratio"]) and pd.isna(t.loc[1, "augment.ratio"]) and t.loc[1, "horizon"] == 16
    assert t.loc[1, "dataset_normalized_return"] == 0.3 and t.loc[1, "mixture_normalized_return"] == 0.35
    assert t.loc[1, "mixture_win_rate"] == 0.2 and t.loc[1, "fidelity.mmd"] == 0.7
    assert t.loc[1, "aug_ratio_effective"] == 0.5 and "fidelity.ratio_effective" not in t  # a mixture figure
    assert np.isnan(t.loc[2, "dataset_normalized_return"]) and t.loc[2, "mixture_normalized_return"] == 0.9
    assert t.loc[2, "mixture_win_rate"] == 0.8


# ----------------------------------------------------------------------------------------------- tables


def test_main_table_is_the_seed_statistics(results):
    table = tables.main_table(results.trials, reps=300)
    assert list(table["augmenter"]) == list(AUGMENTERS)
    t = results.trials
    for row in table.itertuples():
        x = t[t["augmenter"] == row.augmenter].sort_values("seed")["normalized_return"].to_numpy()
        point, lo, hi = stats.bootstrap_ci(x, stats.iqm, 300, 0.95, 0)
        assert (
            row.normalized_return_iqm,
            row.normalized_return_ci_low,
            row.normalized_return_ci_high,
        ) == pytest.approx((point, lo, hi))
        assert row.n_seeds == len(SEEDS)
        y = t[t["augmenter"] == "none"]["normalized_return"].to_numpy()
        if row.augmenter == "none":
            assert np.isnan(row.normalized_return_rel_impr)
        elif stats.iqm(y[:, None]) != 0:
            assert row.normalized_return_rel_impr == pytest.approx(
                (stats.iqm(x[:, None]) - stats.iqm(y[:, None])) / abs(stats.iqm(y[:, None]))
            )
    pretty = tables.format_main(table)
    assert pretty["normalized_return"].str.match(r"^-?\d\.\d{3} \[").all()


def test_tables_agree_with_rliable(results):
    from test_analysis_stats import _import_rliable

    rly, rlm = _import_rliable()
    t = results.trials
    table = tables.main_table(t, metrics=["win_rate"], reps=200, seed=3)
    for row in table.itertuples():
        x = t[t["augmenter"] == row.augmenter].sort_values("seed")["win_rate"].to_numpy()[:, None]
        np.random.seed(3)
        point, ci = rly.get_interval_estimates({"x": x}, lambda s: np.array([rlm.aggregate_iqm(s)]), reps=200)
        assert row.win_rate_iqm == pytest.approx(point["x"][0])
        assert (row.win_rate_ci_low, row.win_rate_ci_high) == pytest.approx((ci["x"][0, 0], ci["x"][1, 0]))
    poi = tables.improvement_table(
        t,
        pairs=[("none", "none")] + [("eaq", "none"), ("eaq", "eaq_noq")] * ("eaq" in AUGMENTERS),
        metrics=["normalized_return"],
        reps=100,
    )
    assert set(zip(poi["x"], poi["y"], strict=False)) == (
        {("none", "none"), ("eaq", "none"), ("eaq", "eaq_noq")} if "eaq" in AUGMENTERS else {("none", "none")}
    )
    assert poi.set_index(["x", "y"]).loc[("none", "none"), "poi"] == pytest.approx(0.5)  # X against itself
    for row in poi.itertuples():
        x = t[t["augmenter"] == row.x].sort_values("seed")["normalized_return"].to_numpy()[:, None]
        y = t[t["augmenter"] == row.y].sort_values("seed")["normalized_return"].to_numpy()[:, None]
        assert row.poi == pytest.approx(rlm.probability_of_improvement(x, y))
        assert 0.0 <= row.ci_low <= row.poi <= row.ci_high <= 1.0


def test_curves(results):
    curves = tables.learning_curves(results.steps, "win_rate", reps=100)
    assert len(curves) == len(AUGMENTERS) * (UPDATES // EVAL_INTERVAL)
    assert (curves["n_seeds"] == len(SEEDS)).all()
    assert ((curves["ci_low"] <= curves["iqm"]) & (curves["iqm"] <= curves["ci_high"])).all()


def test_sensitivity_and_fidelity_tables(results):
    lam = tables.sensitivity(results.trials, "q_weight", augmenters=["eaq", "eaq_noq"], reps=100)
    assert sorted(lam["q_weight"]) == [0.0, 0.1]
    fid = tables.fidelity_table(results.trials)
    assert set(fid["augmenter"]) == {"eaq", "eaq_noq"} and (fid["n_seeds"] == len(SEEDS)).all()

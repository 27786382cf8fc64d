"""The evaluator's statistics reach the sweep: interval columns in summary.csv and the console table."""

from __future__ import annotations

import csv

import numpy as np

from rayeaq.learners.qmix.intervals import INTERVAL_KEYS, wilson_interval
from rayeaq.learners.qmix.rollout import RolloutResult
from rayeaq.sweep.summary import FINAL_METRICS, format_table, trial_row, write_summary
from rayeaq.sweep.trial import _eval_metrics


def test_evaluation_intervals_travel_from_the_rollout_to_the_sweep_summary(tmp_path):
    won = np.array([True] * 20 + [False] * 12)
    returns = np.where(won, 1.8, 0.4).astype(np.float32)
    result = RolloutResult(returns, won, np.full(32, 20), np.arange(32))
    evaluation = result.summary(max_return=2.0)
    assert evaluation["episodes"] == 32
    assert (evaluation["win_rate_ci95_low"], evaluation["win_rate_ci95_high"]) == wilson_interval(20, 32)
    assert evaluation["return_ci95_low"] < evaluation["return_mean"] < evaluation["return_ci95_high"]
    assert evaluation["normalized_return_ci95_high"] == evaluation["return_ci95_high"] / 2.0

    metrics = _eval_metrics({**evaluation, "updates": 100, "total_loss": 0.5})
    assert metrics["eval_episodes"] == 32 and all(k in metrics for k in INTERVAL_KEYS)
    assert set(INTERVAL_KEYS) | {"eval_episodes"} <= set(FINAL_METRICS)
    row = trial_row("t0", "TERMINATED", {"seed": 0}, {**metrics, "score": metrics["normalized_return"]}, None, "p")
    path = write_summary([row], tmp_path)
    (written,) = list(csv.DictReader(path.open()))
    assert float(written["win_rate_ci95_low"]) == wilson_interval(20, 32)[0] and written["eval_episodes"] == "32"
    table = format_table([row])
    lo, hi = wilson_interval(20, 32)
    assert f"[{lo:.3f}, {hi:.3f}]" in table and "eval_episodes" in table

"""A trial forwards the evaluator's learner rows (losses between evaluations) to Tune without counting them as
evaluations: the scheduler's clock (``evaluations``) and ``score`` move only with evaluation rows."""

from __future__ import annotations

from typing import Any

from rayeaq.data.writer import write_dataset
from rayeaq.run_config import load_run_config
from rayeaq.sweep.trial import run_stages
from support.plain_stages import PlainStages
from support.random_episodes import toy_spec
from support.smooth_episodes import toy_episodes

SPEC = toy_spec(episode_limit=15, n_agents=2, state_dim=8)


FINAL = {
    "updates": 300,
    "final": True,
    "win_rate": 0.5,
    "normalized_return": 0.6,
    "return_mean": 1.2,
    "total_loss": 0.8,
}
EVALUATIONS = [  # what rayeaq.evaluate's QMIX sends: two learner rows, then one evaluation
    {"updates": 100, "total_loss": 2.0, "td_loss": 1.5},
    {"updates": 200, "total_loss": 1.0, "td_loss": 0.7},
    FINAL,
]


def test_learner_rows_reach_tune_without_moving_the_schedulers_clock(tmp_path):
    dataset = tmp_path / "real"
    write_dataset(dataset, toy_episodes(SPEC, 6, seed=1), SPEC, source="real", tier="good")
    cfg = load_run_config("tune_configs/quickstart.yaml", ["augment.augmenter=none"])
    reports: list[dict[str, Any]] = []
    work = tmp_path / "trial"
    work.mkdir()
    stages = PlainStages(EVALUATIONS, result=lambda sources: dict(FINAL))
    run_stages(cfg, dataset, work, stages, lambda metrics, ckpt: reports.append(metrics))
    assert stages.augments == 0  # augmenter none augments nothing
    learner = [r for r in reports if "learner_loss" in r and "win_rate" not in r]
    assert [(r["learner_updates"], r["learner_loss"], r["td_loss"]) for r in learner] == [
        (100, 2.0, 1.5),
        (200, 1.0, 0.7),
    ]
    assert all(r["evaluations"] == 0 and r["score"] == 0.0 and r["stage"] == "evaluate" for r in learner)
    evaluation = next(r for r in reports if "win_rate" in r)
    assert evaluation["evaluations"] == 1 and evaluation["score"] == 0.6

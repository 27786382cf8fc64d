"""A trial forwards the evaluator's learner rows (losses between evaluations) to Tune without counting them as
evaluations: the scheduler's clock (``evaluations``) and ``score`` move only with evaluation rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rayeaq.data.writer import write_dataset
from rayeaq.envs.spec import EnvSpec
from rayeaq.run_config import load_run_config
from rayeaq.sweep.trial import run_stages
from support.smooth_episodes import toy_episodes

SPEC = EnvSpec(
    backend="smax",
    map="3m",
    n_agents=2,
    n_enemies=2,
    n_actions=7,
    obs_shape=6,
    state_shape=8,
    episode_limit=15,
    action_layout=("n", "e", "s", "w", "stop", "attack_0", "attack_1"),
    max_return=2.0,
    reward_scale="test",
)


class EvaluateOnly:
    """Stages whose evaluate reports two learner rows, then one evaluation (what rayeaq.evaluate's QMIX sends)."""

    def fit(self, *args: Any) -> Path:
        raise AssertionError("augmenter none fits nothing")

    def augment(self, *args: Any) -> dict[str, float]:
        raise AssertionError("augmenter none augments nothing")

    def evaluate(self, cfg, sources, out: Path, on_eval) -> dict[str, Any]:
        out.mkdir(parents=True)  # the trial's final checkpoint copies the evaluate stage's directory
        on_eval({"updates": 100, "total_loss": 2.0, "td_loss": 1.5})
        on_eval({"updates": 200, "total_loss": 1.0, "td_loss": 0.7})
        final = {"updates": 300, "final": True, "win_rate": 0.5, "normalized_return": 0.6, "return_mean": 1.2}
        on_eval({**final, "total_loss": 0.8})
        return {**final, "total_loss": 0.8}


def test_learner_rows_reach_tune_without_moving_the_schedulers_clock(tmp_path):
    dataset = tmp_path / "real"
    write_dataset(dataset, toy_episodes(SPEC, 6, seed=1), SPEC, source="real", tier="good")
    cfg = load_run_config("tune_configs/quickstart.yaml", ["augment.augmenter=none"])
    reports: list[dict[str, Any]] = []
    work = tmp_path / "trial"
    work.mkdir()
    run_stages(cfg, dataset, work, EvaluateOnly(), lambda metrics, ckpt: reports.append(metrics))
    learner = [r for r in reports if "learner_loss" in r and "win_rate" not in r]
    assert [(r["learner_updates"], r["learner_loss"], r["td_loss"]) for r in learner] == [
        (100, 2.0, 1.5),
        (200, 1.0, 0.7),
    ]
    assert all(r["evaluations"] == 0 and r["score"] == 0.0 and r["stage"] == "evaluate" for r in learner)
    evaluation = next(r for r in reports if "win_rate" in r)
    assert evaluation["evaluations"] == 1 and evaluation["score"] == 0.6

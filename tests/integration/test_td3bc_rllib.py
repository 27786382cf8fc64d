"""MA-TD3+BC and MA-CQL as RLlib algorithms: updates through the LearnerGroup, checkpoints restorable with
``Algorithm.from_checkpoint``, the ``td3bc`` / ``cql`` registry entries; slow: learning on expert ``omar_spread`` data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rayeaq.data.writer import write_dataset
from rayeaq.envs.mpe.maps import mpe_spec
from support.box_episodes import box_batch


@pytest.mark.parametrize("name", ["td3bc", "cql"])
def test_updates_checkpoint_and_restore(ray_local, tmp_path, name):
    from ray.rllib.algorithms.algorithm import Algorithm

    from rayeaq.learners.cql.config import CQLSettings
    from rayeaq.learners.cql.ray_algorithm import CQL, CQLConfig
    from rayeaq.learners.td3bc.config import TD3BCSettings
    from rayeaq.learners.td3bc.ray_algorithm import TD3BC, TD3BCConfig
    from rayeaq.learners.td3bc.ray_module import MODULE_ID
    from rayeaq.learners.td3bc.run import build_config

    settings_cls, config_cls, algo_cls = {
        "td3bc": (TD3BCSettings, TD3BCConfig, TD3BC),
        "cql": (CQLSettings, CQLConfig, CQL),
    }[name]

    write_dataset(
        tmp_path / "d",
        box_batch(8),
        mpe_spec("omar_spread"),
        source="real",
        reference_returns={"random": 0.0, "expert": 1.0},
    )
    settings = settings_cls(hidden_dim=16, batch_size=32, eval_episodes=4, eval_envs=4)
    algo = build_config(settings, [(str(tmp_path / "d"), 1.0)], 3, 5, config_cls).build_algo()
    try:
        assert type(algo) is algo_cls
        before = algo.actor_state()
        result = algo.train()
        after = algo.actor_state()
        weights = algo.learner_group.get_weights(module_ids=[MODULE_ID])[MODULE_ID]
        assert int(weights["num_updates"]) == 5 and np.isfinite(result["learners"][MODULE_ID]["critic_loss"])
        if name == "cql":
            assert np.isfinite(result["learners"][MODULE_ID]["cql_gap"])
        assert not np.allclose(before["actor.layers.0.weight"], after["actor.layers.0.weight"])
        assert not np.allclose(before["q1.layers.0.weight"], after["q1.layers.0.weight"])
        path = algo.save_to_path(str(tmp_path / "ckpt"))
        obs = np.random.default_rng(0).normal(size=(5, 3, 18)).astype(np.float32)
        expected = algo.greedy_act()(obs)
    finally:
        algo.stop()
    restored = Algorithm.from_checkpoint(path)
    try:
        assert type(restored) is algo_cls
        np.testing.assert_array_equal(restored.greedy_act()(obs), expected)
        for key, value in after.items():
            np.testing.assert_array_equal(restored.actor_state()[key], value, err_msg=key)
        assert np.abs(expected).max() <= 1.0
    finally:
        restored.stop()


def test_cql_run_writes_metrics_summary_and_the_reward_scale(ray_local, tmp_path):
    from rayeaq.learners.cql.config import CQLSettings
    from rayeaq.learners.cql.ray_algorithm import CQLConfig
    from rayeaq.learners.td3bc.run import run_continuous

    write_dataset(
        tmp_path / "d",
        box_batch(8),
        mpe_spec("omar_spread"),
        source="real",
        reference_returns={"random": 0.0, "expert": 1.0},
    )
    settings = CQLSettings(
        updates=20, eval_interval=10, batch_size=32, eval_episodes=4, eval_envs=4, reward_scale="auto", checkpoint=False
    )
    summary = run_continuous("cql", CQLConfig, settings, [(str(tmp_path / "d"), 1.0)], tmp_path / "run", seed=1)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["updates"] for r in rows] == [10, 20] and summary["algorithm"] == "cql"
    assert np.isfinite(rows[-1]["cql_gap"]) and rows[-1]["episodes"] == 4
    episodes = box_batch(8)
    expected = 0.05 / float(np.abs(episodes.agent_reward[episodes.filled]).mean())
    assert summary["reward_scale"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("decay", ["linear", "cosine"])
def test_the_learning_rate_decays_to_zero_over_the_budget(ray_local, tmp_path, decay):
    """TD3+BC's lr schedules reach RLlib's optimizer: half-way lr/2, at the end 0."""
    from rayeaq.learners.td3bc.config import TD3BCSettings
    from rayeaq.learners.td3bc.ray_module import MODULE_ID
    from rayeaq.learners.td3bc.run import build_config

    write_dataset(
        tmp_path / "d", box_batch(4), mpe_spec("omar_spread"), source="real", reference_returns={"random": 0.0}
    )
    settings = TD3BCSettings(updates=10, batch_size=8, hidden_dim=8, lr_decay=decay)
    assert settings.policy_freq == 1 and settings.reward_scale == "auto" and TD3BCSettings().lr_decay == "none"
    algo = build_config(settings, [(str(tmp_path / "d"), 1.0)], 0, 5).build_algo()

    def lr():
        results = algo.learner_group.foreach_learner(
            lambda learner: [o.param_groups[0]["lr"] for _, o in learner.get_optimizers_for_module(MODULE_ID)]
        )
        return next(iter(results)).get()

    try:
        assert lr() == [pytest.approx(1e-3)]
        algo.train()
        assert lr() == [pytest.approx(5e-4, rel=0.02)]
        algo.train()
        assert lr() == [pytest.approx(0.0, abs=1e-9)]
    finally:
        algo.stop()


def test_registered_for_evaluate_algorithm():
    from rayeaq.learners import LEARNERS
    from rayeaq.run_config import load_run_config

    cfg = load_run_config("tune_configs/evaluate_mpe.yaml", [])
    assert cfg.env.backend == "mpe" and LEARNERS.get(cfg.evaluate.algorithm).name == "td3bc"
    cfg = load_run_config("tune_configs/evaluate_mpe.yaml", ["evaluate.algorithm=cql"])
    assert LEARNERS.get(cfg.evaluate.algorithm).name == "cql"


LEARN_EPISODES = 10_000
LEARN_UPDATES = 5000
LEARN_SEEDS = (7, 3)
"""(data seed, torch seed): a pair the shipped defaults were not tuned on (they were tuned on (1, 0))."""
LEARN_FLOOR = 78.0
"""Measured after 5 000 updates on 200 held-out episodes (benchmarks/RESULTS.md, MPE section): 81.4 for (1, 0),
83.5 for (7, 3), 84.5 for (11, 5) — every pair above issue 15's 80. The assertion keeps ~5 points below
this pair's figure, because another CPU's float kernels make the 5 000-update trajectory another draw."""


@pytest.mark.slow
def test_td3bc_on_expert_omar_spread_reaches_the_expert_level(ray_local, tmp_path):
    """Expert data (the scripted controller) -> greedy MA-TD3+BC (the shipped defaults) on held-out evaluation seeds
    scores near the expert (normalized 100): >= LEARN_FLOOR after LEARN_UPDATES on a seed pair it was not tuned on."""
    from rayeaq.learners.td3bc.config import TD3BCSettings
    from rayeaq.learners.td3bc.run import run_td3bc
    from rayeaq.policies.mpe import expert
    from rayeaq.stages.collect.mpe_collect import write_mpe_dataset

    torch.set_num_threads(1)
    data_seed, torch_seed = LEARN_SEEDS
    card = write_mpe_dataset(
        tmp_path / "expert",
        "omar_spread",
        expert("omar_spread"),
        LEARN_EPISODES,
        root_seed=data_seed,
        tier="expert",
        behaviour_policy={"name": "expert"},
        shard_episodes=LEARN_EPISODES,
    )
    assert card.stats.normalized_score == pytest.approx(100, abs=5)
    settings = TD3BCSettings(
        updates=LEARN_UPDATES,
        eval_interval=1000,  # as measured (evaluations do not touch the training RNG; kept identical anyway)
        eval_episodes=200,
        eval_envs=200,
        checkpoint=False,
    )
    summary = run_td3bc(settings, [(str(tmp_path / "expert"), 1.0)], tmp_path / "run", seed=torch_seed)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["updates"] == LEARN_UPDATES
    assert summary["normalized_score"] >= LEARN_FLOOR, summary

"""QMIX on RLlib: LearnerGroup updates lower the loss, checkpoints restore the same greedy policy, the CLI runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rayeaq.learners.qmix.networks import NetSpec
from support.random_episodes import toy_episodes

torch.set_num_threads(1)


def _spec(ep, mixer=True) -> NetSpec:
    return NetSpec(
        ep.n_agents,
        ep.n_actions,
        ep.obs_dim,
        ep.state_dim,
        hidden_dim=16,
        mixing_embed_dim=8,
        hypernet_embed=16,
        mixer=mixer,
    )


@pytest.mark.parametrize("algorithm,cql", [("qmix", 0.0), ("qmix", 1.0), ("bc", 0.0)])
def test_learner_group_update_lowers_the_loss_on_a_fixed_batch(ray_local, algorithm, cql):
    from rayeaq.learners.qmix.ray_algorithm import QMIXConfig, to_train_batch
    from rayeaq.learners.qmix.sampler import EpisodeSampler

    ep = toy_episodes(12, seed=11)
    cfg = (
        QMIXConfig()
        .training(lr=3e-3)
        .debugging(seed=1)
        .qmix(
            qmix_algorithm=algorithm,
            cql_weight=cql,
            net=_spec(ep, mixer=algorithm == "qmix"),
            target_update_interval=10_000,
        )
    )
    group = cfg.build_learner_group()
    batch = to_train_batch(EpisodeSampler(ep, 0).take(np.arange(len(ep))), 1)[0]
    losses = []
    for _ in range(60):
        res = group.update(batch=batch, timesteps={})
        losses.append(float(res[0]["qmix"]["total_loss"].peek()))
    group.shutdown()
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.8 * losses[0], losses  # all three reach < 0.75 here


def test_save_restore_gives_identical_greedy_actions(ray_local, tmp_path):
    from rayeaq.learners.qmix.policy import load_greedy_policy
    from rayeaq.learners.qmix.ray_algorithm import QMIX, QMIXConfig

    ep = toy_episodes(16, seed=12)
    cfg = (
        QMIXConfig()
        .debugging(seed=2)
        .qmix(net=_spec(ep), updates_per_iteration=15, batch_size_episodes=8, target_update_interval=10)
    )
    algo = cfg.build_algo()
    algo.set_episodes(ep, max_return=2.0)
    algo.train()
    path = algo.save_to_path(str(tmp_path / "ckpt"))
    before = algo.net_state()
    algo.stop()

    restored = QMIX.from_checkpoint(path)
    after = restored.net_state()
    assert before.keys() == after.keys()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # online and target networks
    restored.stop()

    policies = [load_greedy_policy(path), load_greedy_policy(path)]
    from rayeaq.learners.qmix.policy import GreedyPolicy

    policies.append(GreedyPolicy.from_state(cfg.net, before))
    runs = []
    for policy in policies:
        hidden, acts = None, []
        for t in range(6):
            a, hidden = policy(ep.obs[:, t], ep.avail_actions[:, t], hidden)
            legal = ep.avail_actions[:, t][np.arange(len(ep))[:, None], np.arange(ep.n_agents), a]
            assert legal[ep.length >= t].all()  # rows past an episode's terminal row are padding
            acts.append(a)
        runs.append(np.stack(acts))
    assert np.array_equal(runs[0], runs[2]) and np.array_equal(runs[1], runs[2])


def test_config_defaults_agree_and_the_module_spec_follows_later_training_calls():
    from rayeaq.learners.qmix.config import EvaluateConfig
    from rayeaq.learners.qmix.ray_algorithm import QMIXConfig

    ep = toy_episodes(2, seed=15)
    assert QMIXConfig().cql_weight == EvaluateConfig().cql_weight == 1.0
    cfg = QMIXConfig().qmix(net=_spec(ep)).training(gamma=0.5).qmix(double_q=False)
    model_config = cfg.get_multi_rl_module_spec().rl_module_specs["qmix"].model_config
    assert model_config["gamma"] == 0.5 and model_config["double_q"] is False


def test_evaluate_config_rejects_more_learners_than_batch_episodes():
    from rayeaq.core.errors import ConfigError
    from rayeaq.run_config import load_run_config

    load_run_config("tune_configs/evaluate_3m.yaml", ["evaluate.batch_size=4", "evaluate.num_learners=4"])
    with pytest.raises(ConfigError, match=r"evaluate\.num_learners: expected num_learners <= batch_size=2"):
        load_run_config("tune_configs/evaluate_3m.yaml", ["evaluate.batch_size=2", "evaluate.num_learners=4"])


def test_local_rollout_keeps_the_drivers_torch_threads(monkeypatch):
    from types import SimpleNamespace

    from rayeaq.learners.qmix import ray_rollout

    monkeypatch.setattr(ray_rollout, "make_env", lambda cfg, n: SimpleNamespace(spec=SimpleNamespace(max_return=2.0)))
    try:
        runner = ray_rollout.RolloutRunner(None, _spec(toy_episodes(2, seed=16)), 4, 0, 0.5, torch_threads=2)
        assert torch.get_num_threads() == 2 and runner.max_return == 2.0
    finally:
        torch.set_num_threads(1)


def test_policy_reset_clears_one_slot():
    from rayeaq.learners.qmix.networks import QMIXNetworks
    from rayeaq.learners.qmix.policy import GreedyPolicy

    ep = toy_episodes(4, seed=13)
    torch.manual_seed(0)
    policy = GreedyPolicy(QMIXNetworks(_spec(ep)))
    _, hidden = policy(ep.obs[:, 0], ep.avail_actions[:, 0])
    h, last = policy.reset(hidden, np.array([True, False, False, False]))
    assert h[0].abs().sum() == 0 and (last[0] == -1).all()
    assert torch.equal(h[1:], hidden[0][1:])


def test_evaluate_cli_end_to_end_on_smax(ray_local, tmp_path):
    """Plumbing on a tiny random dataset with 3m's sizes: train, evaluate on real SMAX, write every output."""
    from rayeaq.data.reader import load_dataset
    from rayeaq.data.writer import write_dataset
    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.evaluate import main

    spec = smax_spec("3m", 60)
    ep = toy_episodes(
        12,
        episode_limit=60,
        n_agents=3,
        obs_dim=spec.obs_shape,
        state_dim=spec.state_shape,
        n_actions=spec.n_actions,
        seed=14,
    )
    write_dataset(tmp_path / "ds", ep, spec, source="real", tier="good", behaviour_policy={"kind": "toy"})
    assert len(load_dataset(tmp_path / "ds").episodes) == 12
    from rayeaq.core.runinfo import derive_seed
    from rayeaq.learners.qmix.run import build_config
    from rayeaq.run_config import load_run_config

    qcfg = build_config(load_run_config("tune_configs/evaluate_3m.yaml", []), [(str(tmp_path / "ds"), 0.5)], 1)
    assert qcfg.mixture_seed == derive_seed(0, "evaluate", "mixture") != qcfg.data_seed  # episodes vs batches
    out = tmp_path / "run"
    try:
        code = main(
            [
                "tune_configs/evaluate_3m.yaml",
                "evaluate.updates=20",
                "evaluate.eval_interval=10",
                "evaluate.eval_episodes=4",
                "evaluate.final_eval_episodes=6",
                "evaluate.eval_envs=4",
                "evaluate.hidden_dim=16",
                "evaluate.torch_threads=2",
                "--dataset",
                f"{tmp_path / 'ds'}:0.5",
                "--dataset",
                str(tmp_path / "ds"),
                "--out",
                str(out),
            ]
        )
        assert torch.get_num_threads() == 2  # the in-driver rollouts keep evaluate.torch_threads
    finally:
        torch.set_num_threads(1)
    assert code == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["updates"] for r in rows] == [10, 20]
    assert [r["episodes"] for r in rows] == [4, 6]
    assert rows[-1]["final"] and 0.0 <= rows[-1]["win_rate"] <= 1.0
    assert rows[-1]["dataset_episodes"] == 18  # weight 0.5 + weight 1 of 12 episodes
    assert rows[-1]["normalized_return"] == pytest.approx(rows[-1]["return_mean"] / 2.0)
    marl = json.loads((out / "marl_eval.json").read_text())
    run = marl["smax"]["3m"]["qmix_cql"]["seed_0"]  # evaluate_3m.yaml: QMIX + CQL
    assert len(run["step_1"]["return"]) == 6 and run["step_1"]["step_count"] == 20
    assert "absolute_metrics" in run
    assert (out / "run.json").is_file() and (out / "config.resolved.yaml").is_file()
    summary = json.loads((out / "summary.json").read_text())
    from rayeaq.learners.qmix.policy import load_greedy_policy

    policy = load_greedy_policy(summary["checkpoint"])
    actions, _ = policy(ep.obs[:2, 0], ep.avail_actions[:2, 0])
    assert actions.shape == (2, 3)

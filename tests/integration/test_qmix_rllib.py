"""QMIX on RLlib: LearnerGroup updates lower the loss, checkpoints restore the same greedy policy, the CLI runs."""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from rayeaq.learners.qmix.networks import NetSpec
from support.random_episodes import toy_episodes, toy_spec

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


@pytest.mark.parametrize(
    "algorithm,cql,kind", [("qmix", 0.0, "agent"), ("qmix", 1.0, "agent"), ("qmix", 1.0, "joint"), ("bc", 0.0, "agent")]
)
def test_learner_group_update_lowers_the_loss_on_a_fixed_batch(ray_local, algorithm, cql, kind):
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
            cql_kind=kind,
            cql_samples=4,
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
    e = EvaluateConfig()
    q = QMIXConfig()
    assert (
        (q.cql_kind, q.cql_weight, q.cql_temperature, q.cql_samples)
        == (e.cql.kind, e.cql.weight, e.cql.temperature, e.cql.samples)
        == ("joint", 1.0, 1.0, 20)
    )
    assert (q.td_lambda, e.td_lambda) == (0.0, 0.8)  # the documented exception: online QMIX keeps one-step targets
    cfg = QMIXConfig().qmix(net=_spec(ep)).training(gamma=0.5).qmix(double_q=False, td_lambda=0.6, cql_kind="agent")
    model_config = cfg.get_multi_rl_module_spec().rl_module_specs["qmix"].model_config
    assert model_config["gamma"] == 0.5 and model_config["double_q"] is False and model_config["td_lambda"] == 0.6
    assert model_config["cql_samples"] == 0  # the agent term samples nothing
    joint = cfg.qmix(cql_kind="joint", cql_samples=7).get_multi_rl_module_spec().rl_module_specs["qmix"]
    assert joint.model_config["cql_samples"] == 7


def test_the_removed_cql_weight_key_names_its_replacement(tmp_path):
    from rayeaq.core.errors import ConfigError
    from rayeaq.run_config import load_run_config

    with pytest.raises(ConfigError) as err:
        load_run_config("tune_configs/evaluate_3m.yaml", ["evaluate.cql_weight=0"])
    assert str(err.value) == (
        "command line: evaluate.cql_weight: was replaced by evaluate.cql.weight (with evaluate.cql.kind: agent | joint)"
    )
    old = tmp_path / "old.yaml"
    old.write_text("evaluate:\n  cql_weight: 1.0\n")
    with pytest.raises(ConfigError, match=rf"^{old}: evaluate\.cql_weight: was replaced by evaluate\.cql\.weight"):
        load_run_config(old, [])
    cfg = load_run_config("tune_configs/evaluate_3m.yaml", ["evaluate.cql.kind=joint", "evaluate.reward_scale=2.5"])
    assert cfg.evaluate.cql.kind == "joint" and cfg.evaluate.resolved_reward_scale(2.0) == 2.5
    auto = load_run_config("tune_configs/evaluate_3m.yaml", [])
    assert auto.evaluate.resolved_reward_scale(2.0) == 10.0 and auto.evaluate.resolved_reward_scale(20.0) == 1.0
    assert "cql_weight" not in auto.evaluate.model_dump()


@contextmanager
def _logged(logger: str):
    """The messages ``logger`` emits inside the block (a list, filled as they come)."""
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    log = logging.getLogger(logger)
    log.addHandler(handler)
    try:
        yield lines
    finally:
        log.removeHandler(handler)


def test_the_module_is_built_without_a_deprecation_warning():
    from rayeaq.learners.qmix.ray_module import QMIXTeamModule, module_spec

    with _logged("ray._common.deprecation") as lines:
        module = module_spec(_spec(toy_episodes(2, seed=17)), 0.99, True).build()
    assert isinstance(module, QMIXTeamModule) and module.model_config["gamma"] == 0.99  # the current constructor
    assert not [line for line in lines if "deprecated" in line.lower()], lines


def test_validation_does_not_log_the_new_api_stack_hint():
    from ray.util import debug

    from rayeaq.learners.qmix.ray_algorithm import QMIXConfig

    debug._logged.discard("QMIX_on_new_api_stack")  # RLlib logs it once per process: as if no test had run
    with _logged("ray.rllib.algorithms.algorithm_config") as lines:
        QMIXConfig().qmix(net=_spec(toy_episodes(2, seed=19))).validate()
    assert not [line for line in lines if "new API stack" in line], lines


def test_a_resumed_algorithm_draws_the_batches_of_an_uninterrupted_one(ray_local, tmp_path):
    from rayeaq.learners.qmix.ray_algorithm import QMIX, QMIXConfig

    ep = toy_episodes(16, seed=18)
    cfg = (
        QMIXConfig().debugging(seed=2).qmix(net=_spec(ep), updates_per_iteration=3, batch_size_episodes=4, data_seed=99)
    )
    algo = cfg.build_algo()
    algo.set_episodes(ep, max_return=2.0)
    algo.train()
    path = algo.save_to_path(str(tmp_path / "ckpt"))
    uninterrupted = [algo._sampler.sample(4)["obs"] for _ in range(3)]
    algo.stop()
    restored = QMIX.from_checkpoint(path)
    restored.set_episodes(ep, max_return=2.0)  # a fresh sampler (seeded from the start) ...
    restored.restore_from_path(path)  # ... continued from the checkpointed RNG state
    resumed = [restored._sampler.sample(4)["obs"] for _ in range(3)]
    restored.stop()
    assert all(np.array_equal(a, b) for a, b in zip(uninterrupted, resumed, strict=True))
    fresh = QMIXConfig().debugging(seed=2).qmix(net=_spec(ep), data_seed=99).build_algo()
    fresh.set_episodes(ep, max_return=2.0)
    assert not np.array_equal(fresh._sampler.sample(4)["obs"], uninterrupted[0])  # the test can fail
    fresh.stop()


def test_evaluate_config_rejects_more_learners_than_batch_episodes():
    from rayeaq.core.errors import ConfigError
    from rayeaq.run_config import load_run_config

    load_run_config("tune_configs/evaluate_3m.yaml", ["evaluate.batch_size=4", "evaluate.learners=4"])
    with pytest.raises(ConfigError, match=r"evaluate\.learners: expected learners <= batch_size=2"):
        load_run_config("tune_configs/evaluate_3m.yaml", ["evaluate.batch_size=2", "evaluate.learners=4"])


def test_local_rollout_keeps_the_drivers_torch_threads(monkeypatch):
    from types import SimpleNamespace

    from rayeaq.learners.qmix import ray_rollout

    monkeypatch.setattr(
        ray_rollout, "make_env", lambda cfg, n: SimpleNamespace(spec=SimpleNamespace(max_return=2.0), n_envs=n)
    )
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
    for r in rows:  # every evaluation carries its intervals and its episode count
        assert r["win_rate_ci95_low"] <= r["win_rate"] <= r["win_rate_ci95_high"]
        assert r["return_ci95_low"] <= r["return_mean"] <= r["return_ci95_high"]
    learner_rows = [json.loads(line) for line in (out / "learner.jsonl").read_text().splitlines()]
    assert learner_rows and learner_rows[-1]["updates"] == 20 and "total_loss" in learner_rows[-1]
    marl = json.loads((out / "marl_eval.json").read_text())
    run = marl["smax"]["3m"]["qmix_cql_joint"]["seed_0"]  # evaluate_3m.yaml: QMIX + the joint conservative term
    assert len(run["step_1"]["return"]) == 6 and run["step_1"]["step_count"] == 20
    assert "absolute_metrics" in run
    assert (out / "run.json").is_file() and (out / "config.resolved.yaml").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reward_scale"] == 10.0 and summary["episodes"] == 6 and "win_rate_ci95_high" in summary
    from rayeaq.learners.qmix.policy import load_greedy_policy

    policy = load_greedy_policy(summary["checkpoint"])
    actions, _ = policy(ep.obs[:2, 0], ep.avail_actions[:2, 0])
    assert actions.shape == (2, 3)


@pytest.mark.slow
def test_two_ddp_learners_update_like_one_learner_on_the_same_batch(ray_local):
    """Same initial weights, same batch (split in two equal-length halves): equal weights after the updates.

    Equal lengths matter: each DDP learner averages its loss over its own shard's steps, and DDP averages the two
    gradients, which equals the one-learner gradient only when both shards hold the same number of steps.
    """
    from rayeaq.learners.qmix.ray_algorithm import QMIXConfig, to_train_batch
    from rayeaq.learners.qmix.sampler import EpisodeSampler

    ep = toy_episodes(8, episode_limit=6, seed=19)
    ep.length[:] = 6
    ep.filled[:, :6] = True
    ep.terminated[:] = False
    arrays = EpisodeSampler(ep, 0).take(np.arange(len(ep)))
    weights = []
    for learners in (0, 2):
        cfg = (
            QMIXConfig()
            .training(lr=1e-2)
            .debugging(seed=5)
            .learners(num_learners=learners, num_cpus_per_learner=0.5 if learners else "auto")
            .qmix(net=_spec(ep), cql_kind="agent", cql_weight=1.0, target_update_interval=2)
        )
        group = cfg.build_learner_group()
        group.set_weights({"qmix": weights[0]["init"]} if weights else group.get_weights())
        init = group.get_weights(module_ids=["qmix"])["qmix"]
        for _ in range(3):
            if learners:
                group.update(batches=to_train_batch(arrays, 2), timesteps={})
            else:
                group.update(batch=to_train_batch(arrays, 1)[0], timesteps={})
        weights.append({"init": init, "final": group.get_weights(module_ids=["qmix"])["qmix"]})
        group.shutdown()
    one, two = weights[0]["final"], weights[1]["final"]
    assert one.keys() == two.keys()
    moved = max(float(np.abs(np.asarray(one[k]) - np.asarray(weights[0]["init"][k])).max()) for k in one)
    assert moved > 1e-3  # the updates changed the weights
    for k in one:
        np.testing.assert_allclose(np.asarray(one[k]), np.asarray(two[k]), rtol=1e-4, atol=1e-5, err_msg=k)


def test_a_checkpoint_names_its_datasets_by_fingerprint_under_a_movable_root(ray_local, tmp_path):
    import shutil

    from rayeaq.core.errors import DatasetError
    from rayeaq.data.writer import write_dataset
    from rayeaq.learners.qmix.ray_algorithm import restore
    from rayeaq.learners.qmix.run import build_config
    from rayeaq.run_config import load_run_config
    from support.smooth_episodes import toy_episodes as smooth_episodes

    spec = toy_spec(episode_limit=15, n_agents=2, state_dim=8)
    data = tmp_path / "data"
    write_dataset(data / "real" / "good", smooth_episodes(spec, 12, seed=1), spec, source="real", tier="good")
    write_dataset(data / "synthetic", smooth_episodes(spec, 12, seed=2), spec, source="real", tier="good")
    sources = [(str(data / "real" / "good"), 1.0), (str(data / "synthetic"), 0.5)]
    small = ["evaluate.hidden_dim=8", "evaluate.mixing_embed_dim=4", "evaluate.hypernet_embed=8"]
    cfg = load_run_config("tune_configs/evaluate_3m.yaml", [*small, "evaluate.batch_size=4"])
    qcfg = build_config(cfg, sources, updates_per_iteration=2)
    assert qcfg.data_root == str(data.resolve())
    assert qcfg.datasets == [("real/good", 1.0), ("synthetic", 0.5)]  # relative to the root
    algo = qcfg.build_algo()
    algo.train()
    path = algo.save_to_path(str(tmp_path / "ckpt"))
    uninterrupted = algo._sampler.sample(4)["obs"]
    algo.stop()

    moved = tmp_path / "moved"
    shutil.move(data, moved)
    restored = restore(path, data_root=moved)  # the same relative paths and fingerprints under another root
    assert np.array_equal(restored._sampler.sample(4)["obs"], uninterrupted)
    restored.stop()

    shutil.rmtree(moved / "synthetic")  # a different dataset at the same place
    write_dataset(moved / "synthetic", smooth_episodes(spec, 12, seed=3), spec, source="real", tier="good")
    with pytest.raises(DatasetError, match=r"synthetic/card\.json: field fingerprint: expected [0-9a-f]+"):
        restore(path, data_root=moved)

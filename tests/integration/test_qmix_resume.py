"""Exact resume of ``rayeaq.evaluate``: interrupted after k updates and resumed == uninterrupted.

The default learner (QMIX + the joint conservative term, whose sampled actions are random) trains on a small
random dataset with 3m's sizes and is scored on real SMAX; the interruption is a Ctrl-C right after the progress
checkpoint of the second evaluation.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from support.random_episodes import toy_episodes

torch.set_num_threads(1)

UPDATES, INTERVAL, STOP_AT = 24, 8, 16


def _args(dataset, out, *extra: str) -> list[str]:
    return [
        "tune_configs/evaluate_3m.yaml",
        f"evaluate.updates={UPDATES}",
        f"evaluate.eval_interval={INTERVAL}",
        "evaluate.batch_size=4",
        "evaluate.target_update_interval=5",  # target copies before and after the interruption
        "evaluate.eval_episodes=3",
        "evaluate.final_eval_episodes=4",
        "evaluate.eval_envs=4",
        "evaluate.hidden_dim=16",
        "evaluate.mixing_embed_dim=8",
        "evaluate.hypernet_embed=16",
        "evaluate.cql.samples=4",
        "--dataset",
        str(dataset),
        "--out",
        str(out),
        *extra,
    ]


def _rows(path, drop=("time_s",)):
    return [{k: v for k, v in json.loads(line).items() if k not in drop} for line in path.read_text().splitlines()]


def _weights(out):
    from rayeaq.learners.qmix.policy import load_greedy_policy

    return {k: v.numpy() for k, v in load_greedy_policy(out / "checkpoint").nets.state_dict().items()}


@pytest.fixture
def dataset(tmp_path):
    from rayeaq.data.writer import write_dataset
    from rayeaq.envs.smax.maps import smax_spec

    spec = smax_spec("3m", 60)
    ep = toy_episodes(
        16,
        episode_limit=60,
        n_agents=3,
        obs_dim=spec.obs_shape,
        state_dim=spec.state_shape,
        n_actions=spec.n_actions,
        seed=23,
    )
    write_dataset(tmp_path / "ds", ep, spec, source="real", tier="good", behaviour_policy={"kind": "toy"})
    return tmp_path / "ds"


def test_an_interrupted_and_resumed_evaluation_equals_an_uninterrupted_one(ray_local, tmp_path, dataset, monkeypatch):
    from rayeaq.evaluate import main
    from rayeaq.learners.qmix import run as run_module

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main(_args(dataset, whole)) == 0

    save_progress = run_module.save_progress

    def save_then_interrupt(out, save, state):
        path = save_progress(out, save, state)
        if state["updates"] == STOP_AT:
            raise KeyboardInterrupt  # Ctrl-C right after the second progress checkpoint
        return path

    monkeypatch.setattr(run_module, "save_progress", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        main(_args(dataset, cut))
    monkeypatch.undo()
    assert (
        not (cut / "summary.json").exists()
        and json.loads((cut / "progress" / "progress.json").read_text())["updates"] == STOP_AT
    )

    assert main(_args(dataset, cut, "--resume")) == 0
    assert not (cut / "progress").exists()  # complete: only the final checkpoint stays
    resumed, uninterrupted = _rows(cut / "metrics.jsonl"), _rows(whole / "metrics.jsonl")
    assert [r["updates"] for r in resumed] == [8, 16, 24]
    assert resumed == uninterrupted  # the same evaluation episodes, losses and scores
    assert _rows(cut / "learner.jsonl") == _rows(whole / "learner.jsonl")  # the same batches, update by update
    a, b = _weights(cut), _weights(whole)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-6, err_msg=key)
    summary = json.loads((cut / "summary.json").read_text())
    assert summary["updates"] == UPDATES and summary == {
        **json.loads((whole / "summary.json").read_text()),
        "time_s": summary["time_s"],
        "checkpoint": summary["checkpoint"],
    }


def test_resume_refuses_a_changed_config_unless_allowed(tmp_path, dataset):
    from rayeaq.core.errors import ConfigError
    from rayeaq.core.runinfo import write_run_info
    from rayeaq.evaluate import COMMAND, _run_info
    from rayeaq.run_config import load_run_config
    from rayeaq.stages.evaluate import check_evaluate_resume

    def parsed(*extra: str):
        args = COMMAND.parser().parse_args(_args(dataset, tmp_path / "run", *extra))
        return load_run_config(args.config, args.overrides), args

    out = tmp_path / "run"
    cfg, args = parsed("--resume")
    with pytest.raises(ConfigError, match=r"no config.resolved.yaml to compare the resumed evaluation with"):
        _run_info(cfg, args)
    cfg, args = parsed()
    datasets = _run_info(cfg, args)["datasets"]
    write_run_info(out, cfg, "evaluate", {"datasets": datasets})  # what the interrupted run left
    check_evaluate_resume(cfg, out, datasets)  # the same run: accepted
    check_evaluate_resume(parsed("evaluate.rollout_workers=2")[0], out, datasets)  # where it runs: accepted
    with pytest.raises(ConfigError) as err:
        _run_info(*parsed("evaluate.lr=0.001", "--resume"))
    text = str(err.value)
    assert "\n" not in text and "evaluate.lr 0.0005 -> 0.001" in text and "--allow-change evaluate.lr" in text
    with pytest.raises(ConfigError, match=r"changed: datasets"):  # another dataset at the same place
        check_evaluate_resume(cfg, out, [{**datasets[0], "fingerprint": "0" * 16}])
    _run_info(*parsed("evaluate.lr=0.001", "--resume", "--allow-change", "evaluate.lr"))
    first, second = json.loads((out / "run.json").read_text())["resumes"]  # the accepted changes, recorded
    assert first["changed"] == {"evaluate.rollout_workers": {"old": 0, "new": 2}}
    assert second["changed"] == {"evaluate.lr": {"old": 0.0005, "new": 0.001}}

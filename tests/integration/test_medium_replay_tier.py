"""``collect.tiers=[medium_replay]``: OG-MARL's medium_replay tier from a content-addressed online QMIX run, trained
once and found by every later collection (and by ``rayeaq.train_online``), whatever the number of workers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

SHIPPED = Path(__file__).resolve().parents[2] / "tune_configs" / "online" / "3m.yaml"

TINY = [
    "online.env_steps=1200",
    "online.eval_every_steps=600",
    "online.eval_episodes=8",
    "online.episodes_per_iteration=8",
    "online.updates_per_iteration=2",
    "online.min_buffer_episodes=8",
    "evaluate.eval_envs=8",
    "evaluate.batch_size=8",
]
"""The shipped 3m online config on ~1 200 env steps: checkpoints at 0, ~600 and ~1 200 steps."""


def _collect_cfg(workers: int = 1, episodes: int = 12):
    from rayeaq.run_config import load_run_config

    return load_run_config(
        None,
        [
            "env.map=3m",
            "seed=2",
            f"collect.episodes={episodes}",
            "collect.shard_episodes=5",
            f"collect.workers={workers}",
            "collect.tiers=[medium_replay]",
            "collect.tier_bands.medium_replay.win_rate=[0.0,1.0]",  # the first trained checkpoint ends the replay
            f"collect.medium_replay.online_config={SHIPPED}",
            f"collect.medium_replay.overrides={json.dumps(TINY)}",
        ],
    )


def test_medium_replay_tier_from_a_content_addressed_online_run(ray_local, tmp_path, monkeypatch, capsys):
    import rayeaq.stages.ray_online as ray_online
    from rayeaq.core.errors import ConfigError
    from rayeaq.data.card import read_card
    from rayeaq.data.reader import load_dataset
    from rayeaq.policies import checkpoint_fingerprint
    from rayeaq.stages.collect.driver import collect_all
    from rayeaq.stages.collect.medium_replay import online_config
    from rayeaq.stages.online_run import config_key, run_dir

    monkeypatch.chdir(tmp_path)  # online runs go to results/online, train_online's default, under the test's dir
    trainings = []
    real = ray_online.run_online
    monkeypatch.setattr(ray_online, "run_online", lambda *a, **k: trainings.append(a[1]) or real(*a, **k))

    cfg = _collect_cfg()
    collect_all(cfg, tmp_path / "one")
    online = online_config(cfg)
    run = run_dir(online)
    assert trainings == [run] and run.parent == Path("results/online")
    assert (online.seed, online.env.map, online.online.env_steps) == (2, "3m", 1200)

    card = read_card(tmp_path / "one" / "medium_replay")
    q, b = card.quality, card.behaviour_policy
    rows = json.loads((run / "checkpoints.json").read_text())
    medium = next(r for r in rows if r["train_episodes"] > 0)  # band [0, 1]: the first trained checkpoint
    assert card.tier == "medium_replay" and card.stats.episodes == min(12, medium["train_episodes"])
    assert (q["upto_checkpoint"], q["upto_env_steps"], q["own_win_rate"]) == (
        Path(medium["path"]).name,
        medium["env_steps"],
        medium["win_rate"],
    )
    assert q["replay_episodes"] == medium["train_episodes"] and 0.0 <= q["replay_win_rate"] <= 1.0
    assert q["online_run"]["config_key"] == config_key(online) and q["online_run"]["env_steps"] >= 1200
    assert (
        b["provenance"]["checkpoint_fingerprint"]
        == medium["fingerprint"]
        == checkpoint_fingerprint(run / Path(medium["path"]).name)
    )
    # the tier's episodes are replay episodes played before that checkpoint (drawn, renumbered 0..n-1)
    data, replay = (
        load_dataset(tmp_path / "one" / "medium_replay").episodes,
        load_dataset(run / "medium_replay").episodes,
    )
    assert np.array_equal(np.sort(data.episode_id), np.arange(len(data)))
    by_seed = {int(s): i for i, s in enumerate(replay.seed)}
    for k in range(len(data)):
        j = by_seed[int(data.seed[k])]
        assert np.array_equal(data.actions[k], replay.actions[j]) and data.length[k] == replay.length[j]

    # a second collection (elsewhere, 2 workers) reuses the run and writes the same episodes
    collect_all(_collect_cfg(workers=2), tmp_path / "two")
    assert trainings == [run]
    assert read_card(tmp_path / "two" / "medium_replay").fingerprint == card.fingerprint
    assert "online QMIX run reused" in capsys.readouterr().out
    # rayeaq.train_online on the same config and seed finds the same run (the checkpoint ladder's cache)
    from rayeaq.train_online import main

    assert main([str(SHIPPED), *TINY, "seed=2", "online.medium_replay_band=null"]) == 0 and trainings == [run]
    assert "train_online: reused qmix 3m seed 2" in capsys.readouterr().out
    # the same collection again keeps the finished tier; another draw into it is refused before anything is written
    collect_all(cfg, tmp_path / "one")
    assert "[medium_replay] complete already" in capsys.readouterr().out and trainings == [run]
    with pytest.raises(ConfigError, match=r"holds a medium_replay dataset collected with a different"):
        collect_all(_collect_cfg(episodes=10), tmp_path / "one")


def test_the_shipped_collect_config_names_the_run_train_online_makes(monkeypatch):
    """collect_3m.yaml's medium_replay run is ``rayeaq.train_online tune_configs/online/3m.yaml seed=S``'s run."""
    from rayeaq.core.config import load_config
    from rayeaq.core.errors import ConfigError
    from rayeaq.run_config import load_run_config
    from rayeaq.stages.collect.medium_replay import online_config
    from rayeaq.stages.online_run import OnlineRunConfig, config_key, run_dir

    monkeypatch.chdir(SHIPPED.parents[2])  # paths in the shipped configs are relative to the repository
    shipped = SHIPPED.parents[1] / "collect_3m.yaml"
    online = online_config(load_run_config(shipped, ["collect.tiers=[medium_replay]", "seed=5"]))
    direct = load_config(OnlineRunConfig, SHIPPED, ["seed=5"])
    assert config_key(online) == config_key(direct) and run_dir(online) == run_dir(direct)
    assert config_key(online) != config_key(load_config(OnlineRunConfig, SHIPPED, ["seed=6"]))
    with pytest.raises(ConfigError, match=r"collect\.tiers: medium_replay needs env\.backend smax"):
        online_config(load_run_config(shipped, ["collect.tiers=[medium_replay]", "env.backend=sc2"]))
    with pytest.raises(ConfigError, match=r"collect\.medium_replay\.online_config: nowhere\.yaml is not a file"):
        online_config(
            load_run_config(
                shipped, ["collect.tiers=[medium_replay]", "collect.medium_replay.online_config=nowhere.yaml"]
            )
        )

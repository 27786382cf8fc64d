"""Behaviour policies: the registry family, the per-tier choice by own win rate, the graded scripted policies."""

from __future__ import annotations

import numpy as np
import pytest

from rayeaq.core.errors import ConfigError
from rayeaq.policies import POLICIES, Candidate, checkpoint_fingerprint, scripted_names
from rayeaq.policies.config import PolicyConfig
from rayeaq.run_config import load_run_config
from rayeaq.stages.collect.config import CollectConfig, TierSpec
from rayeaq.stages.collect.core import choose_candidate, tier_candidates


def test_registry_members_and_unknown_kind():
    assert {"graded", "heuristic_mix", "random", "qmix_checkpoint", "focus_team", "spread_fire", "retreat"} <= set(
        POLICIES.names()
    )
    assert "graded" not in scripted_names() and "spread_fire" in scripted_names()
    assert PolicyConfig().kind == "graded"  # the ε-mixture is available but not the default
    with pytest.raises(ConfigError, match=r"collect\.policy\.kind: expected one of .*'graded'") as err:
        load_run_config(None, ["collect.policy.kind=best"])
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"collect\.tier_bands\.poor\.script"):
        load_run_config(None, ["collect.tier_bands.poor.script=graded"])


def test_candidates_per_kind():
    cfg = CollectConfig(tiers=["good", "poor"], policy=PolicyConfig(ladder=["focus_team", "spread_fire"], noise=0.1))
    assert [c.label for c in tier_candidates(cfg, "good")] == ["focus_team(noise=0.100)", "spread_fire(noise=0.100)"]
    cfg.tier_bands["poor"] = TierSpec(win_rate=(0.0, 0.1), script="retreat", epsilon=0.2)
    (only,) = tier_candidates(cfg, "poor")
    assert (only.script, only.epsilon, only.runner) == ("retreat", 0.2, "jax")
    mix = CollectConfig(policy=PolicyConfig(kind="heuristic_mix", target="nearest"))
    grid = tier_candidates(mix, "medium")
    assert len(grid) > 5 and {c.script for c in grid} == {"focus_nearest"} and grid[-1].label == "random"
    ckpt = CollectConfig(policy=PolicyConfig(kind="qmix_checkpoint", checkpoint="/x"))
    assert {c.runner for c in tier_candidates(ckpt, "good")} == {"host"}
    assert Candidate.from_dict(only.to_dict()) == only
    assert only.provenance() == {"script": "rayeaq.policies.scripts:retreat"}


def test_qmix_ladder_lists_the_checkpoints_of_an_online_run(tmp_path):
    import json

    run = tmp_path / "moved_run"
    for i in range(3):
        (run / f"checkpoint_{i:04d}").mkdir(parents=True)
    rows = [{"path": f"/elsewhere/checkpoint_{i:04d}", "env_steps": 1000 * i, "win_rate": 0.1 * i} for i in range(3)]
    (run / "checkpoints.json").write_text(json.dumps(rows))
    cfg = CollectConfig(policy=PolicyConfig(kind="qmix_ladder", online_run=str(run), noise=0.05))
    cands = tier_candidates(cfg, "medium")
    assert [c.label for c in cands] == [f"qmix_ladder(env_steps={1000 * i},noise=0.050)" for i in range(3)]
    assert [c.checkpoint for c in cands] == [str(run / f"checkpoint_{i:04d}") for i in range(3)]  # found by name
    assert {c.runner for c in cands} == {"host"} and {c.epsilon for c in cands} == {0.05}
    POLICIES.get("qmix_ladder").validate(cfg.policy)  # type: ignore[misc]
    (run / "checkpoint_0002").rmdir()
    with pytest.raises(ConfigError, match=r"collect\.policy\.online_run: .*missing checkpoints"):
        POLICIES.get("qmix_ladder").validate(cfg.policy)  # type: ignore[misc]
    with pytest.raises(ConfigError, match=r"collect\.policy\.online_run: expected a rayeaq\.train_online run"):
        POLICIES.get("qmix_ladder").validate(PolicyConfig(kind="qmix_ladder"))  # type: ignore[misc]


def _rows(rates):
    return [{"policy": f"p{i}", "win_rate": r} for i, r in enumerate(rates)]


def test_choose_candidate_known_answers():
    rows = _rows([0.55, 0.34, 0.20, 0.06, 0.02, 0.0])

    def pick(band):
        return choose_candidate(TierSpec(win_rate=band), rows)

    assert pick((0.5, 1.0)) == (rows[0], True)
    assert pick((0.2, 0.5)) == (rows[1], True)  # closest to the centre 0.35
    assert pick((0.0, 0.1)) == (rows[3], True)  # 0.06 is 0.01 from the centre 0.05
    assert pick((0.7, 1.0)) == (rows[0], False)  # none inside: the closest to the band
    assert pick((0.4, 0.45)) == (rows[1], False)


def test_checkpoint_fingerprint_follows_content(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "w.pt").write_bytes(b"123")
    first = checkpoint_fingerprint(tmp_path)
    assert checkpoint_fingerprint(tmp_path) == first
    (tmp_path / "a" / "w.pt").write_bytes(b"124")
    assert checkpoint_fingerprint(tmp_path) != first


@pytest.mark.slow
def test_scripted_policies_are_graded_on_3m():
    """Own win rates on 3m fall down the ladder (known answers, 128 fixed seeds), every action legal."""
    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.stages.collect.rollout import run_episodes

    spec = smax_spec("3m")
    seeds = np.arange(128) + 777
    win = {}
    for name in ("focus_team", "focus_nearest", "spread_fire", "retreat"):
        *_, (_, assembler) = run_episodes(spec, seeds, 0.05, script=name, n_slots=128)
        batch = assembler.whole()
        taken = np.take_along_axis(batch.avail_actions, batch.actions[..., None], axis=-1)[..., 0]
        assert taken[batch.filled].all(), name
        win[name] = float(batch.won.mean())
    assert win["focus_team"] >= 0.45 and win["spread_fire"] <= 0.15 and win["retreat"] == 0.0, win
    assert win["focus_team"] > win["focus_nearest"] > win["spread_fire"] >= win["retreat"], win

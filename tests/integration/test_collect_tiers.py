"""Tiers from policies of graded skill: chosen by own win rate, recorded in the card, checked by BC."""

from __future__ import annotations

import json

import pytest

from rayeaq.data.card import read_card
from rayeaq.run_config import load_run_config
from rayeaq.stages.collect.driver import collect_all


@pytest.mark.slow
def test_graded_tiers_land_in_their_bands(ray_local, tmp_path):
    cfg = load_run_config(
        None,
        [
            "env.map=3m",
            "seed=11",
            "collect.episodes=40",
            "collect.shard_episodes=20",
            "collect.envs_per_worker=64",
            "collect.tiers=[good,poor]",
            "collect.calibration_episodes=64",
            "collect.workers=2",
            "collect.policy.ladder=[focus_team,spread_fire,retreat]",
        ],
    )
    collect_all(cfg, tmp_path / "d")
    good, poor = read_card(tmp_path / "d" / "good"), read_card(tmp_path / "d" / "poor")
    for card in (good, poor):
        q = card.quality
        low, high = q["win_rate_band"]
        own = q["own_win_rate"]
        assert [r["policy"] for r in q["calibration"]] == [
            "focus_team(noise=0.050)",
            "spread_fire(noise=0.050)",
            "retreat(noise=0.050)",
        ]
        assert q["band_met"] == (low <= own <= high)  # met, or honestly reported as not met
        assert card.behaviour_policy["own_win_rate"] == own and card.behaviour_policy["name"] == q["policy"]
        assert card.behaviour_policy["provenance"]["script"].startswith("rayeaq.policies.scripts:")
        assert set(card.behaviour_policy) >= {"kind", "noise", "ladder", "script", "epsilon"}
    # the same measurements serve both tiers (same seeds for every candidate)
    assert good.quality["calibration"] == poor.quality["calibration"]
    assert good.quality["policy"] == "focus_team(noise=0.050)"  # the only candidate anywhere near [0.45, 1]
    assert poor.quality["policy"] in ("spread_fire(noise=0.050)", "retreat(noise=0.050)")
    assert poor.quality["band_met"] is True
    assert good.stats.win_rate > poor.stats.win_rate


@pytest.mark.slow
def test_collect_check_tiers_on_a_tiny_budget_writes_its_table(ray_local, tmp_path, capsys):
    """``python -m rayeaq.collect ... --check-tiers``: collects, trains BC per tier, writes and prints the table."""
    from rayeaq.collect import main

    code = main(
        [
            "tune_configs/collect_3m.yaml",  # the shipped config (its BC budget and bands), shrunk
            "seed=5",
            "collect.episodes=24",
            "collect.shard_episodes=24",
            "collect.envs_per_worker=24",
            "collect.workers=1",
            "collect.tiers=[good,poor]",
            "collect.tier_bands.good.script=focus_team",
            "collect.tier_bands.poor.script=spread_fire",
            "evaluate.updates=10",
            "evaluate.eval_interval=10",
            "evaluate.batch_size=8",
            "evaluate.eval_episodes=4",
            "evaluate.final_eval_episodes=8",
            "evaluate.eval_envs=8",
            "evaluate.hidden_dim=16",
            "--out",
            str(tmp_path / "d"),
            "--check-tiers",
        ]
    )
    table = json.loads((tmp_path / "d" / "check" / "tiers.json").read_text())
    rows = table["rows"]
    assert [r["tier"] for r in rows] == ["good", "poor"] and set(table["verdicts"]) == {"good", "poor"}
    assert code == (0 if all(table["verdicts"].values()) else 1)
    for row in rows:
        assert 0.0 <= row["bc_win_rate"] <= 1.0 and row["bc_episodes"] == 8 and row["bc_updates"] == 10
        card = read_card(tmp_path / "d" / row["tier"])
        assert row["data_win_rate"] == card.stats.win_rate and row["episodes"] == 24
        assert (tmp_path / "d" / "check" / f"bc_{row['tier']}" / "summary.json").is_file()
    assert rows[0]["band"] == [0.45, 1.0] and rows[0]["policy"] == "focus_team(noise=0.050)"
    md = (tmp_path / "d" / "check" / "tiers.md").read_text()
    assert "focus_team(noise=0.050)" in md and "spread_fire(noise=0.050)" in md and "checks:" in md
    printed = capsys.readouterr().out
    assert md.splitlines()[0] in printed and "tier check: good " in printed.splitlines()[-1]

"""tune_configs/mpe.yaml and its CPU-sized piece load, check and expand to the intended grid (learner x augmenter
x tier x seed, MPE's OMAR/D4RL tier names accepted by the sweep)."""

from __future__ import annotations

import pytest

from rayeaq.core.errors import ConfigError
from rayeaq.sweep.driver import load_sweep


def test_mpe_grid_is_learner_by_augmenter_by_tier_by_seed():
    cfg, points = load_sweep("tune_configs/mpe.yaml", [])
    assert cfg.env.backend == "mpe" and cfg.tune.metric == "score"
    assert len(points) == 5 * 3 * 3 * 5 == 225
    combos = {(p["evaluate.algorithm"], p["augment.augmenter"], p["collect_tier"], p["seed"]) for p in points}
    assert len(combos) == 225
    assert {p["evaluate.algorithm"] for p in points} == {"box_bc", "td3bc", "cql", "dom2", "omsd"}
    assert {p["collect_tier"] for p in points} == {"medium_replay", "medium", "expert"}


def test_mpe_cpu_piece_is_four_trials():
    cfg, points = load_sweep("tune_configs/mpe_cpu.yaml", [])
    assert len(points) == 4 and cfg.tune.collect_tier == "medium"


def test_an_unknown_tier_is_one_line():
    with pytest.raises(ConfigError, match=r"collect_tier: expected one of .*medium_expert.*got 'hard'"):
        load_sweep("tune_configs/mpe.yaml", ["tune.space.collect_tier={grid_search: [hard]}"])

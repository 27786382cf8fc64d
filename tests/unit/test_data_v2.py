"""Dataset schema v2: box actions, optional per-agent rewards and availability, a nullable success flag, reference
returns — and version-1 datasets (tests/data/v1_dataset, written by the pre-v2 code) still load unchanged."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from rayeaq.core.errors import DatasetError
from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.card import normalized_score, read_card
from rayeaq.data.reader import load_dataset, load_mixture
from rayeaq.data.writer import write_dataset
from rayeaq.envs.mpe.maps import mpe_spec
from support.box_episodes import box_batch

V1 = Path(__file__).parents[1] / "data" / "v1_dataset"


def _v1_source_batch() -> EpisodeBatch:
    spec = importlib.util.spec_from_file_location("make_v1", Path(__file__).parents[1] / "data" / "make_v1_dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    batch = module.tiny_batch()
    batch.episode_return = batch.reward.sum(1).astype(np.float32)
    return batch


def test_v1_dataset_loads_unchanged_and_keeps_its_fingerprint(tmp_path):
    card = read_card(V1)
    assert card.schema_version == 1 and not card.is_box and card.has_avail_actions and card.has_success
    data = load_dataset(V1)
    expected = _v1_source_batch()
    for name in ("obs", "state", "avail_actions", "actions", "reward", "filled", "battle_won", "length"):
        np.testing.assert_array_equal(getattr(data.episodes, name), getattr(expected, name), err_msg=name)
    assert data.episodes.actions.dtype == np.int64 and data.episodes.agent_reward is None
    # the same episodes written by the v2 writer: a v2 card with the v1 fingerprint (digests unchanged)
    from dataclasses import replace

    from rayeaq.envs.smax.maps import smax_spec

    spec = replace(
        smax_spec("3m"),
        n_agents=2,
        n_actions=4,
        obs_shape=3,
        state_shape=5,
        episode_limit=5,
        action_layout=("a0", "a1", "a2", "a3"),
    )
    v2 = write_dataset(tmp_path / "v2", data.episodes, spec, shard_episodes=1, source="real")
    assert v2.schema_version == 2 and v2.fingerprint == card.fingerprint
    assert v2.action_space == {"kind": "discrete", "n": 4} and v2.stats.win_rate == card.stats.win_rate
    mixed, _ = load_mixture([(V1, 1.0), (tmp_path / "v2", 1.0)])
    assert len(mixed) == 2 * len(expected)


def test_box_round_trip_agent_reward_and_null_success(tmp_path):
    spec = mpe_spec("omar_spread")
    batch = box_batch(7)
    card = write_dataset(
        tmp_path / "d",
        batch,
        spec,
        shard_episodes=3,
        source="real",
        reference_returns={"random": -10.0, "expert": 30.0},
    )
    assert card.action_space == {"kind": "box", "dim": 2, "low": -1.0, "high": 1.0}
    assert not card.has_avail_actions and card.has_agent_reward and not card.has_success
    assert card.stats.win_rate is None and card.stats.normalized_score == pytest.approx(
        100 * (batch.episode_return.mean() - (-10.0)) / 40.0, rel=1e-5
    )
    shard = pq.read_table(tmp_path / "d" / "shards" / card.shards[0])
    assert shard.column("battle_won").null_count == shard.num_rows and "avail_actions" not in shard.column_names
    loaded = load_dataset(tmp_path / "d").episodes
    assert loaded.avail_actions is None and loaded.actions.dtype == np.float32 and loaded.is_box
    for name in ("obs", "state", "actions", "reward", "agent_reward", "filled", "length", "episode_return"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(batch, name), err_msg=name)
    assert not loaded.battle_won.any()
    torch_view = loaded.to_torch()
    assert tuple(torch_view["actions"].shape) == (7, 26, 3, 2) and "avail_actions" not in torch_view
    # fingerprint independent of sharding
    again = write_dataset(tmp_path / "e", batch, spec, shard_episodes=100, source="real")
    assert again.fingerprint == card.fingerprint


def test_mixture_rules_for_box_datasets(tmp_path):
    spec = mpe_spec("omar_spread")
    write_dataset(tmp_path / "a", box_batch(4, seed=1), spec, source="real")
    write_dataset(tmp_path / "b", box_batch(6, seed=2, first_id=10), spec, source="real")
    mixed, _datasets = load_mixture([(tmp_path / "a", 1.0), (tmp_path / "b", 0.5)], seed=3)
    assert len(mixed) == 4 + 3 and mixed.agent_reward.shape == (7, 26, 3)
    without = box_batch(4, seed=3)
    without.agent_reward = None
    write_dataset(tmp_path / "c", without, spec, source="real")
    with pytest.raises(DatasetError, match="has_agent_reward"):
        load_mixture([(tmp_path / "a", 1.0), (tmp_path / "c", 1.0)])
    with pytest.raises(DatasetError, match="mpe/omar_spread"):
        load_mixture([(tmp_path / "a", 1.0), (V1, 1.0)])
    with pytest.raises(DatasetError, match="box"):  # discrete episodes under a box spec
        write_dataset(tmp_path / "x", _v1_source_batch(), spec, source="real")


def test_unknown_schema_version_is_one_line_error(tmp_path):
    shutil.copytree(V1, tmp_path / "d")
    raw = json.loads((tmp_path / "d" / "card.json").read_text())
    raw["schema_version"] = 3
    (tmp_path / "d" / "card.json").write_text(json.dumps(raw))
    with pytest.raises(DatasetError, match="schema_version: 3 is not supported"):
        load_dataset(tmp_path / "d")


def test_normalized_score_known_answers():
    assert normalized_score(5.0, {"random": 0.0, "expert": 10.0}) == 50.0
    assert normalized_score(-2.0, {"random": -2.0, "expert": 6.0}) == 0.0
    assert normalized_score(1.0, {}) is None


@pytest.mark.slow
def test_ray_view_reads_v1_and_v2(ray_local, tmp_path):
    from rayeaq.data.ray_io import read_ray_dataset

    write_dataset(tmp_path / "b", box_batch(5), mpe_spec("omar_spread"), source="real")
    for directory in (V1, tmp_path / "b"):
        expected = load_dataset(directory).episodes
        rows = read_ray_dataset(directory).take_all()
        rows.sort(key=lambda r: r["episode_id"])
        for name in expected.step_fields():
            np.testing.assert_array_equal(np.stack([r[name] for r in rows]), getattr(expected, name), err_msg=name)
        assert [bool(r["battle_won"]) for r in rows] == expected.battle_won.tolist()

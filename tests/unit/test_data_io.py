"""Dataset round trip, atomic shards, validation errors, mixtures."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from rayeaq.core.errors import DatasetError
from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.card import read_card
from rayeaq.data.reader import load_dataset, load_mixture, parse_dataset_arg
from rayeaq.data.shards import write_shard
from rayeaq.data.writer import write_dataset
from rayeaq.envs.smax.maps import smax_spec


def random_batch(spec, n: int, seed: int = 0, first_id: int = 0, source: str = "real") -> EpisodeBatch:
    """Synthetic-but-well-formed episodes of ``spec``'s sizes (for I/O tests only)."""
    rng = np.random.default_rng(seed)
    t = spec.max_seq_len
    length = rng.integers(1, spec.episode_limit + 1, size=n)
    filled = np.arange(t)[None, :] < length[:, None]
    reward = rng.random((n, t)).astype(np.float32) * filled
    terminated = np.zeros((n, t), bool)
    terminated[np.arange(n), length - 1] = True
    return EpisodeBatch(
        obs=rng.standard_normal((n, t, spec.n_agents, spec.obs_shape)).astype(np.float32),
        state=rng.standard_normal((n, t, spec.state_shape)).astype(np.float32),
        avail_actions=rng.random((n, t, spec.n_agents, spec.n_actions)) < 0.5,
        actions=rng.integers(0, spec.n_actions, (n, t, spec.n_agents)),
        reward=reward,
        terminated=terminated,
        filled=filled,
        episode_id=np.arange(first_id, first_id + n),
        length=length,
        episode_return=reward.sum(1),
        battle_won=rng.random(n) < 0.5,
        seed=np.arange(n) + 100,
        source=np.array([source] * n, dtype=object),
        behaviour_policy=np.array(["test"] * n, dtype=object),
    )


def test_round_trip_identical_arrays(tmp_path):
    spec = smax_spec("3m")
    batch = random_batch(spec, 37)
    card = write_dataset(tmp_path / "d", batch, spec, shard_episodes=10, source="real", tier="good")
    assert card.stats.episodes == 37 and len(card.shards) == 4
    loaded = load_dataset(tmp_path / "d")
    for name, value in batch.to_arrays().items():
        assert np.array_equal(getattr(loaded.episodes, "episode_return" if name == "return" else name), value), name
    assert loaded.card.fingerprint == card.fingerprint
    # the fingerprint depends on content, not on how episodes were sharded
    other = write_dataset(tmp_path / "e", batch, spec, shard_episodes=7, source="real")
    assert other.fingerprint == card.fingerprint
    changed = random_batch(spec, 37)
    changed.reward[0, 0] += 1.0
    assert write_dataset(tmp_path / "f", changed, spec, source="real").fingerprint != card.fingerprint


def test_torch_view_shapes(tmp_path):
    spec = smax_spec("3m")
    tensors = random_batch(spec, 4).to_torch()
    assert tuple(tensors["obs"].shape) == (4, 61, 3, 75)
    assert str(tensors["filled"].dtype) == "torch.bool"


def test_interrupted_write_leaves_no_readable_partial_shard(tmp_path, monkeypatch):
    spec = smax_spec("3m")
    write_dataset(tmp_path / "d", random_batch(spec, 10), spec, shard_episodes=5, source="real")
    import pyarrow.parquet as pq

    real_write = pq.write_table

    def crash_midway(table, where, **kwargs):
        real_write(table.slice(0, 1), where, **kwargs)  # some bytes reach the disk ...
        raise KeyboardInterrupt  # ... then the process is interrupted

    monkeypatch.setattr(pq, "write_table", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        write_shard(tmp_path / "d" / "shards", random_batch(spec, 5, first_id=10))
    monkeypatch.undo()
    files = sorted(p.name for p in (tmp_path / "d" / "shards").iterdir())
    assert "shard-000000010.parquet" not in files  # nothing published under a shard name
    assert not any(name.startswith(".") for name in files)  # the partial temporary was removed too
    assert len(load_dataset(tmp_path / "d").episodes) == 10


def test_missing_card_and_dir(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="card missing"):
        load_dataset(tmp_path / "empty")


def test_wrong_shape_names_file_and_field(tmp_path):
    spec = smax_spec("3m")
    write_dataset(tmp_path / "d", random_batch(spec, 5), spec, source="real")
    card_path = tmp_path / "d" / "card.json"
    card = json.loads(card_path.read_text())
    card["obs_shape"] = 74
    card_path.write_text(json.dumps(card))
    with pytest.raises(DatasetError, match=r"shard-000000000\.parquet: field obs"):
        load_dataset(tmp_path / "d")


def test_nan_values_rejected(tmp_path):
    spec = smax_spec("3m")
    batch = random_batch(spec, 5)
    write_dataset(tmp_path / "d", batch, spec, source="real")
    batch.obs[2, 3, 0, 1] = np.nan
    write_shard(tmp_path / "d" / "shards", batch, "shard-000000000.parquet")
    with pytest.raises(DatasetError, match="field obs: contains NaN"):
        load_dataset(tmp_path / "d")


def test_malformed_card(tmp_path):
    spec = smax_spec("3m")
    write_dataset(tmp_path / "d", random_batch(spec, 5), spec, source="real")
    card_path = tmp_path / "d" / "card.json"
    card = json.loads(card_path.read_text())
    del card["map"]
    card_path.write_text(json.dumps(card))
    with pytest.raises(DatasetError, match=r"card.json: field map"):
        read_card(tmp_path / "d")
    card_path.write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        read_card(tmp_path / "d")


def test_missing_shard_listed_in_card(tmp_path):
    spec = smax_spec("3m")
    write_dataset(tmp_path / "d", random_batch(spec, 10), spec, shard_episodes=5, source="real")
    (tmp_path / "d" / "shards" / "shard-000000005.parquet").unlink()
    with pytest.raises(DatasetError, match="shard listed in the card is missing"):
        load_dataset(tmp_path / "d")


def test_mixture_weights_and_map_mismatch(tmp_path):
    spec3m, spec8m = smax_spec("3m"), smax_spec("8m")
    write_dataset(tmp_path / "a", random_batch(spec3m, 10), spec3m, source="real")
    write_dataset(tmp_path / "b", random_batch(spec3m, 20, seed=1, source="synthetic"), spec3m, source="synthetic")
    with pytest.raises(DatasetError, match="field source"):
        write_dataset(tmp_path / "x", random_batch(spec3m, 2), spec3m, source="synthetic")
    write_dataset(tmp_path / "c", random_batch(spec8m, 4), spec8m, source="real")
    mixed, datasets = load_mixture([(tmp_path / "a", 1.0), (tmp_path / "b", 0.5)], seed=0)
    assert len(mixed) == 10 + 10 and len(datasets) == 2
    assert (mixed.source == "synthetic").sum() == 10
    doubled, _ = load_mixture([(tmp_path / "a", 2.0)])
    assert len(doubled) == 20
    with pytest.raises(DatasetError, match="a mixture must use one map"):
        load_mixture([(tmp_path / "a", 1.0), (tmp_path / "c", 1.0)])
    assert parse_dataset_arg(f"{tmp_path / 'a'}:0.25") == (str(tmp_path / "a"), 0.25)
    assert parse_dataset_arg(str(tmp_path / "a")) == (str(tmp_path / "a"), 1.0)


def test_real_dataset_round_trip_and_row_convention(real_3m_dataset, tmp_path):
    data = load_dataset(real_3m_dataset)
    ep = data.episodes
    assert data.card.source == "real" and data.card.map == "3m"
    n = len(ep)
    rows = np.arange(ep.max_seq_len)[None, :]
    assert np.array_equal(ep.filled, rows < ep.length[:, None])
    # the terminal row is stored: global state always, observations where an ally survived
    assert np.abs(ep.state[np.arange(n), ep.length]).sum(axis=1).min() > 0
    assert np.abs(ep.obs[np.arange(n), ep.length]).sum(axis=(1, 2))[ep.battle_won].min() > 0
    padding = rows > ep.length[:, None]
    assert not ep.obs[padding].any() and not ep.actions[padding].any() and not ep.reward[padding].any()
    # won episodes end by a terminal battle outcome
    assert ep.terminated[np.arange(n), ep.length - 1][ep.battle_won].all()
    # actions taken were legal
    taken = np.take_along_axis(ep.avail_actions, ep.actions[..., None], axis=-1)[..., 0]
    assert taken[ep.filled].all()
    np.testing.assert_allclose(ep.episode_return, (ep.reward * ep.filled).sum(1), rtol=1e-5)
    shutil.copytree(real_3m_dataset, tmp_path / "copy")
    assert load_dataset(tmp_path / "copy").card.fingerprint == data.card.fingerprint

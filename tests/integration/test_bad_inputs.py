"""Bad inputs, clean errors, nothing lost: each is one line naming the file and what is wrong.

Real Parquet shards written by the real writer, then damaged the way disks and people damage them.
"""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rayeaq.core.errors import DatasetError, UserError
from rayeaq.data.card import CARD_NAME, SHARD_DIR
from rayeaq.data.reader import load_dataset, load_mixture
from rayeaq.data.writer import write_dataset
from rayeaq.envs.spec import EnvSpec
from support.random_episodes import toy_spec
from support.smooth_episodes import toy_episodes

SPEC = toy_spec(episode_limit=15, n_agents=2, state_dim=8)


def _dataset(directory, n=8, seed=1, spec=SPEC, source="real"):
    episodes = toy_episodes(spec, n, seed=seed)
    if source != "real":
        episodes.source[:] = source
    write_dataset(directory, episodes, spec, source=source, shard_episodes=4)
    return directory


def _shard(directory):
    return sorted((directory / SHARD_DIR).glob("*.parquet"))[0]


def _one_line(err, *parts):
    text = str(err.value)
    assert "\n" not in text, text
    for part in parts:
        assert str(part) in text, (part, text)
    return text


def test_truncated_shard(tmp_path):
    data = _dataset(tmp_path / "d")
    shard = _shard(data)
    raw = shard.read_bytes()
    shard.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError) as err:
        load_dataset(data)
    _one_line(err, shard, "not a readable Parquet shard")


@pytest.mark.parametrize("edit", ["drop_obs", "obs_width", "return_as_text", "episode_id_as_text", "actions_float"])
def test_shard_with_edited_schema(tmp_path, edit):
    data = _dataset(tmp_path / "d")
    shard = _shard(data)
    table = pq.read_table(shard)
    if edit == "drop_obs":
        table = table.drop_columns(["obs"])
    elif edit == "obs_width":  # one value fewer per episode
        obs = table.column("obs").combine_chunks()
        size = obs.type.list_size - 1
        values = obs.values.slice(0, size * len(table))
        table = table.set_column(
            table.column_names.index("obs"), "obs", pa.FixedSizeListArray.from_arrays(values, size)
        )
    elif edit == "return_as_text":
        col = table.column("return").cast(pa.string())
        table = table.set_column(table.column_names.index("return"), "return", col)
    elif edit == "episode_id_as_text":
        col = table.column("episode_id").cast(pa.string())
        table = table.set_column(table.column_names.index("episode_id"), "episode_id", col)
    elif edit == "actions_float":
        col = table.column("actions").cast(pa.list_(pa.float32(), table.column("actions").type.list_size))
        table = table.set_column(table.column_names.index("actions"), "actions", col)
    pq.write_table(table, shard)
    with pytest.raises(DatasetError) as err:
        load_dataset(data)
    field = {
        "drop_obs": "obs",
        "obs_width": "obs",
        "return_as_text": "return",
        "episode_id_as_text": "episode_id",
        "actions_float": "actions",
    }[edit]
    _one_line(err, shard, f"field {field}")


def test_card_that_does_not_match_its_shards(tmp_path):
    data = _dataset(tmp_path / "d")
    other = _dataset(tmp_path / "other", seed=7)
    # same file names, same episode ids, other content: a shard copied over from another dataset
    os.replace(_shard(other), _shard(data))
    with pytest.raises(DatasetError) as err:
        load_dataset(data)
    _one_line(err, data / CARD_NAME, "field fingerprint")
    # a card edited to claim more episodes
    data2 = _dataset(tmp_path / "d2")
    card = json.loads((data2 / CARD_NAME).read_text())
    card["stats"]["episodes"] += 1
    (data2 / CARD_NAME).write_text(json.dumps(card))
    with pytest.raises(DatasetError) as err:
        load_dataset(data2)
    _one_line(err, data2, "the card says 9")


def test_mixture_of_datasets_from_different_maps(tmp_path):
    other_map = EnvSpec(**{**SPEC.to_dict(), "map": "8m"}) if hasattr(SPEC, "to_dict") else None
    a = _dataset(tmp_path / "a")
    b = _dataset(tmp_path / "b", spec=other_map)
    with pytest.raises(DatasetError) as err:
        load_mixture([(a, 1.0), (b, 1.0)])
    _one_line(err, b, "smax/8m", "smax/3m", "one map")


def test_generator_checkpoint_of_another_format_or_map(tmp_path):
    import torch

    from rayeaq.augmenters.eaq import check_generator
    from rayeaq.data.card import read_card
    from rayeaq.generators.eaq.train import load_checkpoint

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    torch.save({"format": "someone-else/1", "weights": torch.zeros(2)}, foreign / "generator.pt")
    with pytest.raises(UserError) as err:
        load_checkpoint(foreign)
    _one_line(err, foreign / "generator.pt", "not a generator checkpoint of format")
    (foreign / "generator.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(UserError) as err:
        load_checkpoint(foreign)
    _one_line(err, foreign / "generator.pt", "not a readable generator checkpoint")

    card = read_card(_dataset(tmp_path / "d"))
    layout = {"n_agents": 2, "obs_dim": 6, "n_actions": 7, "state_dim": 8, "episode_limit": 15}
    payload = {
        "diffusion": {"q_weight": 0.1},
        "layout": layout,
        "spec": {"backend": "smax", "map": "8m"},
    }  # same sizes, another map
    with pytest.raises(DatasetError) as err:
        check_generator(payload, card, tmp_path / "ckpt")
    _one_line(err, tmp_path / "ckpt", "8m", "3m")
    payload["spec"]["map"] = "3m"
    check_generator(payload, card, tmp_path / "ckpt")  # the matching one passes


def test_failed_augment_leaves_the_earlier_output_intact(tmp_path):
    """A damaged input is found before anything in --out is removed or rewritten."""
    from rayeaq.run_config import load_run_config
    from rayeaq.stages.augment import run_augment

    data = _dataset(tmp_path / "real")
    out = tmp_path / "aug"
    cfg = load_run_config(
        None, ["augment.augmenter=gaussian_noise", "augment.num_episodes=4", "augment.fidelity_samples=10"]
    )
    run_augment(cfg, data, None, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert any(p.suffix == ".parquet" for p in before)
    shard = _shard(data)
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(DatasetError, match="not a readable Parquet shard"):
        run_augment(cfg, data, None, out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before

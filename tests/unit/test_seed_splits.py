"""Per-seed real datasets: disjoint splits of one pool, written once, named after the trial's seed."""

from __future__ import annotations

import numpy as np
import pytest

from rayeaq.core.errors import DatasetError
from rayeaq.data.reader import load_dataset
from rayeaq.data.writer import write_dataset
from rayeaq.run_config import load_run_config
from rayeaq.sweep.splits import split_name, trial_dataset, write_splits
from support.random_episodes import toy_episodes, toy_spec

SPEC = toy_spec()


@pytest.fixture
def pool(tmp_path):
    episodes = toy_episodes(12, seed=5)
    episodes.source[:] = "real"
    write_dataset(tmp_path / "3m" / "medium", episodes, SPEC, source="real", tier="medium", shard_episodes=5)
    return tmp_path / "3m" / "medium"


def test_splits_are_disjoint_complete_and_written_once(pool):
    parent = load_dataset(pool)
    dirs = write_splits(pool, per_split=4, splits=3)
    assert (
        [d.name for d in dirs]
        == [split_name("medium", k, 3) for k in range(3)]
        == [
            "medium-split0of3",
            "medium-split1of3",
            "medium-split2of3",
        ]
    )
    ids = [load_dataset(d).episodes.episode_id for d in dirs]
    assert all(len(i) == 4 for i in ids)
    np.testing.assert_array_equal(np.sort(np.concatenate(ids)), np.sort(parent.episodes.episode_id))
    card = load_dataset(dirs[1]).card
    assert card.source == "real" and card.tier == "medium"
    assert card.quality["split"] == {"of": parent.card.fingerprint, "index": 1, "splits": 3}
    assert card.generation["episodes"] == [4, 8]
    before = [load_dataset(d).card.fingerprint for d in dirs]
    stamp = (dirs[0] / "card.json").stat().st_mtime_ns
    assert [load_dataset(d).card.fingerprint for d in write_splits(pool, 4, 3)] == before
    assert (dirs[0] / "card.json").stat().st_mtime_ns == stamp  # an existing split is not rewritten
    assert not list(pool.parent.glob(".*tmp*"))


def test_a_pool_too_small_for_the_splits_is_one_line(pool):
    with pytest.raises(DatasetError, match=r"has 12 episodes; tune.seed_datasets=4 x collect.episodes=4 needs 16"):
        write_splits(pool, per_split=4, splits=4)


def test_a_trial_reads_its_seeds_split(tmp_path):
    assert trial_dataset(tmp_path, "3m", "poor", seed=7, splits=0) == tmp_path / "3m" / "poor"
    assert trial_dataset(tmp_path, "3m", "poor", seed=7, splits=5) == tmp_path / "3m" / "poor-split2of5"
    cfg = load_run_config(None, ["tune.seed_datasets=5"])
    assert cfg.tune.seed_datasets == 5

"""Wrote tests/data/v1_dataset with the pre-v2 code (commit 4e4d4ad): `PYTHONPATH=<checkout of 4e4d4ad> python tests/data/make_v1_dataset.py tests/data/v1_dataset`."""

import sys
from dataclasses import replace

import numpy as np

from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.writer import write_dataset
from rayeaq.envs.smax.maps import smax_spec


def tiny_batch():
    rng = np.random.default_rng(7)
    b, t, n, do, ds, a = 4, 6, 2, 3, 5, 4
    length = np.array([5, 3, 5, 2])
    filled = np.arange(t)[None, :] < length[:, None]
    return EpisodeBatch(
        obs=rng.normal(size=(b, t, n, do)).astype(np.float32),
        state=rng.normal(size=(b, t, ds)).astype(np.float32),
        avail_actions=rng.uniform(size=(b, t, n, a)) < 0.7,
        actions=rng.integers(0, a, size=(b, t, n)) * filled[..., None],
        reward=(rng.uniform(size=(b, t)) * filled).astype(np.float32),
        terminated=np.zeros((b, t), bool),
        filled=filled,
        episode_id=np.arange(b),
        length=length,
        episode_return=np.zeros(b, np.float32),
        battle_won=np.array([1, 0, 0, 1], bool),
        seed=np.arange(b) + 100,
        source=np.array(["real"] * b, object),
        behaviour_policy=np.array(["test"] * b, object),
    )


if __name__ == "__main__":
    batch = tiny_batch()
    batch.episode_return = batch.reward.sum(1).astype(np.float32)
    spec = replace(
        smax_spec("3m"),
        n_agents=2,
        n_actions=4,
        obs_shape=3,
        state_shape=5,
        episode_limit=5,
        action_layout=("a0", "a1", "a2", "a3"),
    )
    card = write_dataset(sys.argv[1], batch, spec, shard_episodes=3, source="real", tier="test")
    print(card.schema_version, card.fingerprint)

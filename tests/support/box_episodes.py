"""Random box-action episodes shaped like ``omar_spread``'s (schema v2), for data and learner tests."""

from __future__ import annotations

import numpy as np

from rayeaq.data.batch import EpisodeBatch


def box_batch(b: int = 5, seed: int = 0, first_id: int = 0) -> EpisodeBatch:
    """``b`` omar_spread-shaped episodes: T=26, N=3, Do=18, Ds=18, Da=2, 25 filled steps each."""
    rng = np.random.default_rng(seed)
    t, n = 26, 3
    filled = np.arange(t)[None, :] < 25
    agent_reward = (rng.normal(size=(b, t, n)) * filled[..., None]).astype(np.float32)
    reward = agent_reward.mean(-1)
    return EpisodeBatch(
        obs=rng.normal(size=(b, t, n, 18)).astype(np.float32),
        state=rng.normal(size=(b, t, 18)).astype(np.float32),
        avail_actions=None,
        actions=(rng.uniform(-1, 1, size=(b, t, n, 2)) * filled[..., None, None]).astype(np.float32),
        reward=reward,
        terminated=np.zeros((b, t), bool),
        filled=np.repeat(filled, b, 0),
        episode_id=np.arange(b) + first_id,
        length=np.full(b, 25),
        episode_return=reward.sum(1),
        battle_won=np.zeros(b, bool),
        seed=np.arange(b),
        source=np.array(["real"] * b, object),
        behaviour_policy=np.array(["random"] * b, object),
        agent_reward=agent_reward,
    )

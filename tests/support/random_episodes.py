"""Small random :class:`EpisodeBatch` es that obey the row convention (for tests and benchmarks).

Episodes have random lengths; some end by a battle outcome (terminated), others by the time limit
(truncated, terminal observation still stored at row ``length``). Agent 0 "dies" half-way in some
episodes (only action 4 legal), as in SMAX.
"""

from __future__ import annotations

import numpy as np

from rayeaq.data.batch import EpisodeBatch
from rayeaq.envs.spec import EnvSpec


def toy_episodes(
    n_episodes: int = 8,
    episode_limit: int = 10,
    n_agents: int = 3,
    obs_dim: int = 6,
    state_dim: int = 5,
    n_actions: int = 7,
    seed: int = 0,
) -> EpisodeBatch:
    rng = np.random.default_rng(seed)
    b, t, n, a = n_episodes, episode_limit + 1, n_agents, n_actions
    length = rng.integers(1, episode_limit + 1, size=b)
    length[0] = episode_limit  # at least one full-length (truncated) episode
    terminated_ep = rng.random(b) < 0.5
    terminated_ep[0] = False
    obs = np.zeros((b, t, n, obs_dim), np.float32)
    state = np.zeros((b, t, state_dim), np.float32)
    avail = np.zeros((b, t, n, a), bool)
    actions = np.zeros((b, t, n), np.int64)
    reward = np.zeros((b, t), np.float32)
    terminated = np.zeros((b, t), bool)
    filled = np.zeros((b, t), bool)
    for i in range(b):
        rows = length[i] + 1
        obs[i, :rows] = rng.normal(size=(rows, n, obs_dim))
        state[i, :rows] = rng.normal(size=(rows, state_dim))
        av = rng.random((rows, n, a)) < 0.6
        av[..., 4] = True
        dead_from = rng.integers(1, rows + 1) if rng.random() < 0.5 else rows
        av[dead_from:, 0, :] = False
        av[dead_from:, 0, 4] = True
        avail[i, :rows] = av
        for s in range(length[i]):
            for j in range(n):
                actions[i, s, j] = rng.choice(np.flatnonzero(av[s, j]))
        reward[i, : length[i]] = rng.random(length[i]).astype(np.float32) * 0.2
        terminated[i, length[i] - 1] = terminated_ep[i]
        filled[i, : length[i]] = True
    returns = reward.sum(1)
    return EpisodeBatch(
        obs=obs,
        state=state,
        avail_actions=avail,
        actions=actions,
        reward=reward,
        terminated=terminated,
        filled=filled,
        episode_id=np.arange(b, dtype=np.int64),
        length=length.astype(np.int64),
        episode_return=returns.astype(np.float32),
        battle_won=terminated_ep.copy(),
        seed=np.arange(b, dtype=np.int64),
        source=np.array(["real"] * b, dtype=object),
        behaviour_policy=np.array(["toy"] * b, dtype=object),
    )


def toy_spec(
    episode_limit: int = 10, n_agents: int = 3, obs_dim: int = 6, state_dim: int = 5, n_actions: int = 7
) -> EnvSpec:
    """The :class:`EnvSpec` of :func:`toy_episodes` with the same sizes (a 3m-named SMAX spec, test reward scale)."""
    moves = ("n", "e", "s", "w", "stop")
    return EnvSpec(
        backend="smax",
        map="3m",
        n_agents=n_agents,
        n_enemies=n_actions - len(moves),
        n_actions=n_actions,
        obs_shape=obs_dim,
        state_shape=state_dim,
        episode_limit=episode_limit,
        action_layout=(*moves, *(f"attack_{j}" for j in range(n_actions - len(moves)))),
        max_return=2.0,
        reward_scale="test",
    )

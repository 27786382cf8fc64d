"""Structured stand-in episodes in the dataset schema, for tests and benchmarks of the generator.

Not a simulator: each episode is a smooth function of a per-episode phase so a small model can fit
it, but every field obeys the row convention of :mod:`rayeaq.data.batch` (terminal row, filled mask,
terminated only on a battle end, dead agents restricted to ``stop``).
"""

from __future__ import annotations

import numpy as np

from rayeaq.data.batch import EpisodeBatch
from rayeaq.envs.spec import EnvSpec


def toy_episodes(spec: EnvSpec, n: int, seed: int, min_length: int = 3) -> EpisodeBatch:
    """``n`` episodes of ``spec``'s sizes; about a third are truncated at the episode limit."""
    rng = np.random.default_rng(seed)
    t, na, do, ds, a = spec.max_seq_len, spec.n_agents, spec.obs_shape, spec.state_shape, spec.n_actions
    obs = np.zeros((n, t, na, do), np.float32)
    state = np.zeros((n, t, ds), np.float32)
    avail = np.zeros((n, t, na, a), bool)
    actions = np.zeros((n, t, na), np.int64)
    reward = np.zeros((n, t), np.float32)
    terminated = np.zeros((n, t), bool)
    filled = np.zeros((n, t), bool)
    length = np.where(rng.random(n) < 0.33, spec.episode_limit, rng.integers(min_length, spec.episode_limit, n))
    won = np.zeros(n, bool)
    for i in range(n):
        L = int(length[i])
        phase = rng.uniform(0, 2 * np.pi)
        steps = np.arange(L + 1)
        wave = np.sin(
            phase + 0.3 * steps[:, None, None] + np.arange(do)[None, None, :] * 0.5 + np.arange(na)[None, :, None]
        )
        obs[i, : L + 1] = 0.5 + 0.5 * wave
        state[i, : L + 1] = np.cos(phase + 0.2 * steps[:, None] + np.arange(ds)[None, :] * 0.3)
        av = np.ones((L + 1, na, a), bool)
        av[:, :, 5:] = (np.arange(a - 5)[None, None, :] + steps[:, None, None]) % 2 == 0
        dead = rng.integers(L // 2 + 1, L + 2, na) if rng.random() < 0.5 else np.full(na, L + 5)
        for j in range(na):
            av[dead[j] :, j, :] = False
            av[dead[j] :, j, 4] = True
        avail[i, : L + 1] = av
        pref = (int(phase * 10) + steps[:L, None] + np.arange(na)[None, :]) % a
        ok = np.take_along_axis(av[:L], pref[..., None], -1)[..., 0]
        actions[i, :L] = np.where(ok, pref, 4)
        reward[i, :L] = np.round(0.05 * (1 + np.sin(phase + steps[:L])), 4)
        filled[i, :L] = True
        if spec.episode_limit > L:
            terminated[i, L - 1] = True
            won[i] = rng.random() < 0.5
            if won[i]:
                reward[i, L - 1] += 1.0
    return EpisodeBatch(
        obs=obs,
        state=state,
        avail_actions=avail,
        actions=actions,
        reward=reward,
        terminated=terminated,
        filled=filled,
        episode_id=np.arange(n, dtype=np.int64),
        length=length.astype(np.int64),
        episode_return=reward.sum(axis=1).astype(np.float32),
        battle_won=won,
        seed=np.arange(n, dtype=np.int64) + seed,
        source=np.array(["real"] * n, dtype=object),
        behaviour_policy=np.array(["toy"] * n, dtype=object),
    )

"""Greedy decentralised evaluation of a continuous-action policy on the vmapped MPE (host policy loop)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rayeaq.data.card import normalized_score


def evaluate_greedy(
    act: Callable[[np.ndarray], np.ndarray],
    map_name: str,
    seeds: np.ndarray,
    n_envs: int,
    reference: dict[str, float] | None = None,
) -> dict[str, float | None]:
    """Mean/std of the team return over one episode per seed (``n_envs`` at a time); ``act(obs [B, N, Do])``
    returns ``[B, N, Da]``. ``normalized_score`` from ``reference`` returns (None without them);
    ``normalized_return`` = mean / the map's ``max_return`` (the sweep's score; None where it is 0: spread)."""
    from rayeaq.envs.mpe.batch import MPEBatchEnv

    seeds = np.asarray(seeds)
    n_envs = min(n_envs, len(seeds))
    env = MPEBatchEnv(map_name, n_envs)
    returns = []
    for start in range(0, len(seeds), n_envs):
        chunk = seeds[start : start + n_envs]
        pad = np.concatenate([chunk, np.repeat(chunk[-1:], n_envs - len(chunk))])
        obs, _ = env.reset(pad)
        total, done = np.zeros(n_envs), False
        while not done:
            obs, _, reward, _, done = env.step(act(obs))
            total += reward
        returns.append(total[: len(chunk)])
    values = np.concatenate(returns)
    mean = float(values.mean())
    top = env.spec.max_return
    return {
        "normalized_return": mean / top if top else None,
        "return_mean": mean,
        "return_std": float(values.std()),
        "episodes": int(values.size),
        "normalized_score": normalized_score(mean, reference or {}),
    }

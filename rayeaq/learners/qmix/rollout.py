"""Greedy evaluation rollouts on a batched environment (no Ray; JAX only through the environment).

The environment is anything with ``.spec`` (an EnvSpec), ``.n_envs``-sized ``reset(seeds [B]) ->
(obs, state, avail)`` and ``step(actions [B,N]) -> (obs, state, avail, reward [B], done [B], won [B])``
whose finished environments stay frozen (reward 0, done True): :class:`rayeaq.envs.smax_batch.SMAXBatchEnv`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class RolloutResult:
    """Per-episode outcomes, in the order of the seeds."""

    returns: np.ndarray  # [n] f32
    won: np.ndarray  # [n] bool
    length: np.ndarray  # [n] i64
    seeds: np.ndarray  # [n] i64

    def summary(self, max_return: float) -> dict[str, float]:
        n = int(self.returns.shape[0])
        mean = float(self.returns.mean()) if n else 0.0
        return {
            "episodes": n,
            "win_rate": float(self.won.mean()) if n else 0.0,
            "return_mean": mean,
            "return_std": float(self.returns.std()) if n else 0.0,
            "normalized_return": mean / max_return,
            "episode_length_mean": float(self.length.mean()) if n else 0.0,
        }

    @staticmethod
    def concatenate(parts: list[RolloutResult]) -> RolloutResult:
        return RolloutResult(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in ("returns", "won", "length", "seeds"))
        )


def run_episodes(
    policy: Callable[..., tuple[np.ndarray, Any]], env: Any, n_envs: int, seeds: np.ndarray
) -> RolloutResult:
    """Play one episode per seed with ``policy(obs, avail, hidden) -> (actions, hidden)``, ``n_envs`` at a time."""
    seeds = np.asarray(seeds, dtype=np.int64)
    limit = env.spec.episode_limit
    parts = []
    for start in range(0, len(seeds), n_envs):
        chunk = seeds[start : start + n_envs]
        padded = (
            np.concatenate([chunk, chunk[-1] + 1 + np.arange(n_envs - len(chunk))]) if len(chunk) < n_envs else chunk
        )
        obs, _, avail = env.reset(padded)
        hidden = None
        ret = np.zeros(n_envs, np.float32)
        won = np.zeros(n_envs, bool)
        done = np.zeros(n_envs, bool)
        length = np.zeros(n_envs, np.int64)
        for _ in range(limit):
            actions, hidden = policy(obs, avail, hidden)
            obs, _, avail, reward, step_done, step_won = env.step(np.asarray(actions))
            length += ~done
            ret += np.where(done, 0.0, reward)
            won |= np.asarray(step_won) & ~done
            done |= np.asarray(step_done)
            if done.all():
                break
        k = len(chunk)
        parts.append(RolloutResult(ret[:k], won[:k], length[:k], chunk))
    return RolloutResult.concatenate(parts)

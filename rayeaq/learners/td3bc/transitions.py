"""Uniform transitions ``(o, a, r, o', done)`` drawn from an episode batch (a dataset mixture).

Rows ``t`` with ``filled[t]`` are transitions; ``o'`` is row ``t + 1`` (the terminal observation for the last step,
pymarl's convention), ``done`` is ``terminated[t]`` (MPE's time-limit truncation is not done: learners bootstrap).
Rewards are per agent ``[N]``: the dataset's ``agent_reward`` when it has one, else the team reward for every agent,
times ``reward_scale`` (``auto``: (1 − γ) / mean |r|, see :func:`resolve_reward_scale`).
"""

from __future__ import annotations

import numpy as np

from rayeaq.data.batch import EpisodeBatch


class TransitionSampler:
    """All transitions of ``episodes`` flattened once; :meth:`sample` draws ``batch_size`` with replacement."""

    def __init__(self, episodes: EpisodeBatch, seed: int, reward_scale: float = 1.0) -> None:
        if not episodes.is_box:
            raise ValueError("the transition sampler needs box (continuous) actions")
        b, t = np.nonzero(episodes.filled)
        if b.size == 0:
            raise ValueError("cannot sample from a batch without transitions")
        reward = (
            episodes.agent_reward
            if episodes.agent_reward is not None
            else np.repeat(episodes.reward[..., None], episodes.n_agents, axis=-1)
        )
        self.arrays = {
            "obs": episodes.obs[b, t],  # [M, N, Do]
            "actions": episodes.actions[b, t],  # [M, N, Da]
            "reward": (reward[b, t] * reward_scale).astype(np.float32),  # [M, N]
            "next_obs": episodes.obs[b, t + 1],  # [M, N, Do]
            "done": episodes.terminated[b, t],  # [M]
        }
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return int(self.arrays["done"].shape[0])

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        """``batch_size`` uniform transitions (numpy, leading axis the batch)."""
        idx = self.rng.integers(0, len(self), size=batch_size)
        return {name: np.ascontiguousarray(a[idx]) for name, a in self.arrays.items()}


def resolve_reward_scale(episodes: EpisodeBatch, scale: float | str, gamma: float) -> float:
    """``scale`` itself, or for ``auto`` (1 − γ) / mean |r| over the filled rows' per-agent rewards (1 when all 0)."""
    if scale != "auto":
        return float(scale)
    reward = episodes.agent_reward if episodes.agent_reward is not None else episodes.reward[..., None]
    mean_abs = float(np.abs(reward[episodes.filled]).mean())
    return (1.0 - gamma) / mean_abs if mean_abs > 0 else 1.0

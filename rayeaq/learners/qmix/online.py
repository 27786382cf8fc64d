"""Online QMIX, the pure parts: its config section, the ε schedule and the episode replay buffer.

The RLlib side (:mod:`rayeaq.stages.ray_online`) reuses the offline learner unchanged (networks, double-Q
TD loss on Q_tot, hard target copies every ``target_update_interval`` updates): only where the episodes come from
changes — ε-greedy rollouts of the current greedy policy on vmapped SMAX, kept in :class:`ReplayBuffer`, whose
samples have exactly the offline sampler's rows, masks and terminal handling (:mod:`rayeaq.data.batch`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, model_validator

from rayeaq.core.config import StrictModel
from rayeaq.envs.spec import EnvSpec
from rayeaq.learners.qmix.sampler import TRAIN_FIELDS


class OnlineConfig(StrictModel):
    """Online QMIX: rollouts, replay, schedule, evaluation and checkpoints (networks and loss: ``evaluate.*``)."""

    env_steps: int = Field(default=200_000, ge=1)
    """Environment steps (team transitions) to collect in total."""
    episodes_per_iteration: int = Field(default=32, ge=1)
    """ε-greedy episodes played (at once, vmapped) before each round of updates."""
    updates_per_iteration: int = Field(default=8, ge=1)
    """Learner updates after each round of episodes."""
    buffer_episodes: int = Field(default=5000, ge=1)
    """Capacity of the episode replay buffer (oldest episodes are overwritten)."""
    min_buffer_episodes: int = Field(default=32, ge=1)
    """Episodes in the buffer before the first update."""
    epsilon_start: float = Field(default=1.0, ge=0.0, le=1.0)
    """ε of the ε-greedy rollouts at the start."""
    epsilon_finish: float = Field(default=0.05, ge=0.0, le=1.0)
    """ε after the anneal."""
    epsilon_anneal_steps: int = Field(default=50_000, ge=1)
    """Environment steps over which ε falls linearly from start to finish."""
    eval_every_steps: int = Field(default=10_000, ge=1)
    """Environment steps between greedy evaluations (each one writes a checkpoint)."""
    eval_episodes: int = Field(default=64, ge=1)
    """Greedy evaluation episodes (the same seeds at every evaluation)."""
    record_replay: bool = True
    """Write every ε-greedy training episode to ``OUT/replay/shards`` (one Parquet shard per iteration)."""
    medium_replay_band: tuple[float, float] | None = None
    """[low, high]: after training, write ``OUT/medium_replay`` (OG-MARL's tier): the replay played before the first
    checkpoint whose greedy win rate is in this band (needs record_replay). None: no medium_replay."""

    @model_validator(mode="after")
    def _buffer_holds_a_batch(self) -> OnlineConfig:
        if self.min_buffer_episodes > self.buffer_episodes:
            raise ValueError("expected min_buffer_episodes <= buffer_episodes")
        if self.medium_replay_band is not None:
            low, high = self.medium_replay_band
            if not 0.0 <= low <= high <= 1.0:
                raise ValueError("expected medium_replay_band [low, high] with 0 <= low <= high <= 1")
            if not self.record_replay:
                raise ValueError("medium_replay_band needs record_replay: true")
        return self


STATE_STD_FLOOR = 0.05
"""A state feature whose std in the first episodes is below this is centred but not scaled (std 1)."""


def state_normaliser(states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std ``[Ds]`` for the mixer's state input, from the first episodes' states ``[M, Ds]``.

    Online, these are the states of a random policy, in which some features never move: no enemy dies, so the
    enemies' unit-type bits are constant. Divided by a clamped near-zero std, such a feature jumps by ~1/std the
    first time it changes (a dead unit's features are all 0) and the hyper-networks' mixing weights with it: the
    TD loss explodes exactly when the team starts killing. Those features keep std 1 (only centred).
    """
    states = np.asarray(states, dtype=np.float64)
    mean, std = states.mean(axis=0), states.std(axis=0, ddof=1) if len(states) > 1 else np.zeros(states.shape[1])
    return mean.astype(np.float32), np.where(std < STATE_STD_FLOOR, 1.0, std).astype(np.float32)


def epsilon_at(cfg: OnlineConfig, env_steps: int) -> float:
    """Linear anneal from ``epsilon_start`` to ``epsilon_finish`` over ``epsilon_anneal_steps`` env steps."""
    frac = min(1.0, env_steps / cfg.epsilon_anneal_steps)
    return float(cfg.epsilon_start + frac * (cfg.epsilon_finish - cfg.epsilon_start))


class ReplayBuffer:
    """Ring buffer of whole padded episodes ``[C, T, ...]`` (``T = episode_limit + 1``, the dataset's rows).

    :meth:`sample` draws episodes uniformly with replacement and trims to the longest drawn + 1 row, exactly as
    :class:`rayeaq.learners.qmix.sampler.EpisodeSampler` does, so the learner cannot tell the two apart.
    """

    def __init__(self, spec: EnvSpec, capacity: int, seed: int) -> None:
        t, n = spec.max_seq_len, spec.n_agents
        shapes = {
            "obs": ((t, n, spec.obs_shape), np.float32),
            "state": ((t, spec.state_shape), np.float32),
            "avail_actions": ((t, n, spec.n_actions), np.bool_),
            "actions": ((t, n), np.int64),
            "reward": ((t,), np.float32),
            "terminated": ((t,), np.bool_),
            "filled": ((t,), np.bool_),
        }
        self.arrays: dict[str, np.ndarray] = {
            k: np.zeros((capacity, *shape), dtype) for k, (shape, dtype) in shapes.items()
        }
        self.length = np.zeros(capacity, np.int64)
        self.capacity, self.size, self.cursor = capacity, 0, 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def add(self, episodes) -> None:
        """Append complete episodes (an :class:`EpisodeBatch` or collector buffer with the train fields)."""
        n = len(episodes.length)
        slots = (self.cursor + np.arange(n)) % self.capacity
        for name in TRAIN_FIELDS:
            self.arrays[name][slots] = getattr(episodes, name)
        self.length[slots] = episodes.length
        self.cursor = int((self.cursor + n) % self.capacity)
        self.size = min(self.capacity, self.size + n)

    def get_state(self) -> dict[str, Any]:
        """The sampling RNG's state (what the algorithm's checkpoint stores for its sampler; the buffer's
        episodes are not checkpointed: a restored online run refills it by playing)."""
        return dict(self.rng.bit_generator.state)

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue drawing where the buffer whose :meth:`get_state` this is stopped."""
        self.rng.bit_generator.state = state

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        """A dict of numpy arrays ``[batch_size, T_b, ...]`` with ``T_b = max length + 1``."""
        return self.take(self.rng.integers(0, self.size, size=batch_size))

    def take(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        t = int(self.length[idx].max()) + 1
        return {name: np.ascontiguousarray(a[idx, :t]) for name, a in self.arrays.items()}

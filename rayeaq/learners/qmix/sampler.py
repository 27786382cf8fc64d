"""Sequence batches drawn from an :class:`EpisodeBatch` (uniform over episodes), trimmed to the longest one."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from rayeaq.data.batch import EpisodeBatch

TRAIN_FIELDS = ("obs", "state", "avail_actions", "actions", "reward", "terminated", "filled")


class EpisodeSampler:
    """Draws ``batch_size`` episodes with replacement; rows past ``max(length) + 1`` are dropped (all padding)."""

    def __init__(self, episodes: EpisodeBatch, seed: int) -> None:
        if len(episodes) == 0:
            raise ValueError("cannot sample from an empty episode batch")
        self.arrays = {name: getattr(episodes, name) for name in TRAIN_FIELDS}
        self.length = episodes.length
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return int(self.length.shape[0])

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        """A dict of numpy arrays ``[batch_size, T_b, ...]`` with ``T_b = max length + 1``."""
        idx = self.rng.integers(0, len(self), size=batch_size)
        return self.take(idx)

    def take(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        t = int(self.length[idx].max()) + 1
        return {name: np.ascontiguousarray(a[idx, :t]) for name, a in self.arrays.items()}

    def get_state(self) -> dict:
        """The RNG's bit-generator state (a plain dict; restore with :meth:`set_state`)."""
        return cast(dict[str, Any], self.rng.bit_generator.state)

    def set_state(self, state: dict) -> None:
        """Continue drawing exactly where the sampler whose :meth:`get_state` this is stopped."""
        self.rng.bit_generator.state = state

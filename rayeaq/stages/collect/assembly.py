"""Host-side assembly of step records into padded episodes, one shard at a time.

The collectors emit step records ``[K, B, ...]`` tagged with a work-list position and a step index.
:class:`EpisodeAssembler` splits the work list into consecutive shards and keeps an
:class:`EpisodeBuffer` only for the shards that have episodes in flight, so memory stays bounded by
the slots in flight, not by the size of the work list.
"""

from __future__ import annotations

import numpy as np

from rayeaq.data.batch import EpisodeBatch
from rayeaq.envs.spec import EnvSpec


class EpisodeBuffer:
    """Padded ``[n, T, ...]`` arrays of ``n`` episodes (the fields of an EpisodeBatch)."""

    def __init__(self, spec: EnvSpec, n: int):
        t = spec.max_seq_len
        self.obs = np.zeros((n, t, spec.n_agents, spec.obs_shape), np.float32)
        self.state = np.zeros((n, t, spec.state_shape), np.float32)
        self.avail_actions = np.zeros((n, t, spec.n_agents, spec.n_actions), np.bool_)
        self.actions = np.zeros((n, t, spec.n_agents), np.int64)
        self.reward = np.zeros((n, t), np.float32)
        self.terminated = np.zeros((n, t), np.bool_)
        self.filled = np.zeros((n, t), np.bool_)
        self.length = np.zeros(n, np.int64)
        self.won = np.zeros(n, np.bool_)
        self.complete = np.zeros(n, np.bool_)

    def scatter(self, records: dict[str, np.ndarray], active: np.ndarray, done: np.ndarray, offset: int) -> None:
        """Write the records selected by ``active`` (steps) and ``done`` (episode ends); positions - offset."""
        ep, t = records["pos"][active] - offset, records["t"][active]
        self.obs[ep, t] = records["obs"][active]
        self.state[ep, t] = records["state"][active]
        self.avail_actions[ep, t] = records["avail_actions"][active]
        self.actions[ep, t] = records["actions"][active]
        self.reward[ep, t] = records["reward"][active]
        self.filled[ep, t] = True
        ep, t = records["pos"][done] - offset, records["t"][done]
        self.obs[ep, t + 1] = records["next_obs"][done]
        self.state[ep, t + 1] = records["next_state"][done]
        self.avail_actions[ep, t + 1] = records["next_avail"][done]
        self.terminated[ep, t] = records["terminated"][done]
        self.length[ep] = t + 1
        self.won[ep] = records["won"][done]
        self.complete[ep] = True

    def returns(self) -> np.ndarray:
        return (self.reward * self.filled).sum(axis=1)

    def to_batch(self, ids: np.ndarray, seeds: np.ndarray, behaviour: str) -> EpisodeBatch:
        """The filled buffer as an :class:`EpisodeBatch` of real episodes ``ids`` (their ``seeds``, ``[n]`` each)
        played by policy ``behaviour`` (the arrays are shared, not copied)."""
        n = len(ids)
        return EpisodeBatch(
            obs=self.obs,
            state=self.state,
            avail_actions=self.avail_actions,
            actions=self.actions,
            reward=self.reward,
            terminated=self.terminated,
            filled=self.filled,
            episode_id=np.asarray(ids, np.int64),
            length=self.length,
            episode_return=self.returns().astype(np.float32),
            battle_won=self.won,
            seed=np.asarray(seeds, np.int64),
            source=np.array(["real"] * n, dtype=object),
            behaviour_policy=np.array([behaviour] * n, dtype=object),
        )


class EpisodeAssembler:
    """Scatter step records of a work list split into consecutive shards of ``shard_sizes`` episodes."""

    def __init__(self, spec: EnvSpec, shard_sizes: list[int]):
        self.spec = spec
        self.sizes = list(shard_sizes)
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.remaining = np.array(self.sizes, dtype=np.int64)
        self.buffers: dict[int, EpisodeBuffer] = {}

    def add(self, records: dict[str, np.ndarray]) -> np.ndarray:
        """Scatter one chunk of records; returns the work positions of episodes completed in it."""
        pos = records["pos"]
        active = pos >= 0
        shard = np.searchsorted(self.starts, pos, side="right") - 1
        for k in np.unique(shard[active]):
            in_shard = active & (shard == k)
            buffer = self.buffers.get(int(k))
            if buffer is None:
                buffer = self.buffers[int(k)] = EpisodeBuffer(self.spec, self.sizes[k])
            buffer.scatter(records, in_shard, records["done"] & in_shard, int(self.starts[k]))
        completed = pos[records["done"]]
        np.subtract.at(self.remaining, shard[records["done"]], 1)
        return completed

    def complete_shards(self) -> list[int]:
        """Shards whose every episode has ended and that are still buffered."""
        return [k for k in self.buffers if self.remaining[k] == 0]

    def pop(self, k: int) -> EpisodeBuffer:
        """Hand over a complete shard's buffer and forget it."""
        return self.buffers.pop(k)

    def whole(self) -> EpisodeBuffer:
        """The only shard's buffer (for single-shard use: tests, calibration, notebooks)."""
        if len(self.sizes) != 1:
            raise ValueError("whole() needs an assembler of exactly one shard")
        return self.buffers[0]

"""The in-memory episode batch every stage exchanges: padded ``[B, T, ...]`` arrays plus a mask.

Row convention (as pymarl's episode batch): ``T = episode_limit + 1``. Row ``t < length`` is a step
in which the agents saw ``obs[t]``, took ``actions[t]`` and received ``reward[t]``; ``filled[t]`` is 1
exactly there. Row ``length`` holds the observation, state and availability mask *after* the last
step (the terminal observation), with ``filled = 0``. ``terminated[t]`` is 1 only on the last step of
an episode that ended by a battle outcome (a time-limit truncation is not terminal, so learners
bootstrap from row ``length``). Rows after ``length`` are zero.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

# Per-step tensor fields, their dtypes in memory and the trailing shape they carry after [B, T].
STEP_FIELDS: dict[str, np.dtype] = {
    "obs": np.dtype(np.float32),  # [B, T, N, Do]
    "state": np.dtype(np.float32),  # [B, T, Ds]
    "avail_actions": np.dtype(np.bool_),  # [B, T, N, A]
    "actions": np.dtype(np.int64),  # [B, T, N]
    "reward": np.dtype(np.float32),  # [B, T]
    "terminated": np.dtype(np.bool_),  # [B, T]
    "filled": np.dtype(np.bool_),  # [B, T]
}

# Per-episode scalar fields.
EPISODE_FIELDS: dict[str, np.dtype] = {
    "episode_id": np.dtype(np.int64),
    "length": np.dtype(np.int64),
    "return": np.dtype(np.float32),
    "battle_won": np.dtype(np.bool_),
    "seed": np.dtype(np.int64),
    "source": np.dtype(object),  # "real" | "synthetic"
    "behaviour_policy": np.dtype(object),
}


@dataclass
class EpisodeBatch:
    """A batch of ``B`` padded episodes (numpy).

    Shapes: obs ``[B,T,N,Do]`` float32, state ``[B,T,Ds]`` float32, avail_actions ``[B,T,N,A]`` bool,
    actions ``[B,T,N]`` int64, reward/terminated/filled ``[B,T]``; per-episode fields ``[B]``.
    The keyword ``return`` is stored as ``episode_return``.
    """

    obs: np.ndarray
    state: np.ndarray
    avail_actions: np.ndarray
    actions: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    filled: np.ndarray
    episode_id: np.ndarray
    length: np.ndarray
    episode_return: np.ndarray
    battle_won: np.ndarray
    seed: np.ndarray
    source: np.ndarray
    behaviour_policy: np.ndarray

    # ---- sizes -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.obs.shape[0])

    @property
    def max_seq_len(self) -> int:
        return int(self.obs.shape[1])

    @property
    def n_agents(self) -> int:
        return int(self.obs.shape[2])

    @property
    def obs_dim(self) -> int:
        return int(self.obs.shape[3])

    @property
    def state_dim(self) -> int:
        return int(self.state.shape[2])

    @property
    def n_actions(self) -> int:
        return int(self.avail_actions.shape[3])

    @property
    def transitions(self) -> int:
        return int(self.filled.sum())

    # ---- construction ------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> EpisodeBatch:
        """Build from a dict keyed by the dataset's column names (``return`` included)."""
        kwargs = {}
        for name, dtype in STEP_FIELDS.items():
            kwargs[name] = np.asarray(arrays[name]).astype(dtype, copy=False)
        for name, dtype in EPISODE_FIELDS.items():
            key = "episode_return" if name == "return" else name
            kwargs[key] = np.asarray(arrays[name]).astype(dtype, copy=False)
        return cls(**kwargs)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Inverse of :meth:`from_arrays` (column names as in the dataset)."""
        out: dict[str, np.ndarray] = {}
        for f in fields(self):
            out["return" if f.name == "episode_return" else f.name] = getattr(self, f.name)
        return out

    def select(self, index: np.ndarray | slice) -> EpisodeBatch:
        """Episodes at ``index`` (integer array, boolean mask or slice)."""
        return EpisodeBatch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concatenate(batches: list[EpisodeBatch]) -> EpisodeBatch:
        if not batches:
            raise ValueError("cannot concatenate an empty list of episode batches")
        return EpisodeBatch(
            **{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(batches[0])}
        )

    def sorted_by_id(self) -> EpisodeBatch:
        return self.select(np.argsort(self.episode_id, kind="stable"))

    # ---- torch -------------------------------------------------------------------------------
    def to_torch(self, device: str = "cpu") -> dict[str, Any]:
        """Per-step fields as torch tensors (float32 / bool / int64) plus ``length`` and ``return``."""
        import torch

        names = list(STEP_FIELDS) + ["length"]
        out = {name: torch.from_numpy(np.ascontiguousarray(getattr(self, name))).to(device) for name in names}
        out["return"] = torch.from_numpy(np.ascontiguousarray(self.episode_return)).to(device)
        return out

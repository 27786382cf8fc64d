"""The in-memory episode batch every stage exchanges: padded ``[B, T, ...]`` arrays plus a mask.

Row convention (as pymarl's episode batch): ``T = episode_limit + 1``. Row ``t < length`` is a step
in which the agents saw ``obs[t]``, took ``actions[t]`` and received ``reward[t]``; ``filled[t]`` is 1
exactly there. Row ``length`` holds the observation, state and availability mask *after* the last
step (the terminal observation), with ``filled = 0``. ``terminated[t]`` is 1 only on the last step of
an episode that ended by a battle outcome (a time-limit truncation is not terminal, so learners
bootstrap from row ``length``). Rows after ``length`` are zero.

Schema v2 (continuous actions, :mod:`rayeaq.data.card`): ``actions`` may be ``[B, T, N, Da]`` float32 (box
actions), in which case ``avail_actions`` is None; ``agent_reward [B, T, N]`` float32 is optional (None when
absent). ``battle_won`` is False for maps without a win (the card's ``has_success`` says whether it means anything;
on disk the column is null there).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

# Per-step tensor fields, their dtypes in memory and the trailing shape they carry after [B, T].
STEP_FIELDS: dict[str, np.dtype] = {
    "obs": np.dtype(np.float32),  # [B, T, N, Do]
    "state": np.dtype(np.float32),  # [B, T, Ds]
    "avail_actions": np.dtype(np.bool_),  # [B, T, N, A]   (v2: absent for box actions)
    "actions": np.dtype(np.int64),  # [B, T, N]   (v2 box actions: [B, T, N, Da] float32, see BOX_ACTION_DTYPE)
    "reward": np.dtype(np.float32),  # [B, T]
    "terminated": np.dtype(np.bool_),  # [B, T]
    "filled": np.dtype(np.bool_),  # [B, T]
}
BOX_ACTION_DTYPE = np.dtype(np.float32)
# Optional per-step fields of schema v2 (stored only when present).
OPTIONAL_STEP_FIELDS: dict[str, np.dtype] = {
    "agent_reward": np.dtype(np.float32),  # [B, T, N]
}
OPTIONAL_FIELDS = ("avail_actions",) + tuple(OPTIONAL_STEP_FIELDS)


def step_dtype(name: str, trailing_ndim: int) -> np.dtype:
    """In-memory dtype of a per-step field; ``trailing_ndim`` = dims after the episode axis (box actions: 3)."""
    if name == "actions" and trailing_ndim == 3:
        return BOX_ACTION_DTYPE
    return OPTIONAL_STEP_FIELDS.get(name) or STEP_FIELDS[name]


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
    Box actions (v2): actions ``[B,T,N,Da]`` float32 and avail_actions None; agent_reward ``[B,T,N]`` or None.
    The keyword ``return`` is stored as ``episode_return``.
    """

    obs: np.ndarray
    state: np.ndarray
    avail_actions: np.ndarray | None
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
    agent_reward: np.ndarray | None = None

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
    def is_box(self) -> bool:
        """Continuous actions ``[B, T, N, Da]``."""
        return self.actions.ndim == 4

    @property
    def n_actions(self) -> int:
        """Discrete: number of actions; box: action dimensions."""
        if self.is_box:
            return int(self.actions.shape[3])
        assert self.avail_actions is not None  # discrete batches carry the action masks
        return int(self.avail_actions.shape[3])

    def step_fields(self) -> list[str]:
        """The per-step fields this batch holds, in storage order (v1 order, then optional v2 fields)."""
        names = [n for n in STEP_FIELDS if getattr(self, n) is not None]
        return names + [n for n in OPTIONAL_STEP_FIELDS if getattr(self, n) is not None]

    @property
    def transitions(self) -> int:
        return int(self.filled.sum())

    # ---- construction ------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> EpisodeBatch:
        """Build from a dict keyed by the dataset's column names (``return`` included)."""
        kwargs: dict[str, Any] = {}
        for name in list(STEP_FIELDS) + list(OPTIONAL_STEP_FIELDS):
            if arrays.get(name) is None:
                if name in OPTIONAL_FIELDS:
                    continue
                raise KeyError(name)
            value = np.asarray(arrays[name])
            kwargs[name] = value.astype(step_dtype(name, value.ndim - 1), copy=False)
        kwargs.setdefault("avail_actions", None)
        for name, dtype in EPISODE_FIELDS.items():
            key = "episode_return" if name == "return" else name
            kwargs[key] = np.asarray(arrays[name]).astype(dtype, copy=False)
        return cls(**kwargs)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Inverse of :meth:`from_arrays` (column names as in the dataset)."""
        out: dict[str, np.ndarray] = {}
        for f in fields(self):
            if getattr(self, f.name) is not None:
                out["return" if f.name == "episode_return" else f.name] = getattr(self, f.name)
        return out

    def select(self, index: np.ndarray | slice) -> EpisodeBatch:
        """Episodes at ``index`` (integer array, boolean mask or slice)."""
        taken: dict[str, Any] = {f.name: _take(getattr(self, f.name), index) for f in fields(self)}
        return EpisodeBatch(**taken)

    @staticmethod
    def concatenate(batches: list[EpisodeBatch]) -> EpisodeBatch:
        """Episodes of every batch in order (optional fields must be present in all or none)."""
        if not batches:
            raise ValueError("cannot concatenate an empty list of episode batches")
        out: dict[str, Any] = {}
        for f in fields(batches[0]):
            parts = [getattr(b, f.name) for b in batches]
            if any(p is None for p in parts) and not all(p is None for p in parts):
                raise ValueError(f"cannot concatenate batches where only some have {f.name}")
            out[f.name] = None if parts[0] is None else np.concatenate(parts)
        return EpisodeBatch(**out)

    def sorted_by_id(self) -> EpisodeBatch:
        return self.select(np.argsort(self.episode_id, kind="stable"))

    # ---- torch -------------------------------------------------------------------------------
    def to_torch(self, device: str = "cpu") -> dict[str, Any]:
        """Per-step fields present as torch tensors (float32 / bool / int64) plus ``length`` and ``return``."""
        import torch

        names = self.step_fields() + ["length"]
        out = {name: torch.from_numpy(np.ascontiguousarray(getattr(self, name))).to(device) for name in names}
        out["return"] = torch.from_numpy(np.ascontiguousarray(self.episode_return)).to(device)
        return out


def _take(values: np.ndarray | None, index: np.ndarray | slice) -> np.ndarray | None:
    return None if values is None else values[index]

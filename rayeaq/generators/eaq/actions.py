"""How an agent's action becomes EAQ channels and back, per action space (``ACTION_CODECS[kind]``).

* ``discrete`` (SMAX, SC2): ``A`` one-hot channels (binary: normalised {0, 1} -> {−1, 1}); decoded as the
  argmax over the available actions, with the unrestricted argmax's availability as the legality figure.
* ``box`` (MPE): ``Da`` real-valued channels holding the action itself, normalised with the action box's
  bounds (not the data's range: the box is the action space, and every value in it is a legal action);
  decoded by clipping to the box. There is no availability mask, every action is legal.

Shapes: actions ``[B, T, N]`` int64 (discrete) or ``[B, T, N, Da]`` float32 (box); channels ``[B, T, N, C]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DecodedActions:
    """Actions of the step rows (zero elsewhere) and their validity figures."""

    actions: np.ndarray  # [B, T, N] int64 | [B, T, N, Da] float32
    legal: np.ndarray  # [B, T, N] bool: the unrestricted choice is a legal action (step rows only)
    no_action: np.ndarray  # [B] bool: on some step an agent had no legal action


class DiscreteCodec:
    """One-hot action channels, decoded by a masked argmax."""

    binary = True
    has_avail = True

    def encode(self, actions: np.ndarray, n_actions: int, filled: np.ndarray) -> np.ndarray:
        """``[B, T, N]`` -> one-hot ``[B, T, N, A]`` (zero on rows that are not steps)."""
        return np.eye(n_actions, dtype=np.float32)[actions] * filled[:, :, None, None].astype(np.float32)

    def decode(
        self, logits: np.ndarray, avail: np.ndarray | None, steps: np.ndarray, low: float, high: float
    ) -> DecodedActions:
        """``logits [B, T, N, A]``, ``avail [B, T, N, A]`` bool (None = all available), ``steps [B, T]``."""
        if avail is None:
            avail = np.ones(logits.shape, bool)
        masked = np.where(avail, logits, -np.inf)
        actions = np.where(steps[:, :, None], masked.argmax(axis=-1), 0).astype(np.int64)
        free = logits.argmax(axis=-1)
        legal = np.take_along_axis(avail, free[..., None], axis=-1)[..., 0] & steps[:, :, None]
        no_action = np.asarray((~avail.any(axis=-1) & steps[:, :, None]).any(axis=(1, 2)), bool)
        return DecodedActions(actions, legal, no_action)


class BoxCodec:
    """Real-valued action channels in the action box, clipped on decode."""

    binary = False
    has_avail = False

    def encode(self, actions: np.ndarray, n_actions: int, filled: np.ndarray) -> np.ndarray:
        """``[B, T, N, Da]`` -> the same values ``[B, T, N, Da]`` (zero on rows that are not steps)."""
        return actions.astype(np.float32) * filled[:, :, None, None].astype(np.float32)

    def decode(
        self, logits: np.ndarray, avail: np.ndarray | None, steps: np.ndarray, low: float, high: float
    ) -> DecodedActions:
        """``logits [B, T, N, Da]`` raw-scale channel values -> actions clipped to ``[low, high]``."""
        actions = np.where(steps[:, :, None, None], np.clip(logits, low, high), 0.0).astype(np.float32)
        legal = np.broadcast_to(steps[:, :, None], logits.shape[:3]).copy()
        return DecodedActions(actions, legal, np.zeros(len(logits), bool))


ACTION_CODECS: dict[str, DiscreteCodec | BoxCodec] = {"discrete": DiscreteCodec(), "box": BoxCodec()}
"""The codec of each dataset action space (``DatasetCard.resolved_action_space()["kind"]``)."""

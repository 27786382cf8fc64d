"""The per-channel affine map of EAQ tensors to [-1, 1], fitted on real data only (SynthER's rule)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Normalizer:
    """Per-channel affine map to [-1, 1] fitted on real data; binary channels map {0,1} -> {-1,1}."""

    low: np.ndarray  # [F]
    high: np.ndarray  # [F]

    @classmethod
    def fit(cls, x: np.ndarray, binary: np.ndarray, rows: np.ndarray | None = None) -> Normalizer:
        """``x [W,F,H]`` raw windows of *real* data; ``rows [W,H]`` the rows that belong to an episode
        (steps and the terminal row): padding rows are ignored, so their zeros never widen a range."""
        if rows is not None and rows.any():
            picked = x.transpose(0, 2, 1)[rows]  # [R, F]
            low, high = picked.min(axis=0).astype(np.float32), picked.max(axis=0).astype(np.float32)
        else:
            low = x.min(axis=(0, 2)).astype(np.float32)
            high = x.max(axis=(0, 2)).astype(np.float32)
        low[binary], high[binary] = 0.0, 1.0
        return cls(low, high)

    def _scale(self) -> np.ndarray:
        span = self.high - self.low
        return np.where(span > 1e-6, span, 1.0).astype(np.float32)

    def normalize(self, x: Any) -> Any:
        """``[..., F, H]`` raw -> normalised (numpy or torch)."""
        low: Any
        scale: Any
        low, scale = self.low[:, None], self._scale()[:, None]
        if not isinstance(x, np.ndarray):
            import torch

            low, scale = torch.as_tensor(low, device=x.device), torch.as_tensor(scale, device=x.device)
        return 2.0 * (x - low) / scale - 1.0

    def unnormalize(self, x: Any) -> Any:
        """Inverse of :meth:`normalize`."""
        low: Any
        scale: Any
        low, scale = self.low[:, None], self._scale()[:, None]
        if not isinstance(x, np.ndarray):
            import torch

            low, scale = torch.as_tensor(low, device=x.device), torch.as_tensor(scale, device=x.device)
        return (x + 1.0) * 0.5 * scale + low

    def to_dict(self) -> dict:
        return {"low": self.low.tolist(), "high": self.high.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Normalizer:
        return cls(np.asarray(data["low"], np.float32), np.asarray(data["high"], np.float32))

"""DOM2's trajectory replication (papers/003, Algorithm 1) as a pure function over episode returns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def replication_counts(returns: Sequence[float] | np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Copies of each trajectory in D' = D + sum over r_th of {T in D | Return(T) >= r_th}.

    ``returns [L]`` -> ``[L]`` int64: ``1 + #{r_th : return >= r_th}`` (the original plus one per threshold
    reached; ``>=`` as in line 4 of Algorithm 1).
    """
    r = np.asarray(returns, dtype=np.float64)
    th = np.asarray(list(thresholds), dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"expected returns of shape [L], got {r.shape}")
    return 1 + (r[:, None] >= th[None, :]).sum(axis=1).astype(np.int64)


def replicate_indices(returns: Sequence[float] | np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Episode indices of D' in order (each index repeated by :func:`replication_counts`): ``[sum counts]``."""
    counts = replication_counts(returns, thresholds)
    return np.repeat(np.arange(len(counts)), counts)

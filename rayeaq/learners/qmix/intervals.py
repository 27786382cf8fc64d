"""Uncertainty of an evaluation: Wilson interval of a win rate, bootstrap interval of a mean return. Pure numpy.

A 32-episode evaluation at a 0.5 win rate has a Wilson 95 % half-width of about 0.17: every result carries its
interval and its episode count, so a difference that the evaluation cannot resolve is visible as such.
"""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054
"""Two-sided 95 % quantile of the standard normal."""


INTERVAL_KEYS = (
    "win_rate_ci95_low",
    "win_rate_ci95_high",
    "return_ci95_low",
    "return_ci95_high",
    "normalized_return_ci95_low",
    "normalized_return_ci95_high",
)
"""The interval columns :func:`evaluation_statistics` adds to every evaluation (the sweep carries them)."""


def wilson_interval(wins: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``wins / n`` -> (low, high); (0, 1) when ``n = 0``."""
    if n <= 0:
        return 0.0, 1.0
    p = wins / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if wins == 0 else max(0.0, centre - half)  # exact ends (rounding would leave 1e-17 above 0)
    high = 1.0 if wins == n else min(1.0, centre + half)
    return low, high


def bootstrap_mean_interval(
    values: np.ndarray, seed: int, resamples: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``values [n]`` (``resamples`` draws, seeded) -> (low, high)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, n, size=(resamples, n))].mean(axis=1)  # [resamples]
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def evaluation_statistics(returns: np.ndarray, won: np.ndarray, max_return: float, seed: int) -> dict[str, float]:
    """The interval columns of an evaluation: ``win_rate_ci95_low/high`` (Wilson), ``return_ci95_low/high`` and
    ``normalized_return_ci95_low/high`` (bootstrap of the mean), from per-episode ``returns [n]``, ``won [n]``."""
    n = int(np.asarray(won).shape[0])
    w_lo, w_hi = wilson_interval(int(np.asarray(won).sum()), n)
    r_lo, r_hi = bootstrap_mean_interval(returns, seed)
    return {
        "win_rate_ci95_low": w_lo,
        "win_rate_ci95_high": w_hi,
        "return_ci95_low": r_lo,
        "return_ci95_high": r_hi,
        "normalized_return_ci95_low": r_lo / max_return,
        "normalized_return_ci95_high": r_hi / max_return,
    }

"""Aggregate statistics over seeds, as ``rliable`` defines them (Agarwal et al., 2021), in numpy/pandas.

Scores are matrices ``[runs, tasks]``: ``scores[n, m]`` is run (seed) ``n`` on task ``m`` (a task is a
map × tier cell, or whatever the caller groups by). A 1-D array is one task. Everything here is pure
numpy/pandas and deterministic given ``seed``.

- :func:`iqm` — interquartile mean: the mean of the middle 50 % of all runs × tasks (25 % trimmed mean).
- :func:`bootstrap_ci` — stratified bootstrap: runs are resampled *within* each task (tasks are fixed),
  the statistic is recomputed ``reps`` times, and the percentile interval is returned.
- :func:`probability_of_improvement` — P(X > Y) per task (ties count ½, the Mann–Whitney U / (n_x·n_y)),
  averaged over tasks; :func:`probability_of_improvement_ci` bootstraps X and Y independently.
- :func:`relative_improvement` — ``(agg(X) − agg(Y)) / |agg(Y)|``, the paper's "+17.3 %" metric, with an
  independent stratified bootstrap CI in :func:`relative_improvement_ci`.
- :func:`score_matrix` / :func:`summarize` — from a tidy frame (one row per trial) to the above.

Resampling draws ``rng.choice(n_runs, scores.shape)`` once per replicate from a legacy
``numpy.random.RandomState``, the same draws ``rliable`` takes from numpy's global state; seeding both the
same way makes the two agree exactly (tests/test_analysis_stats.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

Statistic = Callable[[np.ndarray], np.ndarray]
"""Maps a batch ``[..., runs, tasks]`` to ``[...]`` (one number per leading index)."""


def _as_matrix(scores) -> np.ndarray:
    """``[runs]`` -> ``[runs, 1]``; ``[runs, tasks]`` unchanged; anything else is an error."""
    a = np.asarray(scores, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"expected scores of shape [runs] or [runs, tasks] with runs, tasks >= 1, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("expected finite scores (found NaN or inf)")
    return a


def _rng(seed) -> np.random.RandomState:
    """A legacy RandomState (rliable draws from one), from an int, None or an existing RandomState."""
    return seed if isinstance(seed, np.random.RandomState) else np.random.RandomState(seed)


# ----------------------------------------------------------------------------------------------- point estimates


def iqm(scores: np.ndarray) -> np.ndarray:
    """Interquartile mean over the last two axes ``[..., runs, tasks]`` (``scipy.stats.trim_mean(·, 0.25)``).

    ``int(0.25 · n)`` values are cut from each end of the ``n = runs · tasks`` sorted scores, the rest averaged.
    """
    a = np.asarray(scores, dtype=np.float64)
    flat = a.reshape(a.shape[:-2] + (-1,)) if a.ndim >= 2 else a
    n = flat.shape[-1]
    cut = int(0.25 * n)
    return np.sort(flat, axis=-1)[..., cut : n - cut].mean(axis=-1)


def mean(scores: np.ndarray) -> np.ndarray:
    """Mean over runs, then over tasks (rliable's ``aggregate_mean``), over the last two axes."""
    return np.asarray(scores, dtype=np.float64).mean(axis=(-2, -1))


def median(scores: np.ndarray) -> np.ndarray:
    """Median over tasks of the per-task mean (rliable's ``aggregate_median``), over the last two axes."""
    return np.median(np.asarray(scores, dtype=np.float64).mean(axis=-2), axis=-1)


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) + ½ P(X = Y) per task over all run pairs, averaged over tasks. ``x``, ``y``: ``[runs, tasks]``.

    Run counts may differ; task counts must match. Equals rliable's Mann–Whitney based estimate.
    """
    return float(_poi_batch(_as_matrix(x)[None], _as_matrix(y)[None])[0])


def _poi_batch(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Probability of improvement for batches ``x [B, n, M]``, ``y [B, k, M]`` -> ``[B]``."""
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"expected the same number of tasks, got {x.shape[-1]} and {y.shape[-1]}")
    diff = x[:, :, None, :] - y[:, None, :, :]  # [B, n, k, M]
    wins = (diff > 0).mean(axis=(1, 2)) + 0.5 * (diff == 0).mean(axis=(1, 2))
    return wins.mean(axis=-1)


def relative_improvement(x: np.ndarray, y: np.ndarray, statistic: Statistic = iqm) -> float:
    """``(stat(x) − stat(y)) / |stat(y)|``: e.g. 0.173 for the paper's +17.3 % over the baseline ``y``."""
    sx, sy = float(statistic(_as_matrix(x))), float(statistic(_as_matrix(y)))
    if sy == 0.0:
        raise ValueError("relative improvement is undefined: the baseline's aggregate score is 0")
    return (sx - sy) / abs(sy)


# ----------------------------------------------------------------------------------------------- bootstrap


def _resample(a: np.ndarray, rng: np.random.RandomState, reps: int) -> np.ndarray:
    """``reps`` stratified resamples of ``a [runs, tasks]``: runs drawn with replacement within each task."""
    tasks = np.arange(a.shape[1])
    out = np.empty((reps,) + a.shape)
    for r in range(reps):
        out[r] = a[rng.choice(a.shape[0], a.shape, replace=True), tasks]
    return out


def _percentile_ci(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Two-sided percentile interval of the bootstrap replicates."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"expected 0 < confidence < 1, got {confidence}")
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.percentile(values, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(lo), float(hi)


def bootstrap_ci(
    scores: np.ndarray,
    statistic: Statistic = iqm,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int | np.random.RandomState | None = 0,
) -> tuple[float, float, float]:
    """Point estimate and stratified-bootstrap percentile CI: ``(point, low, high)``.

    ``statistic`` must accept a batch ``[reps, runs, tasks]`` and return ``[reps]`` (``iqm``, ``mean``,
    ``median`` do). Matches ``rliable.library.get_interval_estimates(..., method="percentile")``.
    """
    a = _as_matrix(scores)
    boot = statistic(_resample(a, _rng(seed), reps))
    return (float(statistic(a)), *_percentile_ci(np.asarray(boot), confidence))


def _independent_boot(x, y, reps, seed) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated matrices of x and y and their independent stratified resamples (x then y per replicate)."""
    a, b = _as_matrix(x), _as_matrix(y)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"expected the same number of tasks, got {a.shape[1]} and {b.shape[1]}")
    rng, tasks = _rng(seed), np.arange(a.shape[1])
    ba, bb = np.empty((reps,) + a.shape), np.empty((reps,) + b.shape)
    for r in range(reps):
        ba[r] = a[rng.choice(a.shape[0], a.shape, replace=True), tasks]
        bb[r] = b[rng.choice(b.shape[0], b.shape, replace=True), tasks]
    return a, b, ba, bb


def probability_of_improvement_ci(
    x: np.ndarray, y: np.ndarray, reps: int = 2000, confidence: float = 0.95, seed=0
) -> tuple[float, float, float]:
    """``(point, low, high)`` of P(X > Y), X's and Y's runs resampled independently within each task."""
    a, b, ba, bb = _independent_boot(x, y, reps, seed)
    return (probability_of_improvement(a, b), *_percentile_ci(_poi_batch(ba, bb), confidence))


def relative_improvement_ci(
    x: np.ndarray, y: np.ndarray, statistic: Statistic = iqm, reps: int = 2000, confidence: float = 0.95, seed=0
) -> tuple[float, float, float]:
    """``(point, low, high)`` of :func:`relative_improvement`, X and Y resampled independently."""
    a, b, ba, bb = _independent_boot(x, y, reps, seed)
    sy = np.asarray(statistic(bb))
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = (np.asarray(statistic(ba)) - sy) / np.abs(sy)
    boot = boot[np.isfinite(boot)]
    return (relative_improvement(a, b, statistic), *_percentile_ci(boot, confidence))


# ----------------------------------------------------------------------------------------------- pandas


def score_matrix(df: pd.DataFrame, value: str, seed_col: str = "seed", task_cols: Sequence[str] = ()) -> np.ndarray:
    """Pivot a tidy frame (one row per run) into ``[runs, tasks]``; tasks are the distinct ``task_cols`` values.

    Every task must have the same seeds (a missing run is an error, not a silent NaN); duplicates of one
    (task, seed) are an error too.
    """
    tasks = list(task_cols)
    keys = tasks + [seed_col]
    if df.duplicated(keys).any():
        raise ValueError(f"expected one row per {keys}, found duplicates")
    if not tasks:
        return _as_matrix(df.sort_values(seed_col)[value].to_numpy())
    # pivot, not pivot_table(dropna=False): tasks are the task_cols combinations present, not their product.
    wide = df.pivot(index=seed_col, columns=tasks, values=value)
    if wide.isna().any().any():
        raise ValueError(f"expected every task {tasks} to have a run for every {seed_col}; some are missing")
    return _as_matrix(wide.to_numpy())


def summarize(
    df: pd.DataFrame,
    value: str,
    by: Sequence[str],
    seed_col: str = "seed",
    task_cols: Sequence[str] = (),
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per group of ``by``: ``iqm``, ``ci_low``, ``ci_high``, ``mean``, ``n_runs`` of column ``value``.

    Within a group, runs are the ``seed_col`` values and tasks the ``task_cols`` cells (none: one task).
    """
    rows = []
    for key, group in df.groupby(list(by), sort=True, dropna=False):
        m = score_matrix(group, value, seed_col, task_cols)
        point, lo, hi = bootstrap_ci(m, iqm, reps, confidence, seed)
        key = key if isinstance(key, tuple) else (key,)
        rows.append(
            {
                **dict(zip(by, key)),
                "iqm": point,
                "ci_low": lo,
                "ci_high": hi,
                "mean": float(m.mean()),
                "n_runs": m.shape[0],
            }
        )
    return pd.DataFrame(rows)

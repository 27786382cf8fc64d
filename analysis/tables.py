"""The paper's tables from the loader's per-trial frame (:attr:`analysis.loader.Results.trials`).

Runs are seeds; cells are map × tier × augmenter. Statistics come from :mod:`analysis.stats` (rliable's
definitions): interquartile mean with a 95 % stratified-bootstrap percentile interval, relative improvement
over ``none`` and probability of improvement, each with its bootstrap interval.

Sweeps that also vary λ, horizon or ratio have several trials per (cell, seed): :func:`select_main` keeps,
per augmenter, the most common value of each varied hyper-parameter (ties: the smallest), or the values the
caller prefers; what was chosen is returned so the notebook can print it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis import stats

CELL = ["map", "tier"]
HYPER = ["q_weight", "horizon", "ratio"]
MAIN_METRICS = ("normalized_return", "win_rate")
DATASET_COLUMNS = ("dataset_return_mean", "dataset_normalized_return", "dataset_win_rate")


def finished(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials that reported a final evaluation (an unknown map or tier shows as ``?``)."""
    done = trials[trials["status"] == "done"].copy() if "status" in trials else trials.copy()
    for column in CELL + ["augmenter"]:
        if column in done:
            done[column] = done[column].astype("string").fillna("?")
    return done


def _mode(values: pd.Series):
    """Most frequent non-missing value, ties broken by the smallest; None when all are missing."""
    counts = values.dropna().value_counts()
    if counts.empty:
        return None
    top = counts[counts == counts.max()].index
    return sorted(top)[0]


def select_main(
    trials: pd.DataFrame, prefer: Mapping[str, float] | None = None
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Per augmenter, keep one value of every hyper-parameter it varies (``prefer``, else the mode).

    Returns the kept trials and ``{augmenter: {param: value}}`` for the parameters that were fixed.
    """
    prefer = dict(prefer or {})
    kept, chosen = [], {}
    for augmenter, group in trials.groupby("augmenter", sort=True):
        choice = {}
        for param in HYPER:
            if param not in group or group[param].dropna().nunique() <= 1:
                continue
            value = prefer.get(param)
            if value is None or not (group[param] == value).any():
                value = _mode(group[param])
            group = group[group[param] == value]
            choice[param] = value
        kept.append(group)
        if choice:
            chosen[str(augmenter)] = choice
    return (pd.concat(kept) if kept else trials.iloc[:0]), chosen


def seed_scores(frame: pd.DataFrame, metric: str) -> np.ndarray:
    """One score per seed (trials of the same seed averaged), NaNs dropped; ``[runs]``."""
    per_seed = frame.dropna(subset=[metric]).groupby("seed")[metric].mean()
    return per_seed.to_numpy(dtype=float)


def main_table(
    trials: pd.DataFrame,
    metrics: Sequence[str] = MAIN_METRICS,
    baseline: str = "none",
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per map × tier × augmenter: IQM and CI of each metric over seeds, the relative improvement of
    the IQM over ``baseline`` in the same map × tier (with its CI), and the dataset's own means."""
    rows = []
    done = finished(trials)
    for key, group in done.groupby(CELL + ["augmenter"], sort=True, dropna=False):
        cell = dict(zip(CELL + ["augmenter"], key))
        base = done[(done["map"] == cell["map"]) & (done["tier"] == cell["tier"]) & (done["augmenter"] == baseline)]
        row: dict[str, object] = {**cell, "n_seeds": int(group["seed"].nunique())}
        for metric in metrics:
            x = seed_scores(group, metric)
            point = lo = hi = rel = rlo = rhi = np.nan
            if x.size:
                point, lo, hi = stats.bootstrap_ci(x, stats.iqm, reps, confidence, seed)
            y = seed_scores(base, metric)
            if x.size and y.size and cell["augmenter"] != baseline and stats.iqm(y[:, None]) != 0:
                rel, rlo, rhi = stats.relative_improvement_ci(x, y, stats.iqm, reps, confidence, seed)
            row.update(
                {
                    f"{metric}_iqm": point,
                    f"{metric}_ci_low": lo,
                    f"{metric}_ci_high": hi,
                    f"{metric}_rel_impr": rel,
                    f"{metric}_rel_low": rlo,
                    f"{metric}_rel_high": rhi,
                }
            )
        for column in DATASET_COLUMNS:
            row[column] = float(group[column].mean()) if column in group and group[column].notna().any() else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        order = {a: (a != baseline, a) for a in table["augmenter"]}
        table = table.sort_values(CELL + ["augmenter"], key=lambda s: s.map(order) if s.name == "augmenter" else s)
    return table.reset_index(drop=True)


def format_main(table: pd.DataFrame, metrics: Sequence[str] = MAIN_METRICS) -> pd.DataFrame:
    """The paper's layout: ``IQM [low, high]`` and ``+x.x %`` strings, the dataset mean beside them."""
    out = table[CELL + ["augmenter", "n_seeds"]].copy()
    for metric in metrics:
        out[metric] = [
            f"{p:.3f} [{lo:.3f}, {hi:.3f}]" if np.isfinite(p) else "–"
            for p, lo, hi in table[[f"{metric}_iqm", f"{metric}_ci_low", f"{metric}_ci_high"]].to_numpy()
        ]
        out[f"{metric} vs none"] = [
            f"{100 * r:+.1f} % [{100 * lo:+.1f}, {100 * hi:+.1f}]" if np.isfinite(r) else "–"
            for r, lo, hi in table[[f"{metric}_rel_impr", f"{metric}_rel_low", f"{metric}_rel_high"]].to_numpy()
        ]
    out["dataset mean (normalized)"] = table["dataset_normalized_return"].map(
        lambda v: f"{v:.3f}" if np.isfinite(v) else "–"
    )
    out["dataset mean return"] = table["dataset_return_mean"].map(lambda v: f"{v:.3f}" if np.isfinite(v) else "–")
    return out


def _task_matrix(frame: pd.DataFrame, metric: str, tasks: Iterable[tuple]) -> np.ndarray | None:
    """``[seeds, tasks]`` over the seeds every task has (per-seed means); None when no seed is shared."""
    per = frame.dropna(subset=[metric]).groupby(CELL + ["seed"])[metric].mean()
    columns = []
    for task in tasks:
        try:
            columns.append(per.xs(task, level=CELL))
        except KeyError:
            return None
    seeds = sorted(set.intersection(*(set(c.index) for c in columns))) if columns else []
    if not seeds:
        return None
    return np.stack([c.loc[seeds].to_numpy(dtype=float) for c in columns], axis=1)


def improvement_table(
    trials: pd.DataFrame,
    pairs: Sequence[tuple[str, str]] = (("eaq", "none"), ("eaq", "eaq_noq")),
    metrics: Sequence[str] = MAIN_METRICS,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Probability of improvement P(X > Y) of each pair, over the map × tier tasks both have (runs = seeds),
    with an independent stratified-bootstrap CI; one row per pair × metric (pairs with no shared task are
    skipped)."""
    done = finished(trials)
    rows = []
    for x_name, y_name in pairs:
        x, y = done[done["augmenter"] == x_name], done[done["augmenter"] == y_name]
        tasks = sorted(set(map(tuple, x[CELL].to_numpy())) & set(map(tuple, y[CELL].to_numpy())))
        for metric in metrics:
            mx, my = _task_matrix(x, metric, tasks), _task_matrix(y, metric, tasks)
            if not tasks or mx is None or my is None:
                continue
            point, lo, hi = stats.probability_of_improvement_ci(mx, my, reps, confidence, seed)
            rows.append(
                {
                    "x": x_name,
                    "y": y_name,
                    "metric": metric,
                    "tasks": len(tasks),
                    "runs_x": mx.shape[0],
                    "runs_y": my.shape[0],
                    "poi": point,
                    "ci_low": lo,
                    "ci_high": hi,
                }
            )
    return pd.DataFrame(rows, columns=["x", "y", "metric", "tasks", "runs_x", "runs_y", "poi", "ci_low", "ci_high"])


def tier_improvement_table(
    trials: pd.DataFrame,
    x: str = "eaq",
    y: str = "none",
    metrics: Sequence[str] = MAIN_METRICS,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Relative improvement of the IQM of ``x`` over ``y`` per tier, pooled over maps (the paper's
    "+17.3 % medium / +12.9 % poor"): tasks are the maps both have at that tier, runs the seeds every such
    task has; the IQM is over all runs × tasks, the CI a stratified bootstrap (x and y resampled
    independently within each map). One row per tier × metric; tiers with no shared map are skipped."""
    done = finished(trials)
    xs, ys = done[done["augmenter"] == x], done[done["augmenter"] == y]
    columns = ["tier", "metric", "maps", "runs_x", "runs_y", "rel_impr", "rel_low", "rel_high"]
    rows = []
    for tier in sorted(set(xs["tier"]) & set(ys["tier"])):
        tx, ty = xs[xs["tier"] == tier], ys[ys["tier"] == tier]
        tasks = sorted(set(map(tuple, tx[CELL].to_numpy())) & set(map(tuple, ty[CELL].to_numpy())))
        for metric in metrics:
            mx, my = _task_matrix(tx, metric, tasks), _task_matrix(ty, metric, tasks)
            if not tasks or mx is None or my is None or stats.iqm(my) == 0:
                continue
            point, lo, hi = stats.relative_improvement_ci(mx, my, stats.iqm, reps, confidence, seed)
            rows.append(
                {
                    "tier": tier,
                    "metric": metric,
                    "maps": len(tasks),
                    "runs_x": mx.shape[0],
                    "runs_y": my.shape[0],
                    "rel_impr": point,
                    "rel_low": lo,
                    "rel_high": hi,
                }
            )
    return pd.DataFrame(rows, columns=columns)


def fidelity_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Generator fidelity per map × tier × augmenter × λ × horizon: mean and std over seeds of every
    ``fidelity.*`` figure and of the generator's final loss (``gen_loss``), for trials that augmented."""
    done = finished(trials)
    done = done[done["augmenter"] != "none"]
    figures = [c for c in done.columns if c.startswith("fidelity.") and done[c].notna().any()]
    figures += [c for c in ("gen_loss",) if c in done and done[c].notna().any()]
    if done.empty or not figures:
        return pd.DataFrame()
    keys = CELL + ["augmenter", "q_weight", "horizon"]
    grouped = done.groupby(keys, dropna=False, sort=True)
    mean = grouped[figures].mean().add_suffix("_mean")
    std = grouped[figures].std(ddof=0).add_suffix("_std")
    table = pd.concat([grouped["seed"].nunique().rename("n_seeds"), mean, std], axis=1)
    ordered = ["n_seeds"] + [c for f in figures for c in (f"{f}_mean", f"{f}_std")]
    return table[ordered].reset_index()


def sensitivity(
    trials: pd.DataFrame,
    param: str,
    metric: str = "normalized_return",
    augmenters: Sequence[str] = ("eaq",),
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    prefer: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """IQM and CI of ``metric`` over seeds for each value of ``param`` (per map × tier × augmenter), the
    other hyper-parameters fixed (``prefer``'s value when present, else the most common one). Empty when
    ``param`` takes no value."""
    prefer = dict(prefer or {})
    done = finished(trials)
    done = done[done["augmenter"].isin(list(augmenters))]
    rows = []
    for key, group in done.groupby(CELL + ["augmenter"], sort=True):
        for other in HYPER:
            if other != param and other in group and group[other].dropna().nunique() > 1:
                value = prefer.get(other)
                group = group[group[other] == (value if (group[other] == value).any() else _mode(group[other]))]
        for value, sub in group.dropna(subset=[param]).groupby(param, sort=True):
            x = seed_scores(sub, metric)
            if x.size:
                point, lo, hi = stats.bootstrap_ci(x, stats.iqm, reps, confidence, seed)
                rows.append(
                    {
                        **dict(zip(CELL + ["augmenter"], key)),
                        param: value,
                        "metric": metric,
                        "n_seeds": x.size,
                        "iqm": point,
                        "ci_low": lo,
                        "ci_high": hi,
                    }
                )
    return pd.DataFrame(rows, columns=CELL + ["augmenter", param, "metric", "n_seeds", "iqm", "ci_low", "ci_high"])


def learning_curves(
    steps: pd.DataFrame, metric: str = "normalized_return", reps: int = 500, confidence: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """IQM and CI over seeds of ``metric`` at every evaluation step, per map × tier × augmenter."""
    rows = []
    data = finished(steps).dropna(subset=[metric])
    for key, group in data.groupby(CELL + ["augmenter", "step"], sort=True):
        x = seed_scores(group, metric)
        point, lo, hi = stats.bootstrap_ci(x, stats.iqm, reps, confidence, seed)
        rows.append(
            {
                **dict(zip(CELL + ["augmenter", "step"], key)),
                "metric": metric,
                "n_seeds": x.size,
                "iqm": point,
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    return pd.DataFrame(rows, columns=CELL + ["augmenter", "step", "metric", "n_seeds", "iqm", "ci_low", "ci_high"])

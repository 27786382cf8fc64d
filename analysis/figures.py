"""The paper's figures (matplotlib): sensitivity curves, learning curves, t-SNE of real vs synthetic observations.

Every function takes the frames of :mod:`analysis.tables` (or dataset directories for the t-SNE) and returns a
``matplotlib.figure.Figure``; :func:`save` writes it as PNG. Nothing here computes statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: notebooks executed by nbclient, CI
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.tables import CELL

PARAM_LABELS = {
    "q_weight": "λ (Q-loss weight)",
    "horizon": "horizon (rows per window)",
    "ratio": "augmentation ratio (synthetic per real)",
}
METRIC_LABELS = {"normalized_return": "normalized return", "win_rate": "win rate"}
COLORS = {
    "none": "#4d4d4d",
    "eaq": "#d62728",
    "eaq_noq": "#ff7f0e",
    "dom2_replicate": "#1f77b4",
    "gaussian_noise": "#2ca02c",
}


def _cells(frame: pd.DataFrame) -> list[tuple]:
    return sorted(set(map(tuple, frame[CELL].to_numpy()))) if not frame.empty else []


def _grid(n: int, width: float = 4.2, height: float = 3.2):
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _empty(message: str):
    fig, ax = plt.subplots(figsize=(5, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return fig


def sensitivity_plot(curve: pd.DataFrame, param: str, baseline: pd.DataFrame | None = None):
    """IQM ± CI of the metric against ``param``, one panel per map × tier, one line per augmenter; the
    ``none`` baseline's IQM (a row of :func:`analysis.tables.main_table`) as a dashed line and band."""
    if curve.empty:
        return _empty(f"no finished trial varies {param}")
    metric = curve["metric"].iloc[0]
    fig, axes = _grid(len(_cells(curve)))
    for ax, cell in zip(axes, _cells(curve)):
        sub = curve[(curve["map"] == cell[0]) & (curve["tier"] == cell[1])]
        for augmenter, line in sub.groupby("augmenter"):
            line = line.sort_values(param)
            x = line[param].to_numpy(dtype=float)
            y = line["iqm"].to_numpy()
            err = np.vstack([y - line["ci_low"].to_numpy(), line["ci_high"].to_numpy() - y])
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, color=COLORS.get(augmenter), label=augmenter)
        if baseline is not None and not baseline.empty:
            base = baseline[
                (baseline["map"] == cell[0]) & (baseline["tier"] == cell[1]) & (baseline["augmenter"] == "none")
            ]
            if not base.empty and np.isfinite(base[f"{metric}_iqm"].iloc[0]):
                ax.axhline(base[f"{metric}_iqm"].iloc[0], ls="--", color=COLORS["none"], label="none (IQM)")
                ax.axhspan(
                    base[f"{metric}_ci_low"].iloc[0],
                    base[f"{metric}_ci_high"].iloc[0],
                    color=COLORS["none"],
                    alpha=0.12,
                )
        if param == "q_weight" and (sub[param] > 0).all() and sub[param].nunique() > 2:
            ax.set_xscale("log")
        ax.set_title(f"{cell[0]} · {cell[1]}")
        ax.set_xlabel(PARAM_LABELS.get(param, param))
        ax.set_ylabel(f"{METRIC_LABELS.get(metric, metric)} (IQM, 95 % CI)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def learning_curve_plot(curves: pd.DataFrame):
    """IQM over seeds against learner updates with a 95 % CI band, per map × tier, one line per augmenter."""
    if curves.empty:
        return _empty("no evaluation steps reported")
    metric = curves["metric"].iloc[0]
    fig, axes = _grid(len(_cells(curves)))
    for ax, cell in zip(axes, _cells(curves)):
        sub = curves[(curves["map"] == cell[0]) & (curves["tier"] == cell[1])]
        for augmenter, line in sub.groupby("augmenter"):
            line = line.sort_values("step")
            color = COLORS.get(augmenter)
            ax.plot(line["step"], line["iqm"], marker=".", color=color, label=augmenter)
            ax.fill_between(
                line["step"].to_numpy(dtype=float), line["ci_low"], line["ci_high"], color=color, alpha=0.15
            )
        ax.set_title(f"{cell[0]} · {cell[1]}")
        ax.set_xlabel("learner updates")
        ax.set_ylabel(f"{METRIC_LABELS.get(metric, metric)} (IQM, 95 % CI)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def observation_sample(dataset_dir: str | Path, n: int, seed: int = 0) -> np.ndarray:
    """``n`` per-agent observation rows ``[n, obs_dim]`` drawn uniformly from the dataset's filled steps."""
    from rayeaq.data.reader import load_dataset

    episodes = load_dataset(dataset_dir).episodes
    obs = episodes.obs[episodes.filled]  # [steps, agents, obs_dim]
    rows = obs.reshape(-1, obs.shape[-1])
    rng = np.random.default_rng(seed)
    take = rng.choice(rows.shape[0], size=min(n, rows.shape[0]), replace=False)
    return rows[take].astype(np.float64)


def tsne_embedding(real: np.ndarray, synthetic: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """2-D t-SNE (scikit-learn, PCA init) of the stacked rows; returns (embedding [n, 2], is_synthetic [n])."""
    from sklearn.manifold import TSNE

    x = np.vstack([real, synthetic])
    perplexity = float(min(30.0, max(5.0, (x.shape[0] - 1) / 4)))
    emb = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    return emb, np.r_[np.zeros(len(real), bool), np.ones(len(synthetic), bool)]


def tsne_plot(panels: Sequence[tuple[str, np.ndarray, np.ndarray]]):
    """One panel per (title, embedding, is_synthetic): real observations grey, synthetic red (the paper's
    Figure 3)."""
    if not panels:
        return _empty("no trial kept a synthetic dataset (run the sweep with tune.keep_synthetic=true)")
    fig, axes = _grid(len(panels), 4.2, 4.0)
    for ax, (title, emb, synthetic) in zip(axes, panels):
        ax.scatter(*emb[~synthetic].T, s=6, alpha=0.5, color="#7f7f7f", label=f"real ({(~synthetic).sum()})")
        ax.scatter(*emb[synthetic].T, s=6, alpha=0.5, color="#d62728", label=f"synthetic ({synthetic.sum()})")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=8, markerscale=2)
    fig.tight_layout()
    return fig


def save(fig, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as PNG (parents created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path

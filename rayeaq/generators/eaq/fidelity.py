"""Fidelity of synthetic episodes against the real ones (numpy/scipy, no Ray).

Distributions: per-step reward and per-episode return (means, stds, Wasserstein-1), per-feature
Wasserstein-1 of observations (in units of the real feature's std), an RBF-kernel MMD between
standardised joint observations, and coverage (Naeem et al. 2020: the share of real samples whose
k-nearest-neighbour ball holds at least one synthetic sample).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from rayeaq.data.batch import EpisodeBatch


def transitions(batch: EpisodeBatch, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``limit`` random step rows ``(episode [S], row [S])`` whose next row exists (t < length): the
    transitions the simulator-based residuals re-step."""
    ep, row = np.nonzero(batch.filled)
    if len(ep) > limit:
        pick = np.sort(np.random.default_rng(seed).choice(len(ep), limit, replace=False))
        ep, row = ep[pick], row[pick]
    return ep, row


def _step_rows(batch: EpisodeBatch) -> tuple[np.ndarray, np.ndarray]:
    """Per-step joint observations ``[S, N*Do]`` and rewards ``[S]`` of filled rows."""
    mask = batch.filled
    return batch.obs[mask].reshape(int(mask.sum()), -1), batch.reward[mask]


def _pairwise_sq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)
    return out


def mmd_rbf(x: np.ndarray, y: np.ndarray) -> float:
    """Biased MMD² with an RBF kernel whose bandwidth is the median pairwise distance of ``x ∪ y``."""
    z = np.concatenate([x, y])
    d = _pairwise_sq(z, z)
    bandwidth = float(np.median(d[d > 0])) if (d > 0).any() else 1.0
    k = np.exp(-d / bandwidth)
    n = len(x)
    return float(k[:n, :n].mean() + k[n:, n:].mean() - 2.0 * k[:n, n:].mean())


def coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> float:
    """Share of real samples whose k-NN radius (among real) contains a synthetic sample."""
    k = min(k, len(real) - 1)
    if k < 1 or len(fake) == 0:
        return 0.0
    rr = np.sqrt(_pairwise_sq(real, real))
    radius = np.sort(rr, axis=1)[:, k]
    nearest_fake = np.sqrt(_pairwise_sq(real, fake)).min(axis=1)
    return float((nearest_fake <= radius).mean())


def _dist(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(values.mean()) if values.size else 0.0, "std": float(values.std()) if values.size else 0.0}


def fidelity_report(
    real: EpisodeBatch, synthetic: EpisodeBatch, *, sampled: int, legal_share: float | None, n_samples: int, seed: int
) -> dict[str, Any]:
    """All fidelity figures as one JSON-able dict."""
    rng = np.random.default_rng(seed)
    report: dict[str, Any] = {
        "sampled": sampled,
        "kept": len(synthetic),
        "share_kept": len(synthetic) / sampled if sampled else 0.0,
        "legal_action_share": legal_share,
    }
    if len(synthetic) == 0:
        return report
    real_obs, real_r = _step_rows(real)
    syn_obs, syn_r = _step_rows(synthetic)
    report["reward"] = {
        "real": _dist(real_r),
        "synthetic": _dist(syn_r),
        "wasserstein": float(wasserstein_distance(real_r, syn_r)),
    }
    report["return"] = {
        "real": _dist(real.episode_return),
        "synthetic": _dist(synthetic.episode_return),
        "wasserstein": float(wasserstein_distance(real.episode_return, synthetic.episode_return)),
    }
    report["length"] = {"real": _dist(real.length.astype(float)), "synthetic": _dist(synthetic.length.astype(float))}
    report["win_rate"] = {"real": float(real.battle_won.mean()), "synthetic": float(synthetic.battle_won.mean())}
    mean, std = real_obs.mean(0), real_obs.std(0)
    std = np.where(std > 1e-6, std, 1.0)
    w1 = np.array([wasserstein_distance(real_obs[:, j], syn_obs[:, j]) for j in range(real_obs.shape[1])]) / std
    report["obs_wasserstein"] = {"mean": float(w1.mean()), "max": float(w1.max()), "units": "real std per feature"}
    ra = (real_obs[rng.choice(len(real_obs), min(n_samples, len(real_obs)), replace=False)] - mean) / std
    sa = (syn_obs[rng.choice(len(syn_obs), min(n_samples, len(syn_obs)), replace=False)] - mean) / std
    report["obs_mmd"] = mmd_rbf(ra, sa)
    report["coverage"] = coverage(ra, sa)
    return report

"""Baseline augmenters without a generator: DOM2 trajectory replication and Gaussian observation noise."""

from __future__ import annotations

import numpy as np

from rayeaq.data.batch import EpisodeBatch


def dom2_replicate(real: EpisodeBatch, thresholds: list[float]) -> EpisodeBatch:
    """DOM2 Algorithm 1: each trajectory copied once per threshold its return exceeds (copies only)."""
    copies = (real.episode_return[:, None] > np.asarray(thresholds, np.float32)[None, :]).sum(axis=1)
    return real.select(np.repeat(np.arange(len(real)), copies))


def gaussian_noise(real: EpisodeBatch, n: int, sigma: float, rng: np.random.Generator) -> EpisodeBatch:
    """``n`` episodes drawn with replacement, observations (rows up to the terminal one) + σ·std·N(0, 1)."""
    out = real.select(rng.integers(0, len(real), n))
    rows = out.filled | (np.arange(out.max_seq_len)[None, :] == out.length[:, None])
    flat = real.obs[real.filled]
    std = flat.std(axis=0) if len(flat) else np.ones(real.obs.shape[2:], np.float32)
    noise = rng.standard_normal(out.obs.shape).astype(np.float32) * sigma * std[None, None]
    out.obs = out.obs + noise * rows[:, :, None, None]
    return out


def relabel(batch: EpisodeBatch, behaviour: str, seeds: np.ndarray) -> EpisodeBatch:
    """Fresh episode ids ``0..B-1``, ``source = synthetic``, the augmenter as behaviour policy."""
    n = len(batch)
    batch.episode_id = np.arange(n, dtype=np.int64)
    batch.source = np.array(["synthetic"] * n, dtype=object)
    batch.behaviour_policy = np.array([behaviour] * n, dtype=object)
    batch.seed = np.asarray(seeds, dtype=np.int64)
    return batch

"""Baseline augmenters without a generator: none, DOM2 trajectory replication, Gaussian observation noise."""

from __future__ import annotations

import numpy as np

from rayeaq.augmenters.registry import AugmentInputs, Produced, augmenter
from rayeaq.core.errors import ConfigError
from rayeaq.core.runinfo import derive_seed
from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.card import DatasetCard

_NO_GENERATOR = (
    "diffusion.",
    "fit.",
    "augment.sampler",
    "augment.sampling_steps",
    "augment.timestep_spacing",
    "augment.use_ema",
    "augment.oversample",
    "augment.drop_illegal",
    "augment.done_threshold",
    "augment.return_tolerance",
)


def dom2_replicate(real: EpisodeBatch, thresholds: list[float], max_return: float, origin: float = 0.0) -> EpisodeBatch:
    """DOM2 Algorithm 1: each trajectory copied once per threshold its return reaches (``≥``, as the
    paper's Algorithm 1); threshold ``f`` is the return ``origin + f · max_return`` (``origin`` 0: fractions of
    the map's maximum return; see :func:`threshold_scale`)."""
    bounds = origin + np.asarray(thresholds, np.float64)[None, :] * max_return
    copies = (real.episode_return[:, None].astype(np.float64) >= bounds - 1e-6).sum(axis=1)
    return real.select(np.repeat(np.arange(len(real)), copies))


def threshold_scale(card: DatasetCard) -> tuple[float, float, str]:
    """``(origin, unit, what)`` of ``augment.dom2_thresholds`` on a map: fractions of the maximum return where it is
    positive (SMAX, omar_spread, tag); on a map whose rewards are never positive (MPE spread: maximum 0) fractions
    of the way from the card's random reference return to its expert one (the normalized score / 100)."""
    if card.max_return > 0:
        return 0.0, card.max_return, f"× max_return {card.max_return:g}"
    ref = card.reference_returns
    if "random" in ref and "expert" in ref and ref["expert"] > ref["random"]:
        unit = ref["expert"] - ref["random"]
        return (
            ref["random"],
            unit,
            f"of the way from the random return {ref['random']:.4g} to the expert {ref['expert']:.4g}",
        )
    raise ConfigError(
        f"augment.augmenter: dom2_replicate needs a positive max_return or reference returns (random, expert) in the "
        f"card of {card.backend}/{card.map}; this one has max_return {card.max_return:g} and none"
    )


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


@augmenter("none", ignores=("diffusion.", "fit.", "augment."))
def produce_none(inputs: AugmentInputs) -> Produced:
    """No augmentation: no dataset, only the fidelity file (``kept = 0``)."""
    return Produced(None, 0)


@augmenter("dom2_replicate", ignores=(*_NO_GENERATOR, "augment.noise_sigma"))
def produce_dom2_replicate(inputs: AugmentInputs) -> Produced:
    """DOM2's Algorithm 1 over the real episodes (``augment.dom2_thresholds``)."""
    real = inputs.real.episodes
    origin, unit, what = threshold_scale(inputs.real.card)
    synthetic = dom2_replicate(real, inputs.cfg.dom2_thresholds, unit, origin)
    if len(synthetic) == 0:
        best = float(real.episode_return.max()) if len(real) else float("nan")
        raise ConfigError(
            f"augment.dom2_thresholds: no real episode's return reaches any of {inputs.cfg.dom2_thresholds} "
            f"{what} (the dataset's maximum episode return is {best:.3g}, "
            f"{(best - origin) / unit:.3g} of it); lower the thresholds"
        )
    return Produced(relabel(synthetic, "dom2_replicate", synthetic.seed), len(synthetic))


@augmenter("gaussian_noise", ignores=(*_NO_GENERATOR, "augment.dom2_thresholds"))
def produce_gaussian_noise(inputs: AugmentInputs) -> Produced:
    """``requested`` real episodes with σ-scaled Gaussian noise on their observations."""
    sigma = inputs.cfg.noise_sigma
    rng = np.random.default_rng(derive_seed(inputs.seed, "augment", "gaussian_noise"))
    synthetic = gaussian_noise(inputs.real.episodes, inputs.requested, sigma, rng)
    return Produced(
        relabel(synthetic, f"gaussian_noise(sigma={sigma})", synthetic.seed),
        inputs.requested,
        requested=inputs.requested,
    )

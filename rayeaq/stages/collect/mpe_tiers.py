"""Dataset tiers of the MPE maps in OMAR/D4RL naming, each a schema-v2 dataset under ``OUT/<tier>/``.

- ``random``: uniform actions in the box;
- ``expert``: the scripted controller (:func:`rayeaq.policies.mpe.expert`);
- ``medium``: the ε-mixture of expert and uniform actions whose normalized score lands in ``medium_band``
  (ε found by bisection on ``calibration_episodes`` episodes; the score falls as ε grows);
- ``medium_replay``: a sweep over the mixture, ε evenly spaced from 1 (random) down to the medium ε, the same
  number of episodes at each level (the replay buffer of a policy trained up to medium);
- ``medium_expert``: the medium and expert episodes together.

Normalized score = 100·(R − R_random)/(R_expert − R_random) with the map's reference returns
(:func:`rayeaq.stages.collect.mpe_collect.reference_returns`), written in every card with the band; the medium
card's ``band_met`` is judged on its written data (``calibration_band_met`` and ``calibrated_score`` are the
bisection's, on its own calibration episodes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol, cast

import numpy as np
from pydantic import Field

from rayeaq.core.config import StrictModel
from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.card import DatasetCard, normalized_score

MPETier = Literal["random", "medium_replay", "medium", "medium_expert", "expert"]


def _all_tiers() -> list[MPETier]:
    return ["random", "medium_replay", "medium", "medium_expert", "expert"]


class MPETierConfig(StrictModel):
    """``collect.mpe``: which MPE tiers to collect and how the medium mixture is calibrated (the episode counts are
    ``collect.episodes``, ``collect.shard_episodes`` and ``collect.calibration_episodes``)."""

    tiers: list[MPETier] = Field(default_factory=_all_tiers)
    """Tiers to write, each to OUT/<tier>/ (used when env.backend is mpe, in place of collect.tiers)."""
    medium_band: tuple[float, float] = (40.0, 60.0)
    """Normalized-score band of the medium tier (0 = random, 100 = the scripted expert)."""
    noise_sigma: float = Field(default=0.0, ge=0.0)
    """Gaussian noise on the expert's force direction in the medium mixtures (on top of the ε-mixture)."""
    calibration_steps: int = Field(default=8, ge=1, le=30)
    """Bisection steps of the medium ε (the ε interval halves each step)."""
    replay_levels: int = Field(default=5, ge=1)
    """ε levels of the medium_replay sweep."""
    chunk: int = Field(default=1000, ge=1)
    """Environments rolled out at once (jax.vmap)."""


class MPECollectConfig(Protocol):
    """The collection settings the MPE tiers read (:class:`~rayeaq.stages.collect.config.CollectConfig` is one)."""

    episodes: int
    """Episodes per tier (medium_expert: this many from each of medium and expert)."""
    shard_episodes: int
    """Episodes per Parquet shard."""
    calibration_episodes: int
    """Episodes per bisection step of the medium ε."""
    mpe: MPETierConfig
    """Tiers and the medium calibration."""


def calibrate_epsilon(
    map_name: str, cfg: MPECollectConfig, root_seed: int, reference: dict[str, float]
) -> tuple[float, float, bool]:
    """(ε, its normalized score, band met) for the medium tier, by bisection of ε on fixed seeds."""
    from rayeaq.policies import load_box_policy
    from rayeaq.stages.collect.mpe_collect import collect_episodes, episode_seeds

    m = cfg.mpe
    policy = load_box_policy("noisy_expert", map_name, sigma=m.noise_sigma)
    ids = np.arange(cfg.calibration_episodes)
    seeds = episode_seeds(root_seed, map_name, "calibration", ids)
    lo_band, hi_band = m.medium_band
    lo, hi = 0.0, 1.0
    best = (1.0, -np.inf)
    for _ in range(m.calibration_steps):
        eps = 0.5 * (lo + hi)
        batch = collect_episodes(map_name, policy, ids, seeds, "calibration", m.chunk, epsilon=eps)
        score = normalized_score(float(batch.episode_return.mean()), reference)
        assert score is not None  # the MPE references hold random and expert returns
        best = min(best, (eps, score), key=lambda b: abs(b[1] - 0.5 * (lo_band + hi_band)))
        if lo_band <= score <= hi_band:
            return eps, score, True
        lo, hi = (eps, hi) if score > hi_band else (lo, eps)
    return best[0], best[1], False


def written_band_met(
    tier: str, batch: EpisodeBatch, band: tuple[float, float], reference: dict[str, float]
) -> bool | None:
    """Whether the written ``medium`` data's normalized score lies in ``band`` (judged on the data, not on the
    calibration's episodes: a medium tier calibrated at 40.2 can be written at 38.4); None for the other tiers,
    which have no band."""
    if tier != "medium":
        return None
    written = normalized_score(float(batch.episode_return.mean()), reference)
    return written is not None and band[0] <= written <= band[1]


def collect_tiers(
    map_name: str, cfg: MPECollectConfig, out: str | Path, root_seed: int, code_version: dict[str, Any] | None = None
) -> dict[str, DatasetCard]:
    """Write every configured tier under ``out``; returns the cards by tier."""
    from rayeaq.data.writer import write_dataset
    from rayeaq.envs.mpe.maps import mpe_spec
    from rayeaq.policies import load_box_policy
    from rayeaq.stages.collect.mpe_collect import (
        REFERENCE_EPISODES,
        collect_episodes,
        episode_seeds,
        reference_returns,
    )

    out, reference = Path(out), reference_returns(map_name)
    m = cfg.mpe
    needs_medium = {"medium", "medium_replay", "medium_expert"} & set(m.tiers)
    eps, score, met = calibrate_epsilon(map_name, cfg, root_seed, reference) if needs_medium else (None, None, None)
    noisy = load_box_policy("noisy_expert", map_name, sigma=m.noise_sigma)
    expert, uniform = load_box_policy("expert", map_name), load_box_policy("random", map_name)
    n = cfg.episodes

    def run(tier: str, policy, epsilon, first_id: int = 0, count: int = n) -> EpisodeBatch:
        ids = np.arange(first_id, first_id + count)
        return collect_episodes(
            map_name, policy, ids, episode_seeds(root_seed, map_name, tier, ids), tier, m.chunk, epsilon=epsilon
        )

    plans = {
        "random": lambda: (run("random", uniform, 0.0), {"name": "random"}),
        "expert": lambda: (run("expert", expert, 0.0), {"name": "expert"}),
        "medium": lambda: (
            run("medium", noisy, eps),
            {"name": "noisy_expert", "epsilon": eps, "sigma": m.noise_sigma},
        ),
        "medium_replay": lambda: (
            run(
                "medium_replay",
                noisy,
                np.repeat(np.linspace(1.0, cast(float, eps), m.replay_levels), -(-n // m.replay_levels))[:n],
            ),
            {"name": "noisy_expert_sweep", "epsilon": [1.0, eps], "levels": m.replay_levels},
        ),
        "medium_expert": lambda: (
            EpisodeBatch.concatenate([run("medium", noisy, eps), run("expert", expert, 0.0, n)]),
            {"name": "medium+expert", "epsilon": eps},
        ),
    }
    cards: dict[str, DatasetCard] = {}
    for tier in m.tiers:
        batch, behaviour = plans[tier]()
        batch.behaviour_policy[:] = tier
        quality = {
            "reference_episodes": REFERENCE_EPISODES,
            "medium_epsilon": eps,
            "calibrated_score": score,
            "calibration_band_met": met,
            "medium_band": list(m.medium_band) if needs_medium else None,
            "band_met": written_band_met(tier, batch, m.medium_band, reference),
        }
        cards[tier] = write_dataset(
            out / tier,
            batch,
            mpe_spec(map_name),
            shard_episodes=cfg.shard_episodes,
            source="real",
            tier=tier,
            behaviour_policy=behaviour,
            quality=quality,
            reference_returns=reference,
            generation={"root_seed": root_seed, "episodes": len(batch)},
            code_version=code_version or {},
        )
    return cards


def collect_mpe_stage(cfg: Any, out: Path) -> dict[str, Any]:
    """``python -m rayeaq.collect`` on ``env.backend: mpe``: every tier of ``collect.mpe.tiers`` in this process
    (one jitted vmap+scan per chunk; ``collect.workers`` is not used); returns the totals of the command's last line."""
    import time

    from rayeaq.core.runinfo import code_version, write_run_info

    out.mkdir(parents=True, exist_ok=True)
    write_run_info(out, cfg, "collect", {})
    start = time.perf_counter()
    cards = collect_tiers(cfg.env.map, cfg.collect, out, cfg.seed, code_version=code_version())
    seconds = time.perf_counter() - start
    write_run_info(out, cfg, "collect", {"dataset_fingerprints": {t: c.fingerprint for t, c in cards.items()}})
    episodes = sum(c.stats.episodes for c in cards.values())
    return {
        "episodes": episodes,
        "transitions": sum(c.stats.transitions for c in cards.values()),
        "win_rate": None,
        "mean_return": sum(c.stats.mean_return * c.stats.episodes for c in cards.values()) / max(episodes, 1),
        "collected_steps": sum(c.stats.transitions for c in cards.values()),
        "collect_seconds": seconds,
        "tiers": [
            f"{t}: {c.stats.episodes} ep, normalized {c.stats.normalized_score:.1f}, band_met {c.quality.get('band_met')}"
            for t, c in cards.items()
        ],
        "reference_returns": next(iter(cards.values())).reference_returns if cards else None,
    }

"""Driver of ``rayeaq.collect``: per tier, choose the behaviour policy by its own win rate, collect shards with
actors, write the card (the tier's policy, its own win rate and its provenance)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from rayeaq.core.errors import ConfigError
from rayeaq.core.ray_config import RayConfig
from rayeaq.core.ray_session import ray_session
from rayeaq.core.runinfo import code_version, write_run_info
from rayeaq.data.card import read_card
from rayeaq.data.writer import finalize_dataset
from rayeaq.envs import env_spec
from rayeaq.envs.config import EnvConfig
from rayeaq.policies import POLICIES, Candidate
from rayeaq.stages.collect import core, medium_replay
from rayeaq.stages.collect.collectors import collector_for
from rayeaq.stages.collect.config import CollectConfig, Tier

# Tiers cut from an online run's replay (no behaviour policy is chosen or played): their content key and writer.
REPLAY_TIER_WRITERS = {medium_replay.TIER: (medium_replay.content_key, medium_replay.collect_tier)}


class CollectRun(Protocol):
    """The run-config sections collection reads (a :class:`rayeaq.run_config.RunConfig` is one)."""

    seed: int
    env: EnvConfig
    collect: CollectConfig
    ray: RayConfig

    def model_dump(self, *, mode: str = ...) -> dict[str, Any]: ...


def collect_all(cfg: CollectRun, out: Path) -> dict:
    """Collect every configured tier into ``out/<tier>``; returns totals for the last line."""
    collector = collector_for(cfg.env.backend)  # smax: the fused JAX collector; sc2: SMAC-API actors
    if collector.stage is not None:  # mpe: OMAR/D4RL tiers of box-action episodes, in-process
        return collector.stage(cfg, out)
    member = POLICIES.get(cfg.collect.policy.kind)
    if member.validate is not None:
        member.validate(cfg.collect.policy)
    collector.check(cfg)
    played = [tier for tier in cfg.collect.tiers if tier not in REPLAY_TIER_WRITERS]
    for tier in cfg.collect.tiers:  # before anything is written: never overwrite another config's data
        _check_same_content(cfg, tier, out / tier)
    spec = env_spec(cfg.env)  # sc2 without the game: one line naming SC2PATH and the install command
    out.mkdir(parents=True, exist_ok=True)
    write_run_info(out, cfg, "collect", {"env_spec": spec.to_dict()})
    fingerprints: dict[str, str] = {}
    totals: dict[str, Any] = {
        "episodes": 0,
        "transitions": 0,
        "wins": 0.0,
        "return_sum": 0.0,
        "collected_steps": 0,
        "collect_seconds": 0.0,
        "warmup_seconds": 0.0,
        "tiers": [],
    }
    with ray_session(cfg.ray):
        from rayeaq.core.resources import check_resources
        from rayeaq.stages.requests import collect_requests

        check_resources(collect_requests(cfg), wait_s=cfg.ray.resource_wait_s)

        pool = collector.pool(spec, cfg) if played else None  # replay tiers need no collector actors
        measured: dict[str, dict] = {}  # candidate label -> own-win-rate row, shared by the tiers of this run
        try:
            for tier in cfg.collect.tiers:
                if tier in REPLAY_TIER_WRITERS:
                    card = REPLAY_TIER_WRITERS[tier][1](cfg, spec, out / tier)
                else:
                    card = _collect_tier(pool, cfg, spec, tier, out / tier, totals, measured)
                fingerprints[tier] = card.fingerprint
                totals["episodes"] += card.stats.episodes
                totals["transitions"] += card.stats.transitions
                totals["wins"] += (card.stats.win_rate or 0.0) * card.stats.episodes
                totals["return_sum"] += card.stats.mean_return * card.stats.episodes
                totals["tiers"].append(f"{tier}: {card.stats.episodes} ep, win {card.stats.win_rate:.2f}")
        finally:
            if pool is not None:
                pool.shutdown()
    write_run_info(out, cfg, "collect", {"env_spec": spec.to_dict(), "dataset_fingerprints": fingerprints})
    n = max(totals["episodes"], 1)
    totals["win_rate"] = totals["wins"] / n
    totals["mean_return"] = totals["return_sum"] / n
    return totals


def _check_same_content(cfg: CollectRun, tier: str, directory: Path) -> None:
    key = (REPLAY_TIER_WRITERS[tier][0] if tier in REPLAY_TIER_WRITERS else core.content_key)(
        cfg, tier
    )  # checks the config too
    calibration = core.load_calibration(directory)
    if calibration is not None and calibration.get("content_key") != key:
        raise ConfigError(
            f"{directory} holds a {tier} dataset collected with a different seed, env, episode count or "
            "behaviour policy; choose another --out or delete it"
        )


def _choose(pool, cfg: CollectRun, tier: Tier, measured: dict[str, dict]) -> dict:
    """The tier's calibration record: the chosen candidate, its own win rate, whether the band is met, the table."""
    ccfg = cfg.collect
    band = ccfg.tier_bands[tier]
    candidates = core.tier_candidates(ccfg, tier)
    record = core.tier_band_record(tier, band)
    if len(candidates) == 1:  # nothing to choose: the data's own win rate is the measurement
        return {
            **record,
            "candidate": candidates[0].to_dict(),
            "epsilon": candidates[0].epsilon,
            "own_win_rate": None,
            "band_met": None,
            "table": [],
        }
    todo = [c for c in candidates if c.label not in measured]
    if todo:
        for row in pool.calibrate(todo, ccfg.calibration_episodes):
            measured[row["policy"]] = row
    table = [measured[c.label] for c in candidates]
    row, met = core.choose_candidate(band, table)
    return {
        **record,
        "candidate": row["candidate"],
        "epsilon": row["epsilon"],
        "own_win_rate": row["win_rate"],
        "band_met": met,
        "table": table,
    }


def _collect_tier(pool, cfg: CollectRun, spec, tier: Tier, directory: Path, totals: dict, measured: dict[str, dict]):
    ccfg = cfg.collect
    shards = core.plan_shards(ccfg.episodes, ccfg.shard_episodes)
    key = core.content_key(cfg, tier)
    calibration = core.load_calibration(directory)
    if calibration is not None and (directory / "card.json").is_file():
        card = read_card(directory)
        if card.stats.episodes == ccfg.episodes and card.shards == [s.name for s in shards]:
            print(f"[{tier}] complete already ({card.stats.episodes} episodes, fingerprint {card.fingerprint}); kept")
            return card
    band = ccfg.tier_bands[tier]
    if calibration is None:
        calibration = _choose(pool, cfg, tier, measured)
        calibration["content_key"] = key
        core.save_calibration(directory, calibration)
    candidate = Candidate.from_dict(calibration["candidate"])
    if calibration["band_met"] is False:
        print(
            f"[{tier}] warning: no candidate policy reaches win-rate band {band.win_rate}; using the closest, "
            f"{candidate.label} (own win rate {calibration['own_win_rate']:.3f})"
        )
    start = time.perf_counter()
    pool.warm(candidate)  # start-up (tracing, compilation) apart from the collection it would otherwise slow
    totals["warmup_seconds"] += time.perf_counter() - start
    start = time.perf_counter()
    with tqdm(total=ccfg.episodes, desc=f"collect {tier} ({candidate.label})", unit="ep", leave=False) as bar:
        summaries = pool.collect(tier, shards, candidate, directory, lambda done: bar.update(done - bar.n))
    totals["collect_seconds"] += time.perf_counter() - start
    totals["collected_steps"] += sum(s["steps"] for s in summaries)
    card = finalize_dataset(
        directory,
        spec,
        source="real",
        tier=tier,
        quality={
            "tier": tier,
            "win_rate_band": list(band.win_rate),
            "policy": candidate.label,
            "epsilon": candidate.epsilon,
            "own_win_rate": calibration["own_win_rate"],
            "band_met": calibration["band_met"],
            "calibration": calibration["table"],
        },
        behaviour_policy=core.behaviour_record(ccfg, candidate, calibration["own_win_rate"]),
        generation={
            "seed": cfg.seed,
            "episodes": ccfg.episodes,
            "shard_episodes": ccfg.shard_episodes,
            "env": cfg.env.model_dump(mode="json"),
        },
        code_version=code_version(),
    )
    print(
        f"[{tier}] {card.stats.episodes} episodes, {card.stats.transitions} transitions, win rate "
        f"{card.stats.win_rate:.3f}, mean return {card.stats.mean_return:.3f} ({candidate.label}) -> {directory}"
    )
    return card

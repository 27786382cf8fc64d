"""Driver of ``rayeaq.collect``: per tier, calibrate ε, collect shards with actors, write the card."""

from __future__ import annotations

import time
from pathlib import Path

from tqdm import tqdm

from rayeaq.core.errors import ConfigError
from rayeaq.core.ray_session import ray_session
from rayeaq.core.runinfo import code_version, write_run_info
from rayeaq.data.card import read_card
from rayeaq.data.writer import finalize_dataset
from rayeaq.envs import env_spec
from rayeaq.run_config import RunConfig
from rayeaq.stages.collect import core


def collect_all(cfg: RunConfig, out: Path) -> dict:
    """Collect every configured tier into ``out/<tier>``; returns totals for the last line."""
    if cfg.env.backend != "smax":
        raise ConfigError(
            "env.backend: collection with backend 'sc2' is not implemented yet (the SMAC-API adapter exists: "
            "rayeaq.envs.make_env); use backend smax"
        )
    policy = cfg.collect.policy
    if policy.kind == "qmix_checkpoint" and (policy.checkpoint is None or not Path(policy.checkpoint).is_dir()):
        raise ConfigError(f"collect.policy.checkpoint: expected a QMIX checkpoint directory, got {policy.checkpoint!r}")
    for tier in cfg.collect.tiers:  # before anything is written: never overwrite another config's data
        _check_same_content(cfg, tier, out / tier)
    spec = env_spec(cfg.env)
    out.mkdir(parents=True, exist_ok=True)
    write_run_info(out, cfg, "collect", {"env_spec": spec.to_dict()})
    fingerprints: dict[str, str] = {}
    totals = {
        "episodes": 0,
        "transitions": 0,
        "wins": 0.0,
        "return_sum": 0.0,
        "collected_steps": 0,
        "collect_seconds": 0.0,
        "tiers": [],
    }
    with ray_session(cfg.ray):
        from rayeaq.stages.collect.ray_collect import CollectorPool

        pool = CollectorPool(spec, cfg.collect, cfg.seed)
        try:
            for tier in cfg.collect.tiers:
                card = _collect_tier(pool, cfg, spec, tier, out / tier, totals)
                fingerprints[tier] = card.fingerprint
                totals["episodes"] += card.stats.episodes
                totals["transitions"] += card.stats.transitions
                totals["wins"] += card.stats.win_rate * card.stats.episodes
                totals["return_sum"] += card.stats.mean_return * card.stats.episodes
                totals["tiers"].append(f"{tier}: {card.stats.episodes} ep, win {card.stats.win_rate:.2f}")
        finally:
            pool.shutdown()
    write_run_info(out, cfg, "collect", {"env_spec": spec.to_dict(), "dataset_fingerprints": fingerprints})
    n = max(totals["episodes"], 1)
    totals["win_rate"] = totals["wins"] / n
    totals["mean_return"] = totals["return_sum"] / n
    return totals


def _check_same_content(cfg: RunConfig, tier: str, directory: Path) -> None:
    calibration = core.load_calibration(directory)
    if calibration is not None and calibration.get("content_key") != core.content_key(cfg, tier):
        raise ConfigError(
            f"{directory} holds a {tier} dataset collected with a different seed, env, episode count or "
            "behaviour policy; choose another --out or delete it"
        )


def _collect_tier(pool, cfg: RunConfig, spec, tier: str, directory: Path, totals: dict):
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
        if ccfg.policy.kind == "random":
            calibration = {**core.tier_band_record(tier, band), "epsilon": 1.0, "band_met": None, "table": []}
        elif band.epsilon is not None:
            calibration = {**core.tier_band_record(tier, band), "epsilon": band.epsilon, "band_met": None, "table": []}
        else:
            table = pool.calibrate(tier, list(core.EPSILON_GRID), ccfg.calibration_episodes)
            epsilon, met = core.choose_epsilon(band, table)
            calibration = {**core.tier_band_record(tier, band), "epsilon": epsilon, "band_met": met, "table": table}
        calibration["content_key"] = key
        core.save_calibration(directory, calibration)
    epsilon = calibration["epsilon"]
    if calibration["band_met"] is False:
        print(f"[{tier}] warning: no ε reaches win-rate band {band.win_rate}; using the closest, ε={epsilon}")
    start = time.perf_counter()
    with tqdm(total=ccfg.episodes, desc=f"collect {tier} (ε={epsilon:.2f})", unit="ep", leave=False) as bar:
        summaries = pool.collect(tier, shards, epsilon, directory, lambda done: bar.update(done - bar.n))
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
            "epsilon": epsilon,
            "band_met": calibration["band_met"],
            "calibration": calibration["table"],
        },
        behaviour_policy={
            **ccfg.policy.model_dump(mode="json"),
            "epsilon": epsilon,
            "name": core.policy_name(epsilon, ccfg),
        },
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
        f"{card.stats.win_rate:.3f}, mean return {card.stats.mean_return:.3f} (ε={epsilon:.2f}) -> {directory}"
    )
    return card

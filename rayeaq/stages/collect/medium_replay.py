"""Tier ``medium_replay`` (OG-MARL's): the replay of an online QMIX training run up to its medium checkpoint.

The run is content-addressed (:mod:`rayeaq.stages.online_run`): ``collect.medium_replay.online_config`` with this
collection's ``seed`` and ``env`` gives a config key and a directory under ``collect.medium_replay.online_root``;
a finished run there is reused, never trained again — the same run ``python -m rayeaq.train_online CONFIG seed=S``
trains or finds, whose checkpoints ``collect.policy.kind=qmix_ladder`` plays. Its replay holds every ε-greedy
training episode in the order played; the episodes played before the first checkpoint whose greedy win rate lies in
``collect.tier_bands.medium_replay`` are the tier's pool (``RUN/medium_replay``,
:func:`rayeaq.stages.online_replay.ensure_medium_replay`). ``collect.episodes`` of them (all when fewer) are drawn
uniformly without replacement with a seed derived from the run seed and numbered in the order drawn, so that
consecutive id ranges (the sweep's per-seed splits) hold alike mixtures of early and late training episodes.

No collector actor plays these episodes: ``collect.workers`` and ``collect.envs_per_worker`` change nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, cast

import numpy as np

from rayeaq.core.config import load_config, validate
from rayeaq.core.errors import ConfigError
from rayeaq.core.runinfo import code_version, derive_seed
from rayeaq.data.card import DatasetCard, read_card
from rayeaq.data.reader import load_dataset
from rayeaq.data.writer import write_dataset
from rayeaq.envs.spec import EnvSpec
from rayeaq.stages.collect import core
from rayeaq.stages.online_run import OnlineRunConfig, config_key, ensure_online_run, run_dir

TIER = "medium_replay"


def online_config(cfg: Any) -> OnlineRunConfig:
    """The online run's config: ``collect.medium_replay.online_config`` + its overrides, with this run's seed/env."""
    mr = cfg.collect.medium_replay
    if cfg.env.backend != "smax":
        raise ConfigError(
            f"collect.tiers: {TIER} needs env.backend smax (online QMIX trains on vmapped SMAX), got {cfg.env.backend!r}"
        )
    if mr.online_config is None:
        raise ConfigError(f"collect.medium_replay.online_config: expected an online QMIX config for tier {TIER}")
    if not Path(mr.online_config).is_file():
        raise ConfigError(f"collect.medium_replay.online_config: {mr.online_config} is not a file")
    data = load_config(OnlineRunConfig, mr.online_config, mr.overrides).model_dump(mode="python")
    data.update(seed=cfg.seed, env=cfg.env.model_dump(mode="python"))
    return validate(OnlineRunConfig, data, f"{mr.online_config} (collect.medium_replay)")


def _env(cfg: Any) -> dict[str, Any]:
    return cast(dict[str, Any], cfg.env.model_dump(mode="json"))


def content_key(cfg: Any, tier: str) -> str:
    """Hash of everything that decides the tier's episodes: the online run's key, the band, the draw."""
    c = cfg.collect
    decisive = {
        "seed": cfg.seed,
        "tier": tier,
        "env": _env(cfg),
        "episodes": c.episodes,
        "shard_episodes": c.shard_episodes,
        "band": c.tier_bands[tier].model_dump(mode="json"),
        "online_config_key": config_key(online_config(cfg)),
    }
    return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:16]


def collect_tier(cfg: Any, spec: EnvSpec, directory: Path) -> DatasetCard:
    """Write ``directory`` (the tier's dataset) from the online run's replay, training the run only if missing.
    Needs Ray up or startable (the training joins the caller's session)."""
    key = content_key(cfg, TIER)
    record = core.load_calibration(directory)
    if record is not None and record.get("content_key") == key and (directory / "card.json").is_file():
        card = read_card(directory)
        print(f"[{TIER}] complete already ({card.stats.episodes} episodes, fingerprint {card.fingerprint}); kept")
        return card
    online = online_config(cfg)
    run = run_dir(online, cfg.collect.medium_replay.online_root)
    summary, reused = ensure_online_run(online, run)
    print(f"[{TIER}] online QMIX run {'reused' if reused else 'trained'}: {run} ({summary['env_steps']} env steps)")
    from rayeaq.stages.online_replay import MEDIUM_REPLAY_DIR, ensure_medium_replay

    band = cfg.collect.tier_bands[TIER].win_rate
    replay = ensure_medium_replay(run, spec, band, code_version(), f"collect.tier_bands.{TIER}.win_rate")
    pool = load_dataset(run / MEDIUM_REPLAY_DIR).episodes.sorted_by_id()
    n = min(cfg.collect.episodes, len(pool))
    if n < cfg.collect.episodes:
        print(f"[{TIER}] warning: the replay holds {len(pool)} episodes < collect.episodes={cfg.collect.episodes}")
    draw = np.random.default_rng(derive_seed(cfg.seed, "collect", TIER)).permutation(len(pool))[:n]
    episodes = dataclasses.replace(pool.select(draw), episode_id=np.arange(n, dtype=np.int64))
    q, b = replay.quality, replay.behaviour_policy
    run_record = {"dir": str(run.resolve()), "config_key": config_key(online), "env_steps": summary["env_steps"]}
    shutil.rmtree(directory, ignore_errors=True)  # a half-written attempt: the draw is written again whole
    core.save_calibration(directory, {"tier": TIER, "content_key": key, "online_run": run_record})
    card = write_dataset(
        directory,
        episodes,
        spec,
        shard_episodes=cfg.collect.shard_episodes,
        source="real",
        tier=TIER,
        quality={
            **q,
            "policy": b["name"],
            "band_met": True,
            "replay_episodes": replay.stats.episodes,
            "replay_win_rate": replay.stats.win_rate,
            "replay_fingerprint": replay.fingerprint,
            "online_run": run_record,
        },
        behaviour_policy={**b, "provenance": {**b["provenance"], "online_config_key": run_record["config_key"]}},
        generation={
            "seed": cfg.seed,
            "episodes": n,
            "shard_episodes": cfg.collect.shard_episodes,
            "env": _env(cfg),
            "drawn_from": replay.fingerprint,
            "draw_seed": derive_seed(cfg.seed, "collect", TIER),
        },
        code_version=code_version(),
    )
    print(
        f"[{TIER}] {card.stats.episodes} of {replay.stats.episodes} replay episodes (up to {q['upto_checkpoint']}, "
        f"{q['upto_env_steps']} env steps, greedy win rate {q['own_win_rate']:.3f}), data win rate "
        f"{card.stats.win_rate:.3f} -> {directory}"
    )
    return card

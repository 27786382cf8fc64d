"""Collection without Ray: plan shards, choose a tier's behaviour policy, collect and write shards.

A tier is collected with one :class:`~rayeaq.policies.Candidate` (a scripted policy or a checkpoint, with its
noise): the configured kind (:data:`rayeaq.policies.POLICIES`) lists the candidates, :func:`measure_candidates`
measures each one's own win rate and :func:`choose_candidate` takes the one in the tier's band. The Ray adapter
(:mod:`rayeaq.stages.collect.ray_collect`) runs :func:`collect_shards` and :func:`measure_candidates` inside
actors; both are plain functions usable in one process.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rayeaq.core.runinfo import derive_seed
from rayeaq.data.card import SHARD_DIR
from rayeaq.data.shards import shard_name, write_shard
from rayeaq.envs.spec import EnvSpec
from rayeaq.policies import POLICIES, Candidate
from rayeaq.stages.collect.config import CollectConfig, Tier, TierSpec

WRITES_IN_FLIGHT = 2
"""Finished shards that may wait for the background writer before the collector waits for it."""


@dataclass(frozen=True)
class ShardPlan:
    """Episodes ``[first, stop)`` of one tier, written as one shard."""

    first: int
    stop: int

    @property
    def name(self) -> str:
        return shard_name(self.first)

    @property
    def ids(self) -> np.ndarray:
        return np.arange(self.first, self.stop, dtype=np.int64)


def plan_shards(n_episodes: int, shard_episodes: int) -> list[ShardPlan]:
    return [ShardPlan(a, min(a + shard_episodes, n_episodes)) for a in range(0, n_episodes, shard_episodes)]


def episode_seeds(root_seed: int, tier: str, ids: np.ndarray) -> np.ndarray:
    """One seed per episode id, derived from the run seed and the tier only (not the worker)."""
    return np.array([derive_seed(root_seed, "collect", tier, int(i)) for i in ids], dtype=np.int64)


def tier_candidates(cfg: CollectConfig, tier: Tier) -> list[Candidate]:
    """The behaviour policies a tier may be collected with (``collect.policy.kind``'s member, narrowed by the
    tier's fixed ``epsilon``/``script``)."""
    band = cfg.tier_bands[tier]
    return POLICIES.get(cfg.policy.kind).candidates(cfg.policy, band.epsilon, band.script)


def _jax_stream(
    spec: EnvSpec,
    seeds: np.ndarray,
    candidate: Candidate,
    cfg: CollectConfig,
    stats_only: bool,
    shard_sizes: list[int] | None,
):
    from rayeaq.stages.collect.rollout import run_episodes

    return run_episodes(
        spec,
        seeds,
        candidate.epsilon,
        script=str(candidate.script),
        n_slots=cfg.envs_per_worker,
        chunk_steps=cfg.chunk_steps,
        stats_only=stats_only,
        shard_sizes=shard_sizes,
    )


def _host_stream(
    spec: EnvSpec,
    seeds: np.ndarray,
    candidate: Candidate,
    cfg: CollectConfig,
    stats_only: bool,
    shard_sizes: list[int] | None,
):
    from rayeaq.stages.collect.host_rollout import run_episodes_host

    policy = _checkpoint_policy(str(candidate.checkpoint))
    return run_episodes_host(
        spec,
        seeds,
        candidate.epsilon,
        policy,
        n_slots=cfg.envs_per_worker,
        stats_only=stats_only,
        shard_sizes=shard_sizes,
    )


# How each kind of candidate is played: scripted policies in the fused JAX collector, checkpoints on the host.
RUNNERS = {"jax": _jax_stream, "host": _host_stream}


def episode_stream(
    spec: EnvSpec,
    seeds: np.ndarray,
    candidate: Candidate,
    cfg: CollectConfig,
    stats_only: bool = False,
    shard_sizes: list[int] | None = None,
):
    """The candidate policy's episodes, one per seed (see :func:`rayeaq.stages.collect.rollout.run_episodes`)."""
    return RUNNERS[candidate.runner](spec, seeds, candidate, cfg, stats_only, shard_sizes)


_POLICIES: dict[str, object] = {}


def _checkpoint_policy(path: str):
    """Greedy QMIX/BC policy of a checkpoint, loaded once per process."""
    if path not in _POLICIES:
        import torch

        from rayeaq.learners.qmix.policy import load_greedy_policy

        torch.set_num_threads(1)
        _POLICIES[path] = load_greedy_policy(path)
    return _POLICIES[path]


def measure_candidates(
    spec: EnvSpec, candidates: list[Candidate], n_episodes: int, root_seed: int, cfg: CollectConfig
) -> list[dict]:
    """Own win rate, mean return and length of each candidate over ``n_episodes`` calibration episodes.

    The seeds depend on the run seed only (not on the tier or the candidate), so every candidate meets the
    same starts and a measurement is valid for every tier that offers the same candidate.
    """
    seeds = np.array([derive_seed(root_seed, "calibrate", int(i)) for i in range(n_episodes)], dtype=np.int64)
    rows = []
    for candidate in candidates:
        for _, last_stats in episode_stream(spec, seeds, candidate, cfg, stats_only=True):
            stats = last_stats
        rows.append(
            {
                "policy": candidate.label,
                "candidate": candidate.to_dict(),
                "epsilon": float(candidate.epsilon),
                "win_rate": float(stats["won"].mean()),
                "mean_return": float(stats["return"].mean()),
                "mean_length": float(stats["length"].mean()),
                "episodes": int(n_episodes),
            }
        )
    return rows


def warm_up(spec: EnvSpec, candidate: Candidate, cfg: CollectConfig) -> float:
    """Trace and compile (or load from JAX's persistent cache) the candidate's collector by playing one throw-away
    episode; returns the seconds it took. Later calls in this process reuse the compiled functions, so the
    collection that follows is timed without its start-up (which is reported apart)."""
    start = time.perf_counter()
    for _ in episode_stream(spec, np.zeros(1, np.int64), candidate, cfg, stats_only=True):
        pass
    return time.perf_counter() - start


def choose_candidate(band: TierSpec, table: list[dict]) -> tuple[dict, bool]:
    """The row whose win rate lies in the band, closest to its centre (ties: first listed); with none inside,
    the row closest to the band. Returns ``(row, band_met)``."""
    low, high = band.win_rate
    centre = (low + high) / 2

    def outside(row: dict) -> float:
        return max(low - row["win_rate"], row["win_rate"] - high, 0.0)

    inside = [r for r in table if outside(r) == 0.0]
    best = min(inside or table, key=lambda r: (outside(r), abs(r["win_rate"] - centre)))
    return best, bool(inside)


def collect_shards(
    spec: EnvSpec,
    tier: str,
    shards: list[ShardPlan],
    candidate: Candidate,
    root_seed: int,
    cfg: CollectConfig,
    dataset_dir: str | Path,
) -> list[dict]:
    """Collect every episode of ``shards`` not already on disk and write each shard when complete.

    Returns one summary per shard written (or found). Shards already present are skipped, so a
    retried or resumed call never duplicates or loses episodes.
    """
    shard_dir = Path(dataset_dir) / SHARD_DIR
    todo = [s for s in shards if not (shard_dir / s.name).is_file()]
    summaries = [
        {"shard": s.name, "episodes": s.stop - s.first, "steps": 0, "skipped": True} for s in shards if s not in todo
    ]
    if not todo:
        return summaries
    ids = np.concatenate([s.ids for s in todo])
    seeds = episode_seeds(root_seed, tier, ids)
    sizes = [s.stop - s.first for s in todo]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    behaviour = candidate.label
    # Shards are written by a background thread (Parquet encoding releases the GIL) while the simulator
    # keeps stepping; a shard's buffer is complete and no longer touched when it is handed over. At most
    # WRITES_IN_FLIGHT shards wait for the writer: when the disk is slower than the simulator, the collector
    # waits instead of holding every finished shard (memory stays bounded whatever the number of episodes).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-writer") as writer:
        pending: deque = deque()
        for _, assembler in episode_stream(spec, seeds, candidate, cfg, shard_sizes=sizes):
            for k in assembler.complete_shards():
                sel = slice(int(starts[k]), int(starts[k + 1]))
                batch = assembler.pop(k).to_batch(ids[sel], seeds[sel], behaviour)
                while len(pending) >= WRITES_IN_FLIGHT:
                    pending.popleft().result()  # re-raises a failed write
                pending.append(writer.submit(write_shard, shard_dir, batch, todo[k].name))
                summaries.append(
                    {"shard": todo[k].name, "episodes": len(batch), "steps": batch.transitions, "skipped": False}
                )
        for future in pending:
            future.result()  # re-raises a failed write
    return summaries


def content_key(cfg, tier: str) -> str:
    """Hash of everything that decides a tier's episodes (not how many workers collect them)."""
    import hashlib

    c = cfg.collect
    decisive = {
        "seed": cfg.seed,
        "tier": tier,
        "env": cfg.env.model_dump(mode="json"),
        "episodes": c.episodes,
        "shard_episodes": c.shard_episodes,
        "band": c.tier_bands[tier].model_dump(mode="json"),
        "policy": c.policy.model_dump(mode="json"),
        "calibration_episodes": c.calibration_episodes,
    }
    return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:16]


def save_calibration(dataset_dir: Path, record: dict) -> None:
    dataset_dir.mkdir(parents=True, exist_ok=True)
    tmp = dataset_dir / ".calibration.json.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, dataset_dir / "calibration.json")


def load_calibration(dataset_dir: Path) -> dict | None:
    path = dataset_dir / "calibration.json"
    return json.loads(path.read_text()) if path.is_file() else None


def tier_band_record(tier: str, band: TierSpec) -> dict:
    return {"tier": tier, **band.model_dump(mode="json")}


def collect_local(
    spec: EnvSpec,
    dataset_dir: str | Path,
    n_episodes: int,
    epsilon: float | None = None,
    *,
    root_seed: int = 0,
    tier: str = "custom",
    cfg: CollectConfig | None = None,
    candidate: Candidate | None = None,
):
    """Collect one dataset in this process, without Ray (tests, notebooks); returns its card.

    Plays ``candidate``, or the focus-fire heuristic ε-mixture with ``epsilon`` (``heuristic_mix``). Gives exactly
    the episodes ``python -m rayeaq.collect`` gives for the same seed, tier and behaviour policy.
    """
    from rayeaq.core.runinfo import code_version
    from rayeaq.data.writer import finalize_dataset
    from rayeaq.policies.config import PolicyConfig

    cfg = cfg or CollectConfig(episodes=n_episodes, tiers=[], policy=PolicyConfig(kind="heuristic_mix"))
    if candidate is None:
        candidate = POLICIES.get("heuristic_mix").candidates(cfg.policy, float(epsilon or 0.0), None)[0]
    shards = plan_shards(n_episodes, cfg.shard_episodes)
    collect_shards(spec, tier, shards, candidate, root_seed, cfg, dataset_dir)
    return finalize_dataset(
        dataset_dir,
        spec,
        source="real",
        tier=tier,
        quality={"tier": tier, "epsilon": candidate.epsilon, "policy": candidate.label},
        behaviour_policy=behaviour_record(cfg, candidate, None),
        generation={"seed": root_seed, "episodes": n_episodes, "shard_episodes": cfg.shard_episodes},
        code_version=code_version(),
    )


def behaviour_record(cfg: CollectConfig, candidate: Candidate, own_win_rate: float | None) -> dict:
    """The card's ``behaviour_policy``: the configured kind, the tier's policy, its provenance and own win rate."""
    return {
        **cfg.policy.model_dump(mode="json"),
        "name": candidate.label,
        "epsilon": candidate.epsilon,
        "script": candidate.script,
        "checkpoint": candidate.checkpoint,
        "provenance": candidate.provenance(),
        "own_win_rate": own_win_rate,
    }

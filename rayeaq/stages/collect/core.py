"""Collection without Ray: plan shards, calibrate a tier's ε, collect and write shards.

The Ray adapter (:mod:`rayeaq.stages.collect.ray_collect`) runs :func:`collect_shards` and
:func:`measure_epsilons` inside actors; both are plain functions usable in one process.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rayeaq.core.runinfo import derive_seed
from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.card import SHARD_DIR
from rayeaq.data.shards import shard_name, write_shard
from rayeaq.envs.spec import EnvSpec
from rayeaq.stages.collect.config import CollectConfig, TierSpec

# ε candidates tried when calibrating a tier to its win-rate band.
EPSILON_GRID: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)
FAULT_ENV = "RAYEAQ_FAULT_CRASH_SHARD"  # test hook: crash once before writing this shard


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


def policy_name(epsilon: float, cfg: CollectConfig) -> str:
    """Name of the behaviour policy recorded with every episode."""
    if epsilon >= 1.0:
        return "random"
    if cfg.policy.kind == "qmix_checkpoint":
        return f"qmix_mix(epsilon={epsilon:.3f},checkpoint={cfg.policy.checkpoint})"
    return f"heuristic_mix(epsilon={epsilon:.3f},target={cfg.policy.target})"


def episode_stream(
    spec: EnvSpec,
    seeds: np.ndarray,
    epsilon: float,
    cfg: CollectConfig,
    stats_only: bool = False,
    shard_sizes: list[int] | None = None,
):
    """The configured behaviour policy's episodes: fused JAX collector, or the host loop for a checkpoint."""
    if cfg.policy.kind == "qmix_checkpoint":
        from rayeaq.stages.collect.host_rollout import run_episodes_host

        policy = _checkpoint_policy(str(cfg.policy.checkpoint))
        return run_episodes_host(
            spec, seeds, epsilon, policy, n_slots=cfg.envs_per_worker, stats_only=stats_only, shard_sizes=shard_sizes
        )
    from rayeaq.stages.collect.rollout import run_episodes

    return run_episodes(
        spec,
        seeds,
        epsilon,
        target_mode=cfg.policy.target,
        n_slots=cfg.envs_per_worker,
        chunk_steps=cfg.chunk_steps,
        stats_only=stats_only,
        shard_sizes=shard_sizes,
    )


_POLICIES: dict[str, object] = {}


def _checkpoint_policy(path: str):
    """Greedy QMIX/BC policy of a checkpoint, loaded once per process."""
    if path not in _POLICIES:
        import torch

        from rayeaq.learners.qmix.policy import load_greedy_policy

        torch.set_num_threads(1)
        _POLICIES[path] = load_greedy_policy(path)
    return _POLICIES[path]


def measure_epsilons(
    spec: EnvSpec, epsilons: list[float], n_episodes: int, root_seed: int, tier: str, cfg: CollectConfig
) -> list[dict]:
    """Win rate and mean return of the ε-mixture for each ε (``n_episodes`` each, fixed seeds)."""
    rows = []
    for eps in epsilons:
        ids = np.arange(n_episodes)
        seeds = np.array([derive_seed(root_seed, "calibrate", tier, f"{eps:.4f}", int(i)) for i in ids])
        for _, stats in episode_stream(spec, seeds, eps, cfg, stats_only=True):
            pass
        rows.append(
            {
                "epsilon": float(eps),
                "win_rate": float(stats["won"].mean()),
                "mean_return": float(stats["return"].mean()),
                "mean_length": float(stats["length"].mean()),
                "episodes": int(n_episodes),
            }
        )
    return rows


def choose_epsilon(spec_band: TierSpec, table: list[dict]) -> tuple[float, bool]:
    """The ε whose measured win rate lies in the band (closest to its centre); else the nearest one."""
    low, high = spec_band.win_rate
    centre = (low + high) / 2
    inside = [r for r in table if low <= r["win_rate"] <= high]
    pool = inside or table
    best = min(pool, key=lambda r: (abs(r["win_rate"] - centre), r["epsilon"]))
    return best["epsilon"], bool(inside)


def collect_shards(
    spec: EnvSpec,
    tier: str,
    shards: list[ShardPlan],
    epsilon: float,
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
    behaviour = policy_name(epsilon, cfg)
    # Shards are written by a background thread (Parquet encoding releases the GIL) while the simulator
    # keeps stepping; a shard's buffer is complete and no longer touched when it is handed over.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-writer") as writer:
        pending = []
        for _, assembler in episode_stream(spec, seeds, epsilon, cfg, shard_sizes=sizes):
            for k in assembler.complete_shards():
                sel = slice(int(starts[k]), int(starts[k + 1]))
                batch = _batch_from_buffer(assembler.pop(k), ids[sel], seeds[sel], behaviour)
                _maybe_inject_fault(todo[k], Path(dataset_dir))
                pending.append(writer.submit(write_shard, shard_dir, batch, todo[k].name))
                summaries.append(
                    {"shard": todo[k].name, "episodes": len(batch), "steps": batch.transitions, "skipped": False}
                )
        for future in pending:
            future.result()  # re-raises a failed write
    return summaries


def _batch_from_buffer(buffer, ids: np.ndarray, seeds: np.ndarray, behaviour: str) -> EpisodeBatch:
    n = len(ids)
    return EpisodeBatch(
        obs=buffer.obs,
        state=buffer.state,
        avail_actions=buffer.avail_actions,
        actions=buffer.actions,
        reward=buffer.reward,
        terminated=buffer.terminated,
        filled=buffer.filled,
        episode_id=ids.astype(np.int64),
        length=buffer.length,
        episode_return=buffer.returns().astype(np.float32),
        battle_won=buffer.won,
        seed=seeds.astype(np.int64),
        source=np.array(["real"] * n, dtype=object),
        behaviour_policy=np.array([behaviour] * n, dtype=object),
    )


def _maybe_inject_fault(shard: ShardPlan, dataset_dir: Path) -> None:
    """Test hook: with RAYEAQ_FAULT_CRASH_SHARD=<first id>, kill this process once before that shard."""
    target = os.environ.get(FAULT_ENV)
    if target is None or int(target) != shard.first:
        return
    marker = dataset_dir / f".fault-injected-{shard.first}"
    if marker.exists():
        return
    marker.write_text("crashed once here on purpose\n")
    os._exit(17)


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
    epsilon: float,
    *,
    root_seed: int = 0,
    tier: str = "custom",
    cfg: CollectConfig | None = None,
):
    """Collect one dataset in this process, without Ray (tests, notebooks); returns its card.

    Gives exactly the episodes ``python -m rayeaq.collect`` gives for the same seed, tier and ε.
    """
    from rayeaq.core.runinfo import code_version
    from rayeaq.data.writer import finalize_dataset

    cfg = cfg or CollectConfig(episodes=n_episodes, tiers=[])
    shards = plan_shards(n_episodes, cfg.shard_episodes)
    collect_shards(spec, tier, shards, epsilon, root_seed, cfg, dataset_dir)
    return finalize_dataset(
        dataset_dir,
        spec,
        source="real",
        tier=tier,
        quality={"tier": tier, "epsilon": epsilon},
        behaviour_policy={**cfg.policy.model_dump(mode="json"), "epsilon": epsilon, "name": policy_name(epsilon, cfg)},
        generation={"seed": root_seed, "episodes": n_episodes, "shard_episodes": cfg.shard_episodes},
        code_version=code_version(),
    )

"""Ray adapter of collection: one actor per worker, each stepping a batch of SMAX environments.

Work is split into shards (episode-id ranges). The driver hands groups of shards to idle actors and
waits with ``ray.wait``; actors restart after a crash (``max_restarts``) and the failed call is
retried (``max_task_retries``). A retried call skips shards already on disk, and shards are
published atomically, so a crash never loses or duplicates an episode.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import ray

from rayeaq.data.card import SHARD_DIR
from rayeaq.envs.spec import EnvSpec
from rayeaq.stages.collect import core
from rayeaq.stages.collect.config import CollectConfig


@ray.remote(max_restarts=-1, max_task_retries=-1)
class CollectorActor:
    """Holds one compiled collector (JAX) and runs calibration and shard collection."""

    def __init__(self, spec: EnvSpec, cfg: CollectConfig, root_seed: int):
        # torch is imported (with bounded threads) only for a checkpoint policy: see core._checkpoint_policy
        self.spec, self.cfg, self.root_seed = spec, cfg, root_seed

    def measure(self, tier: str, epsilons: list[float], n_episodes: int) -> list[dict]:
        return core.measure_epsilons(self.spec, epsilons, n_episodes, self.root_seed, tier, self.cfg)

    def collect(self, tier: str, shards: list[core.ShardPlan], epsilon: float, dataset_dir: str) -> list[dict]:
        return core.collect_shards(self.spec, tier, shards, epsilon, self.root_seed, self.cfg, dataset_dir)


class CollectorPool:
    """``workers`` actors with fractional CPUs and a simple dynamic work queue."""

    def __init__(self, spec: EnvSpec, cfg: CollectConfig, root_seed: int):
        options: dict = {"num_cpus": cfg.cpus_per_worker}
        if os.environ.get(core.FAULT_ENV):  # forward the fault-injection test hook to the actors
            options["runtime_env"] = {"env_vars": {core.FAULT_ENV: os.environ[core.FAULT_ENV]}}
        self.actors = [CollectorActor.options(**options).remote(spec, cfg, root_seed) for _ in range(cfg.workers)]

    def map(
        self, calls: list[Callable], on_result: Callable[[object], None], on_tick: Callable[[], None] | None = None
    ) -> list:
        """Run ``call(actor) -> ObjectRef`` for each item on the next idle actor; results in order.
        ``on_tick`` is called about once a second while calls run (progress polling)."""
        results: list = [None] * len(calls)
        queue = list(enumerate(calls))
        running: dict = {}
        idle = list(self.actors)
        while queue or running:
            while queue and idle:
                index, call = queue.pop(0)
                actor = idle.pop(0)
                running[call(actor)] = (index, actor)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            if on_tick is not None:
                on_tick()
            if not ready:
                continue
            index, actor = running.pop(ready[0])
            results[index] = ray.get(ready[0])
            on_result(results[index])
            idle.append(actor)
        return results

    def calibrate(self, tier: str, epsilons: list[float], n_episodes: int) -> list[dict]:
        calls = [lambda a, e=e: a.measure.remote(tier, [e], n_episodes) for e in epsilons]
        return [row for rows in self.map(calls, lambda _: None) for row in rows]

    def collect(
        self,
        tier: str,
        shards: list[core.ShardPlan],
        epsilon: float,
        dataset_dir: Path,
        on_progress: Callable[[int], None],
    ) -> list[dict]:
        """Collect ``shards``; ``on_progress(episodes on disk)`` is called as shards appear."""
        groups = _group(shards, len(self.actors))
        calls = [lambda a, g=g: a.collect.remote(tier, g, epsilon, str(dataset_dir)) for g in groups]
        shard_dir = Path(dataset_dir) / SHARD_DIR
        sizes = {s.name: s.stop - s.first for s in shards}

        def poll() -> None:  # shards are published atomically: what is on disk is done
            on_progress(sum(sizes.get(p.name, 0) for p in shard_dir.glob("shard-*.parquet")))

        nested = self.map(calls, lambda _: poll(), on_tick=poll)
        return [s for group in nested for s in group]

    def shutdown(self) -> None:
        for actor in self.actors:
            ray.kill(actor, no_restart=True)


def _group(shards: list[core.ShardPlan], workers: int) -> list[list[core.ShardPlan]]:
    """Contiguous groups, one per worker alone, else about two per worker so the queue balances; each
    call stays long (memory does not grow with a group: an actor buffers only shards in flight)."""
    n_groups = max(1, min(len(shards), 1 if workers == 1 else 2 * workers))
    size = -(-len(shards) // n_groups)
    return [shards[i : i + size] for i in range(0, len(shards), size)]

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
from typing import Any

import ray

from rayeaq.data.card import SHARD_DIR
from rayeaq.envs.spec import EnvSpec
from rayeaq.policies import Candidate
from rayeaq.stages.collect import core
from rayeaq.stages.collect.config import CollectConfig


@ray.remote(max_restarts=-1, max_task_retries=-1)
class CollectorActor:
    """Holds one compiled collector (JAX) and runs calibration and shard collection."""

    def __init__(self, spec: EnvSpec, cfg: CollectConfig, root_seed: int, index: int = 0):
        # torch is imported (with bounded threads) only for a checkpoint policy: see core._checkpoint_policy
        self.spec, self.cfg, self.root_seed, self.index = spec, cfg, root_seed, index

    def __repr__(self) -> str:  # the name the dashboard and the log prefix show for this actor
        return f"collect:worker:{self.index}"

    def pid(self) -> int:
        """The actor's process id (for monitoring, and for the crash-recovery test)."""
        return os.getpid()

    def warm(self, candidate: Candidate) -> float:
        return core.warm_up(self.spec, candidate, self.cfg)

    def measure(self, candidates: list[Candidate], n_episodes: int) -> list[dict]:
        return core.measure_candidates(self.spec, candidates, n_episodes, self.root_seed, self.cfg)

    def collect(self, tier: str, shards: list[core.ShardPlan], candidate: Candidate, dataset_dir: str) -> list[dict]:
        return core.collect_shards(self.spec, tier, shards, candidate, self.root_seed, self.cfg, dataset_dir)


class CollectorPool:
    """``workers`` actors with fractional CPUs and a simple dynamic work queue."""

    def __init__(self, spec: EnvSpec, cfg: CollectConfig, root_seed: int):
        options: dict = {"num_cpus": cfg.cpus_per_worker}
        actor_cls: Any = CollectorActor  # ray.remote gives the class .options/.remote (untyped)
        self.actors = [actor_cls.options(**options).remote(spec, cfg, root_seed, i) for i in range(cfg.workers)]

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

    def warm(self, candidate: Candidate) -> float:
        """Every actor compiles ``candidate``'s collector (in parallel); returns the slowest actor's seconds."""
        return max(ray.get([a.warm.options(name="collect:warm").remote(candidate) for a in self.actors]))

    def calibrate(self, candidates: list[Candidate], n_episodes: int) -> list[dict]:
        """Each candidate's own win rate (one call per candidate, spread over the actors)."""
        calls = [
            lambda a, c=c: a.measure.options(name=f"collect:calibrate:{c.label}").remote([c], n_episodes)
            for c in candidates
        ]
        return [row for rows in self.map(calls, lambda _: None) for row in rows]

    def collect(
        self,
        tier: str,
        shards: list[core.ShardPlan],
        candidate: Candidate,
        dataset_dir: Path,
        on_progress: Callable[[int], None],
    ) -> list[dict]:
        """Collect ``shards``; ``on_progress(episodes on disk)`` is called as shards appear."""
        groups = _group(shards, len(self.actors))
        calls = [
            lambda a, g=g, i=i: a.collect.options(name=f"collect:{tier}:{i}").remote(
                tier, g, candidate, str(dataset_dir)
            )
            for i, g in enumerate(groups)
        ]
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

"""Fault injection done from the test side: production modules read no test-only switch.

- :class:`CollectorKiller` SIGKILLs the collector actors (found by their ``pid()``) once the first shard
  of a dataset is on disk, so the run must recover through Ray's actor restarts and task retries.
- :func:`make_loss_nan_at` patches ``Trainer.train_step`` so that one optimiser step sees a NaN loss;
  :func:`train_loop_with_nan_at` does the same inside Ray Train workers (separate processes).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rayeaq.data.card import SHARD_DIR


class CollectorKiller:
    """While installed (``monkeypatch``), every ``CollectorPool`` built records its actors' pids and a watcher
    thread SIGKILLs all of them, once, as soon as a shard file appears under ``dataset_dir``."""

    def __init__(self, monkeypatch: Any, dataset_dir: Path, timeout_s: float = 600.0):
        import ray

        from rayeaq.stages.collect import ray_collect

        self.dataset_dir, self.timeout_s = Path(dataset_dir), timeout_s
        self.pids: list[int] = []
        self.killed: list[int] = []
        self.shards_at_kill: int | None = None
        original = ray_collect.CollectorPool.__init__
        killer = self

        def init(pool: Any, *args: Any, **kwargs: Any) -> None:
            original(pool, *args, **kwargs)
            killer.pids = ray.get([actor.pid.remote() for actor in pool.actors])  # idle actors answer at once
            threading.Thread(target=killer._watch, name="collector-killer", daemon=True).start()

        monkeypatch.setattr(ray_collect.CollectorPool, "__init__", init)

    def _watch(self) -> None:
        shard_dir = self.dataset_dir / SHARD_DIR
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            shards = list(shard_dir.glob("shard-*.parquet")) if shard_dir.is_dir() else []
            if shards:
                self.shards_at_kill = len(shards)
                for pid in self.pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        self.killed.append(pid)
                    except ProcessLookupError:
                        pass
                return
            time.sleep(0.01)


def make_loss_nan_at(trainer_cls: Any, step: int) -> None:
    """Patch ``trainer_cls.train_step`` (in this process) so that optimiser step ``step`` (1-based) computes
    its loss through a forward whose ``loss`` is NaN; the real non-finite check then has to stop it."""
    original = trainer_cls.train_step

    def train_step(self: Any, data: Any, generator: Any) -> dict[str, float]:
        if self.step + 1 != step:
            return original(self, data, generator)
        forward = self.forward

        def nan_forward(*args: Any) -> dict[str, Any]:
            losses = dict(forward(*args))
            losses["loss"] = losses["loss"] * float("nan")
            return losses

        self.forward = nan_forward
        try:
            return original(self, data, generator)
        finally:
            self.forward = forward

    trainer_cls.train_step = train_step


def train_loop_with_nan_at(step: int) -> Callable[[dict[str, Any]], None]:
    """``ray_fit.train_loop_per_worker`` with :func:`make_loss_nan_at` applied first, in the worker. Monkeypatch
    ``rayeaq.generators.eaq.ray_fit.train_loop_per_worker`` with it; it travels to the workers by value."""
    import ray.cloudpickle

    from rayeaq.generators.eaq import ray_fit

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # `support` is not importable on workers
    loop = ray_fit.train_loop_per_worker

    def train_loop(config: dict[str, Any]) -> None:
        from rayeaq.generators.eaq.train import Trainer

        make_loss_nan_at(Trainer, step)
        loop(config)

    return train_loop

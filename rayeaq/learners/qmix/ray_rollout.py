"""Ray adapter for evaluation rollouts: in the driver, or spread over rollout actors (one batched env each:
SMAX vmapped, StarCraft II one game per actor)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rayeaq.learners.qmix.networks import NetSpec
from rayeaq.learners.qmix.rollout import RolloutResult, run_episodes

RESTARTS = 2
"""Restarts of a dead rollout actor (and retries of the rollout it was playing) before the run fails."""


def make_env(env_config: Any, n_envs: int):
    """The dataset backend's batched env (``Backend.batch_env``): SMAX vmapped, sc2 one game per process."""
    from rayeaq.core.errors import ConfigError
    from rayeaq.envs import BACKENDS

    backend = BACKENDS.get(env_config.backend)
    if backend.batch_env is None:
        raise ConfigError(f"env.backend {env_config.backend}: no batched environment for greedy QMIX/BC rollouts")
    return backend.batch_env(env_config, n_envs)


class LocalRollout:
    """Holds one batched env; plays greedy episodes with given network weights."""

    def __init__(self, env_config: Any, net: NetSpec, n_envs: int, torch_threads: int = 1) -> None:
        import torch

        torch.set_num_threads(torch_threads)
        self.env = make_env(env_config, n_envs)
        self.n_envs = int(self.env.n_envs)  # a backend may run fewer at once (sc2: one game per process)
        self.net = net

    def __repr__(self) -> str:  # the name the dashboard and the log prefix show for a rollout actor
        return "evaluate:rollout"

    def max_return(self) -> float:
        return float(self.env.spec.max_return)

    def run(self, state: dict[str, np.ndarray], seeds: np.ndarray) -> RolloutResult:
        from rayeaq.learners.qmix.policy import GreedyPolicy

        return run_episodes(GreedyPolicy.from_state(self.net, state), self.env, self.n_envs, seeds)


class RolloutRunner:
    """``workers = 0``: a :class:`LocalRollout` in this process; ``workers > 0``: that many Ray actors."""

    def __init__(
        self, env_config: Any, net: NetSpec, n_envs: int, workers: int, cpus_per_worker: float, torch_threads: int = 1
    ) -> None:
        self.workers: list[Any] = []
        self.local: LocalRollout | None = None
        if workers == 0:  # in this process: keep its torch thread count (the learner's ``torch_threads``)
            self.local = LocalRollout(env_config, net, n_envs, torch_threads)
            self.max_return = self.local.max_return()
            return
        import ray

        # a rollout is a pure function of (weights, seeds): a rollout actor that dies (killed, OOM) is restarted
        # and its episodes replayed, with the same result; one that keeps dying fails the run in one line
        actor_cls = ray.remote(num_cpus=cpus_per_worker, max_restarts=RESTARTS, max_task_retries=RESTARTS)(LocalRollout)
        self.workers = [actor_cls.remote(env_config, net, n_envs) for _ in range(workers)]
        self.max_return = ray.get(self.workers[0].max_return.remote())

    def run(self, state: dict[str, np.ndarray], seeds: np.ndarray) -> RolloutResult:
        if self.local is not None:
            return self.local.run(state, seeds)
        import ray

        ref = ray.put(state)
        chunks = [c for c in np.array_split(seeds, len(self.workers)) if len(c)]
        return RolloutResult.concatenate(
            ray.get(
                [
                    w.run.options(name=f"evaluate:rollout:{i}").remote(ref, c)
                    for i, (w, c) in enumerate(zip(self.workers, chunks, strict=False))
                ]
            )
        )

    def close(self) -> None:
        import ray

        for w in self.workers:
            ray.kill(w)
        self.workers = []

"""Ray adapter of the SMAC-API host loop: one environment (one SC2 process on sc2) per actor.

:class:`SMACCollectorPool` is a drop-in for :class:`~rayeaq.stages.collect.ray_collect.CollectorPool`
(same ``calibrate``, ``collect``, ``shutdown``; the same dynamic queue and shard groups), whose actors
run :mod:`rayeaq.stages.collect.smac_loop` on ``rayeaq.envs.make_env(env_cfg)``. Actors restart after a
crash and the interrupted call is retried; shards on disk are skipped, so nothing is lost or duplicated.
"""

from __future__ import annotations

import os
from typing import Any

import ray

from rayeaq.core.runinfo import derive_seed
from rayeaq.envs.config import EnvConfig
from rayeaq.envs.spec import EnvSpec
from rayeaq.stages.collect import core, smac_loop
from rayeaq.stages.collect.config import CollectConfig, PolicyConfig
from rayeaq.stages.collect.ray_collect import CollectorPool


@ray.remote(max_restarts=-1, max_task_retries=-1)
class SMACCollectorActor:
    """Holds one SMAC-API environment for its lifetime and collects shards or calibration rows with it."""

    def __init__(self, env_cfg: EnvConfig, root_seed: int, index: int, policy_cfg: PolicyConfig | None = None):
        from rayeaq.envs import make_env

        # the env's own seed (SC2 is seeded per process; SMAX is reseeded by every episode's reset)
        self.env = make_env(env_cfg, seed=derive_seed(root_seed, "smac-env", index))
        self.spec: EnvSpec = self.env.spec
        self.root_seed, self.policy_cfg, self.index = root_seed, policy_cfg, index
        self.behaviour = smac_loop.make_behaviour(self.env, self.spec, policy_cfg)

    def __repr__(self) -> str:  # the name the dashboard and the log prefix show for this actor
        return f"collect:smac:{self.index}"

    def env_spec(self) -> EnvSpec:
        return self.spec

    def pid(self) -> int:
        return os.getpid()

    def measure(self, tier: str, epsilons: list[float], n_episodes: int) -> list[dict]:
        return smac_loop.measure_smac_epsilons(
            self.env, self.spec, epsilons, n_episodes, self.root_seed, tier, self.policy_cfg, self.behaviour
        )

    def collect(self, tier: str, shards: list[core.ShardPlan], epsilon: float, dataset_dir: str) -> list[dict]:
        return smac_loop.collect_smac_shards(
            self.env, self.spec, tier, shards, epsilon, self.root_seed, dataset_dir, self.policy_cfg, self.behaviour
        )


class SMACCollectorPool(CollectorPool):
    """``collect.workers`` SMAC-API actors (``collect.cpus_per_worker`` CPUs each) behind CollectorPool's queue.

    On ``sc2`` the game's presence is checked here, on the driver, before any actor starts: without it
    the error is one line naming SC2PATH and the install command.
    """

    def __init__(self, env_cfg: EnvConfig, cfg: CollectConfig, root_seed: int):
        if env_cfg.backend == "sc2":
            from rayeaq.envs.sc2.env import check_sc2_available

            check_sc2_available()
        options = {"num_cpus": cfg.cpus_per_worker}
        actor_cls: Any = SMACCollectorActor  # ray.remote gives the class .options/.remote (untyped)
        self.actors = [
            actor_cls.options(**options).remote(env_cfg, root_seed, i, cfg.policy) for i in range(cfg.workers)
        ]

    def warm(self, candidate: object) -> float:
        """Nothing to compile ahead: a SMAC-API actor steps its env from Python (the game starts on reset)."""
        return 0.0

    def calibrate(self, tier: str, epsilons: list[float], n_episodes: int) -> list[dict]:  # type: ignore[override]
        """The ε-mixture's win rate per ε (the SMAC-API behaviours are ε-mixtures, not the graded ladder)."""
        calls = [
            lambda a, e=e: a.measure.options(name=f"collect:calibrate:{tier}:{e:.3f}").remote(tier, [e], n_episodes)
            for e in epsilons
        ]
        return [row for rows in self.map(calls, lambda _: None) for row in rows]

    def spec(self) -> EnvSpec:
        """The environment's spec as the first actor's env reports it (SC2's sizes come from the game)."""
        return ray.get(self.actors[0].env_spec.remote())

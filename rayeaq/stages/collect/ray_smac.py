"""Ray adapter of the SMAC-API host loop: one environment (one SC2 process on sc2) per actor.

:class:`SMACCollectorPool` is a :class:`~rayeaq.stages.collect.ray_collect.CollectorPool` (the same
``calibrate(candidates, n)``, ``collect(tier, shards, candidate, dir, on_progress)``, ``shutdown``, dynamic queue
and shard groups) whose actors run :mod:`rayeaq.stages.collect.smac_loop` on ``rayeaq.envs.make_env(env_cfg)``.
Actors restart after a crash and the interrupted call is retried; shards on disk are skipped, so nothing is
lost or duplicated.
"""

from __future__ import annotations

import os
from typing import Any

import ray

from rayeaq.core.runinfo import derive_seed
from rayeaq.envs.config import EnvConfig
from rayeaq.envs.spec import EnvSpec
from rayeaq.policies import Candidate
from rayeaq.stages.collect import core, smac_loop
from rayeaq.stages.collect.config import CollectConfig
from rayeaq.stages.collect.ray_collect import CollectorPool
from rayeaq.stages.collect.smac_policy import Behaviour


@ray.remote(max_restarts=-1, max_task_retries=-1)
class SMACCollectorActor:
    """Holds one SMAC-API environment for its lifetime and collects shards or calibration rows with it."""

    def __init__(self, env_cfg: EnvConfig, root_seed: int, index: int = 0):
        from rayeaq.envs import make_env

        # the env's own seed (SC2 is seeded per process; SMAX is reseeded by every episode's reset)
        self.env = make_env(env_cfg, seed=derive_seed(root_seed, "smac-env", index))
        self.spec: EnvSpec = self.env.spec
        self.root_seed, self.index = root_seed, index
        self.behaviours: dict[str, Behaviour] = {}  # built once per candidate kind (a checkpoint loads once)

    def __repr__(self) -> str:  # the name the dashboard and the log prefix show for this actor
        return f"collect:smac:{self.index}"

    def env_spec(self) -> EnvSpec:
        return self.spec

    def pid(self) -> int:
        return os.getpid()

    def measure(self, candidates: list[Candidate], n_episodes: int) -> list[dict]:
        return smac_loop.measure_smac_candidates(
            self.env, self.spec, candidates, n_episodes, self.root_seed, self.behaviours
        )

    def collect(self, tier: str, shards: list[core.ShardPlan], candidate: Candidate, dataset_dir: str) -> list[dict]:
        return smac_loop.collect_smac_shards(
            self.env, self.spec, tier, shards, candidate, self.root_seed, dataset_dir, self.behaviours
        )


class SMACCollectorPool(CollectorPool):
    """``collect.workers`` SMAC-API actors (``collect.cpus_per_worker`` CPUs each) behind CollectorPool's queue.

    On ``sc2`` the game's presence is checked here, on the driver, before any actor starts: without it
    the error is one line naming SC2PATH and the install command.
    """

    def __init__(self, env_cfg: EnvConfig, cfg: CollectConfig, root_seed: int):
        from rayeaq.envs import BACKENDS

        check = BACKENDS.get(env_cfg.backend).check_available
        if check is not None:
            check()
        options = {"num_cpus": cfg.cpus_per_worker}
        actor_cls: Any = SMACCollectorActor  # ray.remote gives the class .options/.remote (untyped)
        self.actors = [actor_cls.options(**options).remote(env_cfg, root_seed, i) for i in range(cfg.workers)]

    def warm(self, candidate: object) -> float:
        """Nothing to compile ahead: a SMAC-API actor steps its env from Python (the game starts on reset)."""
        return 0.0

    def spec(self) -> EnvSpec:
        """The environment's spec as the first actor's env reports it (SC2's sizes come from the game)."""
        return ray.get(self.actors[0].env_spec.remote())

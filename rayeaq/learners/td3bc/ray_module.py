"""RLlib adapter: the team :class:`TorchRLModule` holding the stacked per-agent actor-critic networks.

One module (id :data:`MODULE_ID`) for the team; the agents' networks are stacked inside it (one batched
matmul per layer). ``model_config`` = :class:`NetSpec` fields + the loss settings the training forward needs
(the module class's ``LOSS_KEYS``). :class:`TD3TeamModule` trains with MA-TD3+BC; MA-CQL
(:class:`rayeaq.learners.cql.ray_module.CQLTeamModule`) subclasses it and replaces :meth:`losses`.

- ``forward_train(batch)``: transitions ``obs/next_obs [B, N, Do]``, ``actions [B, N, Da]``, ``reward [B, N]``,
  ``done [B]`` -> ``critic_loss`` and, every ``policy_freq``-th update, ``actor_loss`` (computed inside the forward
  pass so DDP synchronises every gradient).
- ``forward_inference(batch)``: ``obs [B, N, Do]`` -> greedy ``actions [B, N, Da]`` in the box.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch import TorchRLModule

from rayeaq.learners.td3bc.losses import actor_loss, critic_loss
from rayeaq.learners.td3bc.networks import NetSpec, TD3Networks

MODULE_ID = "team"
NET_KEYS = tuple(NetSpec.__dataclass_fields__)


class TD3TeamModule(TorchRLModule):
    """Stacked actors, twin critics and targets of every agent; MA-TD3+BC losses."""

    LOSS_KEYS: ClassVar[tuple[str, ...]] = ("gamma", "policy_noise", "noise_clip", "alpha", "policy_freq")

    def setup(self) -> None:
        cfg = self.model_config
        self.nets = TD3Networks(NetSpec(**{k: cfg[k] for k in NET_KEYS}))
        self.loss_cfg = {k: cfg[k] for k in self.LOSS_KEYS}
        # Gradient updates applied so far (drives the delayed actor update; part of the checkpointed state).
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    def actor_due(self) -> bool:
        """Whether this update also trains the actor (TD3's delayed policy update)."""
        return int(self.num_updates) % int(self.loss_cfg["policy_freq"]) == 0

    def losses(self, batch: dict[str, Any], actor: bool) -> dict[str, Any]:
        """``critic_loss``, ``actor_loss`` when ``actor``, and ``stats`` (MA-TD3+BC)."""
        c = self.loss_cfg
        loss, stats = critic_loss(self.nets, batch, c["gamma"], c["policy_noise"], c["noise_clip"])
        out = {"critic_loss": loss, "stats": stats}
        if actor:
            out["actor_loss"], a_stats = actor_loss(self.nets, batch, c["alpha"])
            out["stats"] = dict(stats, **a_stats)
        return out

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return self.losses(batch, self.actor_due())

    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return {Columns.ACTIONS: self.nets.act(batch[Columns.OBS])}


def spaces(spec: NetSpec) -> tuple[gym.Space, gym.Space]:
    """Team observation space ``Box[N, Do]`` and action space ``Box[N, Da]`` in the map's bounds."""
    obs = gym.spaces.Box(-np.inf, np.inf, shape=(spec.n_agents, spec.obs_dim), dtype=np.float32)
    act = gym.spaces.Box(spec.action_low, spec.action_high, shape=(spec.n_agents, spec.action_dim), dtype=np.float32)
    return obs, act


def module_spec(spec: NetSpec, loss_cfg: dict[str, Any], module_class: type = TD3TeamModule) -> RLModuleSpec:
    """The RLModuleSpec of the team module."""
    obs_space, act_space = spaces(spec)
    return RLModuleSpec(
        module_class=module_class,
        observation_space=obs_space,
        action_space=act_space,
        model_config=dict(spec.to_dict(), **loss_cfg),
    )

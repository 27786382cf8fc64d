"""RLlib adapter: the team :class:`TorchRLModule` that holds :class:`QMIXNetworks` (Ray lives here only).

One module (id :data:`MODULE_ID`) for the whole team, because QMIX's mixer couples the agents; the
agent network inside is shared by all agents (agent id in its input). ``model_config`` carries the
:class:`NetSpec` fields plus ``gamma``/``double_q`` (what the training forward pass needs).

- ``forward_train(batch)``: the padded sequence batch (fields of :class:`rayeaq.data.EpisodeBatch`) ->
  the tensors of :class:`rayeaq.qmix.losses.TrainOutputs` (computed inside ``forward`` so that DDP
  synchronises every gradient when there are several learners).
- ``forward_inference(batch)``: decentralised greedy step: ``obs [B,N,Do]``, ``avail_actions [B,N,A]``,
  optional ``state_in [B,N,H]`` and ``prev_actions [B,N]`` -> ``actions [B,N]``, ``state_out``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch import TorchRLModule

from rayeaq.learners.qmix.networks import NetSpec, QMIXNetworks

MODULE_ID = "qmix"
NET_KEYS = tuple(NetSpec.__dataclass_fields__)


class QMIXTeamModule(TorchRLModule):
    """Team RLModule: shared GRU agent network, monotonic mixer (QMIX only) and target copies."""

    def setup(self) -> None:
        cfg = self.model_config
        self.net_spec = NetSpec(**{k: cfg[k] for k in NET_KEYS})
        self.gamma = float(cfg["gamma"])
        self.double_q = bool(cfg["double_q"])
        self.nets = QMIXNetworks(self.net_spec)
        # Gradient updates applied so far (drives the target copy; part of the checkpointed state).
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        out = self.nets.train_outputs(batch, gamma=self.gamma, double_q=self.double_q)
        return {k: v for k, v in out._asdict().items() if v is not None}

    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        prev = batch.get(Columns.PREV_ACTIONS)
        actions, hidden = self.nets.act(batch[Columns.OBS], batch["avail_actions"], batch.get(Columns.STATE_IN), prev)
        return {Columns.ACTIONS: actions, Columns.STATE_OUT: hidden}


def spaces(spec: NetSpec) -> tuple[gym.Space, gym.Space]:
    """Team observation space ``Box[N, Do]`` and action space ``MultiDiscrete([A] * N)``."""
    obs = gym.spaces.Box(-np.inf, np.inf, shape=(spec.n_agents, spec.obs_dim), dtype=np.float32)
    return obs, gym.spaces.MultiDiscrete([spec.n_actions] * spec.n_agents)


def module_spec(spec: NetSpec, gamma: float, double_q: bool) -> RLModuleSpec:
    """The RLModuleSpec of the one team module (RLlib wraps it in a MultiRLModuleSpec under :data:`MODULE_ID`)."""
    obs_space, act_space = spaces(spec)
    model_config = dict(spec.to_dict(), gamma=gamma, double_q=double_q)
    return RLModuleSpec(
        module_class=QMIXTeamModule, observation_space=obs_space, action_space=act_space, model_config=model_config
    )

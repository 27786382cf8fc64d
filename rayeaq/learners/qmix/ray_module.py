"""RLlib adapter: the team :class:`TorchRLModule` that holds :class:`QMIXNetworks` (Ray lives here only).

One module (id :data:`MODULE_ID`) for the whole team, because QMIX's mixer couples the agents; the
agent network inside is shared by all agents (agent id in its input). ``model_config`` carries the
:class:`NetSpec` fields plus ``gamma``, ``double_q``, ``td_lambda``, ``cql_samples`` and ``noise_seed`` (what the
training forward pass needs).

The joint conservative term's sampled actions are drawn from a generator seeded by ``(noise_seed, updates done,
DDP rank)``, not from torch's global RNG: the update count is checkpointed (``num_updates``), so a resumed run
draws the same actions as an uninterrupted one, and no RNG state has to travel with the checkpoint.

Built through RLlib 2.60's current constructor (``RLModuleSpec.build`` passes ``observation_space``,
``action_space``, ``inference_only``, ``model_config``). RLlib's own ``RLModule.__init__`` still builds a
deprecated ``RLModuleConfig`` for old subclasses and so logs "RLModule(config=RLModuleConfig) has been deprecated"
for *every* module, ours included; :class:`_DropRLModuleConfigWarning` drops exactly that line.

- ``forward_train(batch)``: the padded sequence batch (fields of :class:`rayeaq.data.EpisodeBatch`) ->
  the tensors of :class:`rayeaq.qmix.losses.TrainOutputs` (computed inside ``forward`` so that DDP
  synchronises every gradient when there are several learners).
- ``forward_inference(batch)``: decentralised greedy step: ``obs [B,N,Do]``, ``avail_actions [B,N,A]``,
  optional ``state_in [B,N,H]`` and ``prev_actions [B,N]`` -> ``actions [B,N]``, ``state_out``.
"""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.distributed as dist
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch import TorchRLModule

from rayeaq.core.runinfo import derive_seed
from rayeaq.learners.qmix.networks import NetSpec, QMIXNetworks

MODULE_ID = "qmix"
NET_KEYS = tuple(NetSpec.__dataclass_fields__)


class _DropRLModuleConfigWarning(logging.Filter):
    """Drops RLlib 2.60's self-inflicted ``RLModuleConfig`` deprecation line (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "RLModule(config=[RLModuleConfig object])" not in record.getMessage()


def _install_filter() -> None:
    log = logging.getLogger("ray._common.deprecation")
    if not any(isinstance(f, _DropRLModuleConfigWarning) for f in log.filters):
        log.addFilter(_DropRLModuleConfigWarning())


_install_filter()  # in every process that unpickles the module class (driver, learner actors)


class QMIXTeamModule(TorchRLModule):
    """Team RLModule: shared GRU agent network, monotonic mixer (QMIX only) and target copies."""

    def setup(self) -> None:
        cfg = self.model_config
        self.net_spec = NetSpec(**{k: cfg[k] for k in NET_KEYS})
        self.gamma = float(cfg["gamma"])
        self.double_q = bool(cfg["double_q"])
        self.td_lambda = float(cfg.get("td_lambda", 0.0))
        self.cql_samples = int(cfg.get("cql_samples", 0))
        self.noise_seed = int(cfg.get("noise_seed", 0))
        self.nets = QMIXNetworks(self.net_spec)
        # Gradient updates applied so far (drives the target copy; part of the checkpointed state) and its
        # host-side copy, so that the update never reads the buffer back from the device (no host sync).
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        self.updates_done = 0

    def set_state(self, state: Any) -> None:
        super().set_state(state)
        self.updates_done = int(self.num_updates)  # restored with the weights (checkpoint, set_weights)

    def count_update(self) -> None:
        """One gradient update applied (called by the learner after each)."""
        self.num_updates += 1
        self.updates_done += 1

    def noise(self, device: torch.device) -> torch.Generator | None:
        """The generator of this update's sampled joint actions (None when the joint term is off)."""
        if self.cql_samples == 0:
            return None
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        generator = torch.Generator(device=device)
        generator.manual_seed(derive_seed(self.noise_seed, "joint_cql", self.updates_done, rank))
        return generator

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        out = self.nets.train_outputs(
            batch,
            gamma=self.gamma,
            double_q=self.double_q,
            td_lambda=self.td_lambda,
            cql_samples=self.cql_samples,
            generator=self.noise(batch["obs"].device),
        )
        return {k: v for k, v in out._asdict().items() if v is not None}

    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        prev = batch.get(Columns.PREV_ACTIONS)
        actions, hidden = self.nets.act(batch[Columns.OBS], batch["avail_actions"], batch.get(Columns.STATE_IN), prev)
        return {Columns.ACTIONS: actions, Columns.STATE_OUT: hidden}


def spaces(spec: NetSpec) -> tuple[gym.Space, gym.Space]:
    """Team observation space ``Box[N, Do]`` and action space ``MultiDiscrete([A] * N)``."""
    obs = gym.spaces.Box(-np.inf, np.inf, shape=(spec.n_agents, spec.obs_dim), dtype=np.float32)
    return obs, gym.spaces.MultiDiscrete([spec.n_actions] * spec.n_agents)


def module_spec(
    spec: NetSpec, gamma: float, double_q: bool, td_lambda: float = 0.0, cql_samples: int = 0, noise_seed: int = 0
) -> RLModuleSpec:
    """The RLModuleSpec of the one team module (RLlib wraps it in a MultiRLModuleSpec under :data:`MODULE_ID`)."""
    obs_space, act_space = spaces(spec)
    model_config = dict(
        spec.to_dict(),
        gamma=gamma,
        double_q=double_q,
        td_lambda=td_lambda,
        cql_samples=cql_samples,
        noise_seed=noise_seed,
    )
    return RLModuleSpec(
        module_class=QMIXTeamModule, observation_space=obs_space, action_space=act_space, model_config=model_config
    )

"""One box-BC run: TD3+BC's stacked actor (``tanh`` MLP per agent on normalised observations) fitted by the MSE
to the data's actions, scored by greedy rollouts on the vmapped MPE; the result files of
:mod:`rayeaq.learners.box_offline`. Pure torch, no Ray.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rayeaq.core.runinfo import derive_seed
from rayeaq.learners.box_offline import Batch, BoxData, LoopSettings, load_box_data, train_and_evaluate
from rayeaq.learners.registry import Report
from rayeaq.learners.td3bc.config import ContinuousSettings
from rayeaq.learners.td3bc.networks import NetSpec, TD3Networks

SHARED_FIELDS = ("updates", "eval_interval", "eval_episodes", "eval_envs", "torch_threads", "checkpoint")


def bc_loss(nets: TD3Networks, obs: torch.Tensor, unit_actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """TD3+BC's behaviour-cloning term alone: ``sum_i mean_b |pi_i(o_i) - a_i|^2``.

    ``obs [B, N, Do]``, ``unit_actions [B, N, Da]`` in [-1, 1]; returns (loss, per-sample squared error ``[N, B]``).
    """
    pi = nets.pi(nets.norm_obs(obs))  # [N, B, Da]
    se = ((pi - unit_actions.transpose(0, 1)) ** 2).sum(-1)
    return se.mean(1).sum(), se


class BoxBCRun:
    """The actor of :class:`TD3Networks` (its critics are never read nor updated) with one Adam over the actor."""

    def __init__(self, s: ContinuousSettings, data: BoxData, seed: int) -> None:
        obs = torch.from_numpy(data.sampler.arrays["obs"]).float()
        _, n, do = obs.shape
        da = data.sampler.arrays["actions"].shape[-1]
        torch.manual_seed(derive_seed(seed, "box_bc", "init"))
        # the data's actions are already in [-1, 1] (BoxData), so the networks' box is the unit box
        self.nets = TD3Networks(NetSpec(n, do, da, -1.0, 1.0, s.hidden_dim))
        self.nets.fit_obs_normaliser(obs)
        self.optimizer = torch.optim.Adam(self.nets.actor.parameters(), lr=s.lr)

    def update(self, batch: Batch) -> dict[str, float]:
        loss, se = bc_loss(self.nets, batch["obs"], batch["actions"])
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"actor_loss": float(loss.detach()), "bc_mse": float(se.detach().mean())}

    def act_unit(self, obs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.nets.pi(self.nets.norm_obs(obs)).transpose(0, 1)

    def state_dict(self) -> dict[str, Any]:
        return {"actor": self.nets.actor.state_dict(), "obs_mean": self.nets.obs_mean, "obs_std": self.nets.obs_std}


def run_box_bc(cfg: Any, sources: list[tuple[str, float]], out: Path, report: Report | None) -> dict[str, Any]:
    """Train box BC for ``evaluate.updates`` updates on the mixture and write the result files."""
    e = cfg.evaluate
    s = ContinuousSettings(**{k: getattr(e, k) for k in SHARED_FIELDS})
    torch.set_num_threads(s.torch_threads)
    data = load_box_data(sources, cfg.seed, "box_bc")
    loop = LoopSettings(
        "box_bc",
        s.updates,
        s.eval_interval,
        s.eval_episodes,
        e.final_eval_episodes,
        s.eval_envs,
        s.batch_size,
        s.checkpoint,
    )
    settings = {k: v for k, v in s.model_dump().items() if k not in SHARED_FIELDS}
    return train_and_evaluate(
        BoxBCRun(s, data, cfg.seed), data, loop, cfg.seed, sources, out, report, {"box_bc": settings}
    )

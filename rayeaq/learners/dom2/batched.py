"""DOM2's Algorithm 2 with every agent's networks stacked (:mod:`rayeaq.learners.dom2.stacked`): the same
per-agent objectives as :class:`~rayeaq.learners.dom2.learner.Dom2Learner` in one batched pass per network.

Agents stay independent: each loss is the sum over agents of the agent's own mean (``N x`` the mean over
``[N, B]``), eta~ is normalised per agent, gradients are clipped per agent (:func:`clip_per_agent`) and Adam is
elementwise -- so agent j's update reads only agent j's slice of the batch (tested). Batch layout as
``Dom2Learner``: ``obs [B,N,Do]``, ``actions [B,N,Da]`` in [-1,1], ``reward [B]``, optional ``agent_reward [B,N]``,
``next_obs``, ``done [B]``.
"""

from __future__ import annotations

import copy

import torch

from rayeaq.core.runinfo import derive_seed
from rayeaq.learners.dom2.config import Dom2Config
from rayeaq.learners.dom2.learner import soft_update
from rayeaq.learners.dom2.losses import critic_loss, denoising_loss, policy_loss, sample_actions, td_target
from rayeaq.learners.dom2.solver import VPSchedule
from rayeaq.learners.dom2.stacked import StackedNoiseNet, StackedTwinCritic, clip_per_agent


class BatchedDom2Learner:
    """N DOM2 agents in stacked modules; :meth:`update` is one training step t of Algorithm 2 (all agents)."""

    def __init__(self, cfg: Dom2Config, n_agents: int, obs_dim: int, action_dim: int, seed: int) -> None:
        self.cfg, self.n_agents, self.action_dim = cfg, n_agents, action_dim
        torch.manual_seed(derive_seed(seed, "dom2", "init"))
        self.schedule = VPSchedule(cfg.n_timesteps, solver_steps=cfg.solver_steps)
        n = n_agents
        self.actor = StackedNoiseNet(n, action_dim, obs_dim, cfg.n_timesteps, cfg.actor_hidden, cfg.actor_blocks)
        self.critic = StackedTwinCritic(n, obs_dim, action_dim, cfg.critic_hidden)
        self.target_actor = copy.deepcopy(self.actor).requires_grad_(False)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr)
        self.gen = torch.Generator().manual_seed(derive_seed(seed, "dom2", "sample"))
        self.steps = 0

    def _stack(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``[B, N, ...]`` -> ``[N, B, ...]``; the reward per agent ``[N, B]``."""
        n = self.n_agents
        reward = batch["agent_reward"].T if "agent_reward" in batch else batch["reward"][None].expand(n, -1)
        return {
            "obs": batch["obs"].transpose(0, 1),
            "action": batch["actions"].transpose(0, 1),
            "reward": reward,
            "next_obs": batch["next_obs"].transpose(0, 1),
            "done": batch["done"],
        }

    def update_critic(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        """Line 6 for every agent: twin critics by Eq. 1, TD targets from the target diffusion policies."""
        cfg, n = self.cfg, self.n_agents
        with torch.no_grad():
            next_a = sample_actions(self.target_actor, self.schedule, b["next_obs"], self.action_dim, self.gen)
        y = td_target(self.target_critic, b["next_obs"], next_a, b["reward"], b["done"], cfg.gamma)
        shape = (n, b["obs"].shape[1], cfg.cql_samples, self.action_dim)
        rand = torch.rand(shape, generator=self.gen) * 2 - 1
        loss, metrics = critic_loss(self.critic, b["obs"], b["action"], y, rand, cfg.cql_weight, cfg.cql_temp)
        self.critic_opt.zero_grad()
        (n * loss).backward()  # the sum over agents of each agent's Eq. 1
        clip_per_agent(list(self.critic.parameters()), cfg.critic_grad_clip)
        self.critic_opt.step()
        metrics["critic_loss"] = float(loss.detach())
        return metrics

    def update_actor(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        """Line 7 for every agent: Eq. 5 with gradients through the solver chain (eta = 0: Eq. 3 only)."""
        cfg, n = self.cfg, self.n_agents
        bc = denoising_loss(self.actor, self.schedule, b["obs"], b["action"], self.gen, cfg.train_on_grid)
        loss = bc
        if cfg.eta > 0:
            a0 = sample_actions(self.actor, self.schedule, b["obs"], self.action_dim, self.gen)
            q_pi = self.critic.q1(torch.cat([b["obs"], a0], dim=-1), detach=True).squeeze(-1)  # [N, B]
            with torch.no_grad():
                q_data = self.critic.q1(torch.cat([b["obs"], b["action"]], dim=-1)).squeeze(-1)
            loss = policy_loss(bc, q_pi, q_data, cfg.eta)
        self.actor_opt.zero_grad()
        (n * loss).backward()
        clip_per_agent(list(self.actor.parameters()), cfg.actor_grad_clip)
        self.actor_opt.step()
        return {"bc_loss": float(bc.detach()), "actor_loss": float(loss.detach())}

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """Algorithm 2, lines 4-9, on one batch -> metrics averaged over agents."""
        b = self._stack(batch)
        metrics = self.update_critic(b)
        metrics.update(self.update_actor(b))
        soft_update(self.target_critic, self.critic, self.cfg.tau)  # line 8
        soft_update(self.target_actor, self.actor, self.cfg.tau)
        self.steps += 1
        return metrics

    @torch.no_grad()
    def act(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decentralised execution: ``obs [B,N,Do]`` -> ``[B,N,Da]`` in [-1,1] (agent j reads only ``obs[:, j]``)."""
        gen = generator if generator is not None else self.gen
        a = sample_actions(self.actor, self.schedule, obs.transpose(0, 1), self.action_dim, gen)
        return a.transpose(0, 1)

    def state_dict(self) -> dict[str, dict]:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "target_actor": self.target_actor.state_dict(),
            "target_critic": self.target_critic.state_dict(),
        }

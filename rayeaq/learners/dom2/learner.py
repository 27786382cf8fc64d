"""DOM2's update (papers/003, Algorithm 2) over plain transition batches; pure torch, no Ray.

A batch is a dict of tensors: ``obs [B,N,Do]``, ``actions [B,N,Da]`` in [-1,1], ``reward [B]`` (team reward; an
optional ``agent_reward [B,N]`` is used per agent when present), ``next_obs [B,N,Do]``, ``done [B]``
(``state``/``next_state`` are ignored: DOM2 is decentralised in training and execution).
"""

from __future__ import annotations

import copy

import torch

from rayeaq.core.runinfo import derive_seed
from rayeaq.learners.dom2.config import Dom2Config
from rayeaq.learners.dom2.losses import (
    critic_loss,
    denoising_loss,
    policy_loss,
    sample_actions,
    td_target,
)
from rayeaq.learners.dom2.networks import ResidualNoiseNet, TwinCritic
from rayeaq.learners.dom2.solver import VPSchedule


def soft_update(target: torch.nn.Module, online: torch.nn.Module, rho: float) -> None:
    """``target <- rho online + (1 - rho) target`` (Algorithm 2, line 8)."""
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters(), strict=True):
            t.mul_(1.0 - rho).add_(o, alpha=rho)


class Dom2Agent(torch.nn.Module):
    """One agent j: diffusion actor theta_j, twin critic phi_j^{1,2}, and their target copies."""

    def __init__(self, cfg: Dom2Config, obs_dim: int, action_dim: int) -> None:
        super().__init__()
        self.actor = ResidualNoiseNet(action_dim, obs_dim, cfg.n_timesteps, cfg.actor_hidden, cfg.actor_blocks)
        self.critic = TwinCritic(obs_dim, action_dim, cfg.critic_hidden)
        self.target_actor = copy.deepcopy(self.actor).requires_grad_(False)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr)


class Dom2Learner:
    """N independent DOM2 agents; :meth:`update` is one training step t of Algorithm 2 (all agents)."""

    def __init__(
        self, cfg: Dom2Config, n_agents: int, obs_dim: int, action_dim: int, seed: int, device: str = "cpu"
    ) -> None:
        self.cfg, self.n_agents, self.action_dim, self.device = cfg, n_agents, action_dim, device
        torch.manual_seed(derive_seed(seed, "dom2", "init"))
        self.schedule = VPSchedule(cfg.n_timesteps, solver_steps=cfg.solver_steps)
        self.agents = [Dom2Agent(cfg, obs_dim, action_dim).to(device) for _ in range(n_agents)]
        self.gen = torch.Generator().manual_seed(derive_seed(seed, "dom2", "sample"))
        self.steps = 0

    def _agent_batch(self, batch: dict[str, torch.Tensor], j: int) -> dict[str, torch.Tensor]:
        reward = batch["agent_reward"][:, j] if "agent_reward" in batch else batch["reward"]
        return {
            "obs": batch["obs"][:, j],
            "action": batch["actions"][:, j],
            "reward": reward,
            "next_obs": batch["next_obs"][:, j],
            "done": batch["done"],
        }

    def update_critic(self, j: int, b: dict[str, torch.Tensor]) -> dict[str, float]:
        """Line 6 for agent j: twin critics by Eq. 1, TD target from the target diffusion policy."""
        cfg, ag = self.cfg, self.agents[j]
        with torch.no_grad():
            next_a = sample_actions(ag.target_actor, self.schedule, b["next_obs"], self.action_dim, self.gen)
        y = td_target(ag.target_critic, b["next_obs"], next_a, b["reward"], b["done"], cfg.gamma)
        rand = torch.rand((b["obs"].shape[0], cfg.cql_samples, self.action_dim), generator=self.gen) * 2 - 1
        loss, metrics = critic_loss(
            ag.critic, b["obs"], b["action"], y, rand.to(b["obs"].device), cfg.cql_weight, cfg.cql_temp
        )
        ag.critic_opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ag.critic.parameters(), cfg.critic_grad_clip)
        ag.critic_opt.step()
        metrics["critic_loss"] = float(loss.detach())
        return metrics

    def update_actor(self, j: int, b: dict[str, torch.Tensor]) -> dict[str, float]:
        """Line 7 for agent j: Eq. 5 with gradients through the solver chain into theta_j (eta = 0: Eq. 3 only)."""
        cfg, ag = self.cfg, self.agents[j]
        bc = denoising_loss(ag.actor, self.schedule, b["obs"], b["action"], self.gen, cfg.train_on_grid)
        loss = bc
        if cfg.eta > 0:
            a0 = sample_actions(ag.actor, self.schedule, b["obs"], self.action_dim, self.gen)
            q_pi = ag.critic.q1(torch.cat([b["obs"], a0], dim=-1)).squeeze(-1)
            with torch.no_grad():
                q_data = ag.critic.q1(torch.cat([b["obs"], b["action"]], dim=-1)).squeeze(-1)
            loss = policy_loss(bc, q_pi, q_data, cfg.eta)
        ag.actor_opt.zero_grad()
        loss.backward()
        ag.critic_opt.zero_grad()  # the Q-loss reached the critic's grads; only theta_j steps here
        torch.nn.utils.clip_grad_norm_(ag.actor.parameters(), cfg.actor_grad_clip)
        ag.actor_opt.step()
        return {"bc_loss": float(bc.detach()), "actor_loss": float(loss.detach())}

    def update_agent(self, j: int, b: dict[str, torch.Tensor]) -> dict[str, float]:
        """Lines 6-8 for agent j on its minibatch ``b`` (obs [B,Do], action [B,Da], reward [B], next_obs, done)."""
        metrics = self.update_critic(j, b)
        metrics.update(self.update_actor(j, b))
        ag = self.agents[j]
        soft_update(ag.target_critic, ag.critic, self.cfg.tau)  # line 8
        soft_update(ag.target_actor, ag.actor, self.cfg.tau)
        return metrics

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """Algorithm 2, lines 4-9, on one batch (each agent reads its own slice) -> metrics averaged over agents."""
        out: dict[str, float] = {}
        for j in range(self.n_agents):
            for k, v in self.update_agent(j, self._agent_batch(batch, j)).items():
                out[k] = out.get(k, 0.0) + v / self.n_agents
        self.steps += 1
        return out

    @torch.no_grad()
    def act(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decentralised execution: ``obs [B,N,Do]`` -> ``[B,N,Da]`` in [-1,1], one diffusion chain per agent."""
        gen = generator if generator is not None else self.gen
        return torch.stack(
            [
                sample_actions(ag.actor, self.schedule, obs[:, j], self.action_dim, gen)
                for j, ag in enumerate(self.agents)
            ],
            dim=1,
        )

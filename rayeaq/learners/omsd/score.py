"""Stage 1b: per-agent conditional diffusion (score) models eps_i(a_i | s, a_<i) and the behaviour-score read-out.

Sequential decomposition of the joint behaviour policy: ``mu(a | s) = prod_i mu_i(a_i | s, a_<i)``, so
``grad_{a_i} log mu`` splits into per-agent terms that need only the prefix ``a_<i`` (the ablation conditions on
``s`` alone, i.e. independent marginals). Shapes: ``state [B,Ds]``, ``actions [B,N,Da]``.
"""

from __future__ import annotations

import torch

from rayeaq.learners.dom2.losses import denoising_loss
from rayeaq.learners.dom2.networks import ResidualNoiseNet
from rayeaq.learners.dom2.solver import VPSchedule


def condition(state: torch.Tensor, actions: torch.Tensor, agent: int, sequential: bool) -> torch.Tensor:
    """Conditioning input of eps_i: ``[s, a_0..a_{i-1}]`` (sequential) or ``s`` -> ``[B, Ds (+ i*Da)]``."""
    if not sequential or agent == 0:
        return state
    return torch.cat([state, actions[:, :agent].flatten(1)], dim=-1)


def cond_dim(state_dim: int, action_dim: int, agent: int, sequential: bool) -> int:
    """Width of :func:`condition`'s output for ``agent``."""
    return state_dim + (agent * action_dim if sequential else 0)


def make_score_model(
    state_dim: int, action_dim: int, agent: int, sequential: bool, n_timesteps: int, hidden: int, blocks: int
) -> ResidualNoiseNet:
    """eps_i as DOM2's residual noise network over ``a_i`` conditioned on :func:`condition`."""
    return ResidualNoiseNet(action_dim, cond_dim(state_dim, action_dim, agent, sequential), n_timesteps, hidden, blocks)


def score_loss(
    model: ResidualNoiseNet,
    schedule: VPSchedule,
    state: torch.Tensor,
    actions: torch.Tensor,
    agent: int,
    sequential: bool,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Denoising loss of eps_i on the data's ``a_i`` given the data's prefix (all K timesteps) -> scalar."""
    cond = condition(state, actions, agent, sequential)
    return denoising_loss(model, schedule, cond, actions[:, agent], generator, on_grid=False)


def score_surrogate(
    model: ResidualNoiseNet,
    schedule: VPSchedule,
    cond: torch.Tensor,
    action: torch.Tensor,
    generator: torch.Generator | None,
    t_min: float,
    t_max: float,
    samples: int,
) -> torch.Tensor:
    """A scalar whose gradient w.r.t. ``action [B,Da]`` is ``E_{t,eps}[eps_i(alpha_t a + sigma_t eps, t | c) - eps]``
    averaged over the batch: the scaled negative behaviour score ``-sigma_t/alpha_t grad_a log mu_i,t(a | c)``
    (SRPO's estimator, Chen et al. 2023, with weight sigma_t/alpha_t; subtracting eps removes the zero-mean part).
    Minimising it moves ``action`` towards high behaviour density. ``cond [B,Dc]``; ``samples`` draws per row.
    """
    b, da = action.shape
    a = action.repeat(samples, 1)
    c = cond.repeat(samples, 1)
    k = schedule.n_timesteps
    lo, hi = max(int(t_min * k), 0), max(int(t_max * k), int(t_min * k) + 1)
    tau = torch.randint(lo, min(hi, k), (b * samples,), generator=generator).to(action.device)
    noise = torch.randn((b * samples, da), generator=generator).to(action.device)
    with torch.no_grad():
        diff = model(schedule.add_noise(a.detach(), tau, noise), c, tau) - noise
    return (diff * a).sum(-1).mean()  # per row: (1/B) * the mean over its draws

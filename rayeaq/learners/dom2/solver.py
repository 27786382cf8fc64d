"""Discrete VP noise schedule and the first-order DPM-Solver (DOM2 Eq. 3-4), shared by DOM2 and omsd.

Schedule: DDPM's linear betas over ``K`` training timesteps (K = 1000, betas 1e-4..0.02 is the discrete form of the
continuous VP SDE with beta in [0.1, 20] that DPM-Solver and SfBC use). ``alpha_k = sqrt(abar_k)``,
``sigma_k = sqrt(1 - abar_k)``, so ``q(a^k | a^0) = N(alpha_k a^0, sigma_k^2 I)``.

Solver grid ("trailing" spacing, as diffusers' DDIMScheduler): ``tau_N > ... > tau_1`` are the timesteps
``round(K - i K / N) - 1``; ``tau_0`` is the clean end (alpha = 1, sigma = 0). One DPM-Solver-1 step
(Lu et al. 2022, Eq. 3.7) from ``s = tau_i`` to ``t = tau_{i-1}``::

    a^t = (alpha_t / alpha_s) a^s - sigma_t (exp(h) - 1) eps(a^s, o, s),   h = lambda_t - lambda_s,
    lambda = log(alpha / sigma)   =>   sigma_t (exp(h) - 1) = alpha_t sigma_s / alpha_s - sigma_t

(the expanded form is finite at the clean end). DOM2's printed Eq. 4 swaps the indices inside the bracket
(``sigma_{tau_i}(alpha_{tau_i} sigma_{tau_{i-1}} / (alpha_{tau_{i-1}} sigma_{tau_i}) - 1)``); that is a typo:
the form above is Lu et al.'s and equals deterministic DDIM (tested against diffusers, step for step).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``eps(a_tau [B, Da], tau [B] long) -> [B, Da]``: the noise prediction (conditioning closed over)."""


class VPSchedule:
    """Discrete VP schedule with ``K`` training timesteps and an ``N``-step DPM-Solver-1 sampler."""

    def __init__(
        self, n_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02, solver_steps: int = 10
    ) -> None:
        if not 1 <= solver_steps <= n_timesteps:
            raise ValueError(f"expected 1 <= solver_steps <= n_timesteps, got {solver_steps}, {n_timesteps}")
        self.n_timesteps = n_timesteps
        self.solver_steps = solver_steps
        betas = torch.linspace(beta_start, beta_end, n_timesteps, dtype=torch.float64)
        abar = torch.cumprod(1.0 - betas, dim=0)
        self.alphas_cumprod = abar.float()
        """[K] abar_k."""
        self.alpha = abar.sqrt().float()
        """[K] alpha_k = sqrt(abar_k)."""
        self.sigma = (1.0 - abar).sqrt().float()
        """[K] sigma_k = sqrt(1 - abar_k)."""
        step = n_timesteps / solver_steps
        grid = torch.round(torch.arange(n_timesteps, 0, -step, dtype=torch.float64)).long() - 1
        self.grid = grid
        """[N] the solver's timesteps tau_N > ... > tau_1 (descending), as diffusers' trailing spacing."""

    def add_noise(self, a0: torch.Tensor, tau: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``alpha_tau a0 + sigma_tau noise``; ``a0, noise [..., D]``, ``tau [...]`` long -> ``[..., D]``."""
        return self.alpha.to(a0.device)[tau][..., None] * a0 + self.sigma.to(a0.device)[tau][..., None] * noise

    def sample_train_tau(
        self,
        shape: int | tuple[int, ...],
        generator: torch.Generator | None,
        on_grid: bool,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        """``shape`` (e.g. [B] or [N, B]) long: training timesteps, uniform over the solver grid (Eq. 3) or over
        all K timesteps."""
        size = (shape,) if isinstance(shape, int) else tuple(shape)
        if on_grid:
            idx = torch.randint(0, len(self.grid), size, generator=generator)
            return self.grid[idx].to(device)
        return torch.randint(0, self.n_timesteps, size, generator=generator).to(device)

    def step_coefficients(self, i: int) -> tuple[float, float]:
        """``(c_x, c_eps)`` of the i-th solver step (i = 0 first, from tau_N): a_next = c_x a - c_eps eps."""
        s = int(self.grid[i])
        a_s, s_s = float(self.alpha[s]), float(self.sigma[s])
        if i + 1 < len(self.grid):
            t = int(self.grid[i + 1])
            a_t, s_t = float(self.alpha[t]), float(self.sigma[t])
        else:
            a_t, s_t = 1.0, 0.0  # the clean end tau_0
        return a_t / a_s, a_t * s_s / a_s - s_t

    def sample(self, eps_fn: EpsFn, noise: torch.Tensor, clip: float | None = 1.0) -> torch.Tensor:
        """DPM-Solver-1 from ``a^{tau_N} = noise [..., Da]`` to ``a^{tau_0} [..., Da]`` in N steps.

        Differentiable: gradients flow through every step into ``eps_fn``'s parameters (DOM2's Q-loss, Eq. 5).
        ``clip`` clamps only the final action to ``[-clip, clip]`` (None: no clamp).
        """
        a = noise
        for i, tau in enumerate(self.grid.tolist()):
            c_x, c_eps = self.step_coefficients(i)
            t = torch.full(a.shape[:-1], tau, dtype=torch.long, device=a.device)
            a = c_x * a - c_eps * eps_fn(a, t)
        return a.clamp(-clip, clip) if clip is not None else a

"""The EAQ objective: denoiser + diffusion process (+ optional critic) in one module whose forward is the loss.

``L = ||τ0 - fθ(τk, k)||² + λ · L_Qtot``. With ``objective = "qtot"`` the network's own Q-total channel
is both fitted (inside the reconstruction term, target = return-to-go) and maximised
(``L_Qtot = -mean over step rows of the predicted Q-total / F``, i.e. per tensor element like the
reconstruction mean). With ``objective = "critic"`` a QMIX-style
critic is fitted to the real return-to-go and ``L_Qtot = -mean critic(fθ(τk, k)) / mean |critic(fθ(τk, k))|``
through frozen critic weights (the mean |Q| of the batch, detached, as TD3+BC and Diffusion-QL normalise
it), so only the denoiser is pushed and λ means the same on every map, horizon and reward scale.
With ``objective = "return"`` there is no L_Qtot: the denoiser is conditioned on the episode's return
(the normalised Q-total channel at row 0, i.e. the return-to-go of the whole episode), and shown without
it on a ``cond_drop`` share of windows, so that one network is both the conditional and the
unconditional model; λ becomes the classifier-free guidance scale at sampling (``sample.py``).
λ = 0 is EAQ⁻Q. One forward = one loss, so DDP wraps it whole.

What ``objective = "qtot"`` can and cannot do (kept exactly as published): it raises the generated
Q-total channel, and at the optimum that channel sits about λ/(2·v) above its return-to-go target
(v = share of step rows), which a bias in the output convolution can deliver alone; nothing decoded
reads that channel, so it need not change observations, actions or rewards. ``critic`` scores the
predicted observations, actions and state, so its gradient has to move them — but raising Q on every row
rewards states from which much return is still to come: measured on 3m (λ = 1), no generated battle ended
and none was won (benchmarks/RESULTS.md, "Generator guidance"). ``return`` is the guidance that raised the
decoded returns and wins there.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from rayeaq.generators.eaq.config import DiffusionConfig
from rayeaq.generators.eaq.critic import QMixCritic
from rayeaq.generators.eaq.layout import Layout
from rayeaq.generators.eaq.process import GaussianDiffusion
from rayeaq.generators.eaq.unet import TemporalUNet


class EAQModel(nn.Module):
    """``forward(x0 [B,F,H], valid [B,H], k [B], noise [B,F,H]) -> dict of scalar losses``."""

    channel_weights: torch.Tensor  # buffer (registered in __init__)

    def __init__(self, cfg: DiffusionConfig, layout: Layout):
        super().__init__()
        self.layout = layout
        self.q_weight = cfg.q_weight
        self.objective = cfg.objective
        self.qtot_channel = layout.qtot_channel
        self.denoiser = TemporalUNet(
            layout.channels, cfg.dim, tuple(cfg.dim_mults), cfg.kernel_size, cfg.groups, cfg.objective == "return"
        )
        self.diffusion = GaussianDiffusion(
            cfg.n_diffusion_steps, cfg.beta_schedule, cfg.beta_start, cfg.beta_end, cfg.clip_denoised
        )
        self.critic = QMixCritic(layout, cfg.critic_hidden) if cfg.objective == "critic" else None
        weights = torch.ones(layout.channels)
        weights[torch.as_tensor(layout.index_arrays()["act"].ravel())] = cfg.action_weight
        self.register_buffer("channel_weights", weights, persistent=False)

    def forward(
        self,
        x0: torch.Tensor,
        valid: torch.Tensor,
        k: torch.Tensor,
        noise: torch.Tensor,
        drop: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``drop [B]`` bool (objective = return): windows trained without their return condition."""
        x_k = self.diffusion.q_sample(x0, k, noise)
        if self.objective == "return":
            pred = self.denoiser(x_k, k, x0[:, self.qtot_channel, 0], drop)
        else:
            pred = self.denoiser(x_k, k)
        recon = (((pred - x0) ** 2) * self.channel_weights[None, :, None]).mean()
        mask = valid.float()
        denom = mask.sum().clamp(min=1.0)
        # L_Qtot is scaled to one tensor element like the reconstruction mean (the paper's sums over τ0's
        # F x H elements and over the H Q-total entries): otherwise it weighs F times more, and the Q-total
        # channel runs away from its target (seen: +17 normalised units at λ = 0.1 with F = 348). Scaled,
        # the channel settles λ/2 above its return-to-go target at the optimum.
        q_scale = 1.0 / x0.shape[1]
        out = {"recon": recon}
        if self.objective == "return":
            out["loss"] = recon
        elif self.objective == "qtot":
            q_pred = pred[:, self.qtot_channel]
            out["q_pred"] = ((q_pred * mask).sum() / denom).detach()
            out["q_loss"] = -(q_pred * mask).sum() / denom * q_scale
            out["loss"] = recon + self.q_weight * out["q_loss"]
        else:
            assert self.critic is not None
            q_real = self.critic(x0)
            out["critic_loss"] = (((q_real - x0[:, self.qtot_channel]) ** 2) * mask).sum() / denom
            frozen = {name: p.detach() for name, p in self.critic.named_parameters()}
            q_pred = functional_call(self.critic, frozen, (pred,))
            q_mean = (q_pred * mask).sum() / denom
            q_abs = ((q_pred.abs() * mask).sum() / denom).detach().clamp(min=1e-6)
            out["q_pred"] = q_mean.detach()
            out["q_loss"] = -q_mean / q_abs
            out["loss"] = recon + out["critic_loss"] + self.q_weight * out["q_loss"]
        return out

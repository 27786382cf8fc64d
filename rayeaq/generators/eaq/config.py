"""Generator sections of a run config (the EAQ diffusion model and its fitting)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from rayeaq.core.config import StrictModel


class DiffusionConfig(StrictModel):
    """EAQ diffusion model, episode layout and objective."""

    horizon: int | None = Field(default=None, ge=2, le=10_000)
    """Rows per training window; None = whole padded episodes (episode_limit + 1 rows)."""
    window_stride: int | None = Field(default=None, exclude=True)
    """Removed: training and sampling windows always start at row 0 (setting it is a config error)."""
    layout: Literal["paper", "state"] = "paper"
    """paper: per-agent obs + action (+ avail), state, reward, Q-total, done (EAQ as published); state (SMAX
    only): global state + joint action + enemies' previous actions, with obs, avail, reward, done and win
    computed from the generated states by SMAX's own functions (consistent by construction)."""
    include_state: bool = True
    """Add the global state channels (needed by a QMIX learner)."""
    include_avail: bool = True
    """Add the per-agent available-action channels (needed by a QMIX learner)."""
    dim: int = Field(default=32, ge=4, le=1024)
    """Channels of the U-Net's first level and of its output block (even: sinusoidal step embedding)."""
    dim_mults: list[int] = [1, 2, 4]
    """Channel multiplier per U-Net level; the horizon is padded to a multiple of 2**(levels-1)."""
    kernel_size: int = Field(default=5, ge=1, le=15)
    """Temporal Conv1D kernel size (odd)."""
    groups: int = Field(default=8, ge=1)
    """GroupNorm groups (must divide dim and every level's channel count)."""
    n_diffusion_steps: int = Field(default=100, ge=2, le=5000)
    """K, the number of DDPM noising steps."""
    beta_schedule: Literal["cosine", "linear"] = "cosine"
    """Noise schedule (cosine = diffusers' squaredcos_cap_v2)."""
    beta_start: float = Field(default=1e-4, gt=0.0, lt=1.0)
    """First beta of the linear schedule."""
    beta_end: float = Field(default=0.02, gt=0.0, lt=1.0)
    """Last beta of the linear schedule."""
    clip_denoised: bool = True
    """Clip predicted clean trajectories to [-1, 1] (the normalised range) while sampling."""
    objective: Literal["qtot", "critic", "return"] = "qtot"
    """qtot: L_Qtot maximises the model's own Q-total channel (EAQ as published; it need not move the decoded
    episodes); critic: a QMIX-style critic scores predictions; return: the denoiser is conditioned on the
    episode's return (Decision Diffuser) and sampled with classifier-free guidance towards return_target."""
    q_weight: float = Field(default=0.1, ge=0.0)
    """λ in L = ||τ0 - fθ(τk,k)||² + λ·L_Qtot; 0 is the ablation EAQ⁻Q (critic: L_Qtot = -Q / mean |Q|).
    return: the guidance scale when sampling, x0 = x0(∅) + λ·(x0(R*) − x0(∅)); 0 = unconditional samples."""
    cond_drop: float = Field(default=0.25, ge=0.0, lt=1.0)
    """return: share of training windows shown without their return (the unconditional model)."""
    return_target: float = Field(default=1.0, ge=0.0, le=1.5)
    """return: the return R* sampling is guided towards, as a fraction of the map's maximum return."""
    critic_hidden: int = Field(default=64, ge=4)
    """Hidden width of the critic's agent network and mixer (objective = critic)."""
    action_weight: float = Field(default=1.0, gt=0.0)
    """Weight of the one-hot action channels in the reconstruction loss."""

    @field_validator("window_stride")
    @classmethod
    def _removed_stride(cls, value: int | None) -> None:
        raise ValueError("was removed: windows always start at row 0 (an episode's first step); delete the key")

    @field_validator("dim")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("expected an even number of channels (sinusoidal step embedding)")
        return value

    @field_validator("kernel_size")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError("expected an odd kernel size")
        return value

    @field_validator("dim_mults")
    @classmethod
    def _mults(cls, value: list[int]) -> list[int]:
        if not value or any(m < 1 for m in value):
            raise ValueError("expected a non-empty list of positive integers")
        return value

    @field_validator("groups")
    @classmethod
    def _groups_divide(cls, value: int, info: ValidationInfo) -> int:
        dim = info.data.get("dim")
        # the output block normalises dim channels, level i dim * dim_mults[i]
        widths = [dim] + [dim * m for m in info.data.get("dim_mults", [])] if dim is not None else []
        if any(w % value for w in widths):
            raise ValueError(f"expected a divisor of dim and of every level's channels {sorted(set(widths))}")
        return value

    @field_validator("beta_end")
    @classmethod
    def _beta_order(cls, value: float, info: ValidationInfo) -> float:
        if "beta_start" in info.data and value <= info.data["beta_start"]:
            raise ValueError("expected beta_end > beta_start")
        return value


class FitConfig(StrictModel):
    """Fitting the generator with Ray Train (DDP over CPU or GPU workers)."""

    RETIRED: ClassVar[Mapping[str, str]] = {"num_workers": "renamed to fit.workers"}

    steps: int = Field(default=2000, ge=1)
    """Optimiser steps in total (a resumed run continues to this count)."""
    batch_size: int = Field(default=64, ge=1)
    """Windows per optimiser step per worker."""
    lr: float = Field(default=2e-4, gt=0.0, le=1.0)
    """Adam learning rate."""
    grad_clip: float | None = Field(default=1.0, gt=0.0)
    """Max global gradient norm; None disables clipping."""
    ema_decay: float = Field(default=0.995, ge=0.0, lt=1.0)
    """Decay of the exponential moving average of the denoiser weights."""
    ema_start: int = Field(default=100, ge=0)
    """Steps before the EMA starts tracking (it copies the weights until then)."""
    workers: int = Field(default=1, ge=1, le=1024)
    """Ray Train workers (DDP ranks)."""
    use_gpu: bool = False
    """One GPU per worker and the nccl backend (gloo on CPU)."""
    cpus_per_worker: float = Field(default=0.9, gt=0.0)
    """Logical CPUs each Train worker reserves (fractional avoids starvation on small machines)."""
    checkpoint_every: int = Field(default=500, ge=1)
    """Steps between checkpoints (the last step is always checkpointed)."""
    report_every: int = Field(default=50, ge=1)
    """Steps between loss reports to Ray Train."""
    keep_checkpoints: int = Field(default=2, ge=1)
    """Checkpoints Ray Train keeps."""
    torch_threads: int = Field(default=1, ge=1, le=256)
    """torch.set_num_threads in each worker."""

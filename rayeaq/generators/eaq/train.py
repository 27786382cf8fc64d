"""The training loop core (plain torch, no Ray): data preparation, optimiser steps, EMA, checkpoints.

``Trainer`` owns the model, its EMA copy of the denoiser and the optimiser; ``run`` loops
``train_step`` and calls back every ``report_every`` / ``checkpoint_every`` steps. A checkpoint is one
``generator.pt`` holding tensors and plain Python values only, so ``torch.load(weights_only=True)``
reads it. Ray Train (``ray_fit.py``) only wraps ``run`` with DDP and reporting.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rayeaq.core.errors import UserError
from rayeaq.core.runinfo import derive_seed
from rayeaq.data.batch import EpisodeBatch
from rayeaq.generators.eaq.config import DiffusionConfig, FitConfig
from rayeaq.generators.eaq.layout import Layout, Normalizer, encode_windows
from rayeaq.generators.eaq.model import EAQModel

CHECKPOINT_FILE = "generator.pt"
CHECKPOINT_FORMAT = 1


class NonFiniteLossError(UserError):
    """Training produced a NaN or infinite loss."""


@dataclass
class TrainData:
    """Normalised training windows: ``x [W, F, H]`` float32 and ``valid [W, H]`` (step rows)."""

    x: torch.Tensor
    valid: torch.Tensor


def fit_normalizer(episodes: EpisodeBatch, layout: Layout) -> Normalizer:
    """The normaliser, fitted on the rows of real episodes only (steps and terminal row, not padding)."""
    x, _ = encode_windows(episodes, layout)
    rows = np.arange(layout.rows)[None, :] <= episodes.length[:, None]  # windows start at row 0
    norm = Normalizer.fit(x, layout.binary_mask(), rows)
    fixed = layout.fixed_ranges()
    if fixed is not None:  # box actions: the box, not the range the behaviour policy happened to use
        channels, low, high = fixed
        norm.low[channels], norm.high[channels] = low, high
    return norm


def prepare_data(episodes: EpisodeBatch, layout: Layout, norm: Normalizer) -> TrainData:
    """Normalised training windows (one per episode, from row 0) and their step-row masks."""
    x, valid = encode_windows(episodes, layout)
    return TrainData(torch.from_numpy(norm.normalize(x).astype(np.float32)), torch.from_numpy(valid))


def state_fingerprint(state: dict[str, torch.Tensor]) -> str:
    """Short content hash of a state dict (the generator's identity in dataset cards)."""
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:32]


class Trainer:
    """Model + EMA + optimiser. ``wrap`` turns the model into what the forward goes through (e.g. DDP)."""

    def __init__(
        self,
        dcfg: DiffusionConfig,
        fcfg: FitConfig,
        layout: Layout,
        norm: Normalizer,
        device: str | torch.device = "cpu",
        wrap: Callable[[nn.Module], nn.Module] | None = None,
    ):
        self.dcfg, self.fcfg, self.layout, self.norm = dcfg, fcfg, layout, norm
        self.device = torch.device(device)
        self.model = EAQModel(dcfg, layout).to(self.device)
        self.ema = copy.deepcopy(self.model.denoiser).requires_grad_(False)
        self.forward = wrap(self.model) if wrap is not None else self.model
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=fcfg.lr)
        self.step = 0

    def train_step(self, data: TrainData, generator: torch.Generator) -> dict[str, float]:
        """One optimiser step on a random batch drawn with ``generator``; raises :class:`NonFiniteLossError` on NaN/inf."""
        n = data.x.shape[0]
        idx = torch.randint(0, n, (self.fcfg.batch_size,), generator=generator)
        x0 = data.x[idx].to(self.device)
        valid = data.valid[idx].to(self.device)
        k = torch.randint(0, self.dcfg.n_diffusion_steps, (x0.shape[0],), generator=generator).to(self.device)
        noise = torch.randn(x0.shape, generator=generator).to(self.device)
        if self.dcfg.objective == "return":
            drop = (torch.rand(x0.shape[0], generator=generator) < self.dcfg.cond_drop).to(self.device)
            losses = self.forward(x0, valid, k, noise, drop)
        else:
            losses = self.forward(x0, valid, k, noise)
        loss = losses["loss"]
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"fit: loss became {loss.item()} at step {self.step + 1}; lower fit.lr or diffusion.q_weight"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.fcfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.fcfg.grad_clip)
        self.optimizer.step()
        self.step += 1
        self._update_ema()
        return {name: float(v.detach()) for name, v in losses.items()}

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = 0.0 if self.step < self.fcfg.ema_start else self.fcfg.ema_decay
        for e, p in zip(self.ema.parameters(), self.model.denoiser.parameters(), strict=True):
            e.mul_(decay).add_(p.detach(), alpha=1.0 - decay)
        for eb, b in zip(self.ema.buffers(), self.model.denoiser.buffers(), strict=True):
            eb.copy_(b)

    def run(
        self, data: TrainData, seed: int, on_step: Callable[[Trainer, dict[str, float]], None] | None = None
    ) -> dict[str, float]:
        """Train until ``fcfg.steps``; each step's batch is drawn from a generator seeded with (seed, step),
        so a resumed run draws the same batches as an uninterrupted one."""
        generator = torch.Generator()
        metrics: dict[str, float] = {}
        while self.step < self.fcfg.steps:
            generator.manual_seed(derive_seed(seed, "batches", self.step))
            metrics = self.train_step(data, generator)
            if on_step is not None:
                on_step(self, metrics)
        return metrics

    # ---- checkpoints ---------------------------------------------------------------------------
    def payload(self, extra: dict[str, Any]) -> dict[str, Any]:
        """Everything a checkpoint holds (tensors and plain values only)."""
        ema_state = {k: v.detach().cpu().clone() for k, v in self.ema.state_dict().items()}
        critic = self.model.critic
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "model": {k: v.detach().cpu().clone() for k, v in self.model.denoiser.state_dict().items()},
            "ema": ema_state,
            "critic": {k: v.detach().cpu().clone() for k, v in critic.state_dict().items()}
            if critic is not None
            else {},
            "optimizer": self.optimizer.state_dict(),
            "layout": self.layout.to_dict(),
            "normalizer": self.norm.to_dict(),
            "diffusion": self.dcfg.model_dump(mode="json"),
            "fit": self.fcfg.model_dump(mode="json"),
            "fingerprint": state_fingerprint(ema_state),
            **extra,
        }

    def load_payload(self, payload: dict[str, Any]) -> None:
        self.model.denoiser.load_state_dict(payload["model"])
        self.ema.load_state_dict(payload["ema"])
        if self.model.critic is not None:
            self.model.critic.load_state_dict(payload["critic"])
        self.optimizer.load_state_dict(payload["optimizer"])
        for group in self.optimizer.param_groups:  # the configured fit.lr wins over the checkpoint's
            group["lr"] = self.fcfg.lr
        self.step = int(payload["step"])


def save_checkpoint(directory: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``DIR/generator.pt`` atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / CHECKPOINT_FILE
    tmp = directory / f".{CHECKPOINT_FILE}.tmp-{os.getpid()}"
    torch.save(payload, tmp)
    os.replace(tmp, final)
    return final


def find_checkpoint(path: str | Path) -> Path:
    """A ``generator.pt`` file, a directory holding one, or a fit output dir (``checkpoint/generator.pt``)."""
    path = Path(path)
    for candidate in (path, path / CHECKPOINT_FILE, path / "checkpoint" / CHECKPOINT_FILE):
        if candidate.is_file():
            return candidate
    raise UserError(f"{path}: no generator checkpoint ({CHECKPOINT_FILE}) there; run python -m rayeaq.fit first")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with ``torch.load(weights_only=True)``."""
    file = find_checkpoint(path)
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file
        raise UserError(f"{file}: not a readable generator checkpoint ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{file}: not a generator checkpoint of format {CHECKPOINT_FORMAT}")
    return payload

"""One omsd run (``evaluate.algorithm: omsd``): stage 1 from its artifact (or fitted, in Ray tasks when
``evaluate.learners > 0``), stage 2 for ``evaluate.updates`` round-robin rounds, greedy rollouts on the vmapped MPE;
the result files of :mod:`rayeaq.learners.box_offline`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from rayeaq.core.runinfo import derive_seed
from rayeaq.data.card import read_card
from rayeaq.learners.box_offline import Batch, BoxData, LoopSettings, load_box_data, train_and_evaluate
from rayeaq.learners.dom2.networks import ResidualNoiseNet
from rayeaq.learners.dom2.solver import VPSchedule
from rayeaq.learners.omsd.actors import DeterministicActor, joint_actions, round_robin_step
from rayeaq.learners.omsd.config import OmsdConfig
from rayeaq.learners.omsd.iql import IQLCritic
from rayeaq.learners.omsd.stages import (
    Data,
    assemble_stage1,
    load_stage1,
    run_stage1_unit,
    save_stage1,
    stage1_fingerprint,
    stage1_units,
)
from rayeaq.learners.registry import Report


def stage1_data(data: BoxData) -> Data:
    """The transitions omsd reads: team reward (the centralised critic's), the state for Q(s, a) and eps_i."""
    t = data.tensors()
    return {k: t[k] for k in ("obs", "state", "actions", "next_obs", "next_state", "done")} | {
        "reward": t["team_reward"]
    }


def data_fingerprint(sources: list[tuple[str, float]]) -> str:
    """sha256 of the mixture: every dataset's card fingerprint and weight."""
    parts = [(read_card(p).fingerprint, w) for p, w in sources]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def stage1(
    cfg: OmsdConfig, data: Data, fingerprint: str, root: Path, seed: int, parallel: int, cpus: float
) -> tuple[IQLCritic, list[ResidualNoiseNet], dict[str, Any]]:
    """The artifact ``root/<fingerprint[:16]>``: loaded when it exists, else fitted (``parallel`` Ray tasks of
    ``cpus`` CPUs, or in this process when ``parallel == 0``), written to a private directory and renamed into
    place (a concurrent trial that finished first wins; its artifact is read)."""
    final = root / fingerprint[:16]
    info: dict[str, Any] = {"fingerprint": fingerprint, "dir": str(final)}
    if (final / "stage1.json").is_file():
        critic, scores = load_stage1(final, cfg, fingerprint)
        return critic, scores, info | {"reused": True, "fit_s": 0.0}
    start = time.perf_counter()
    units = stage1_units(data["actions"].shape[1])
    if parallel > 0:
        from rayeaq.learners.omsd.ray_stage1 import fit_units_ray

        results = fit_units_ray(cfg, data, units, seed, parallel, cpus)
    else:
        results = {u: run_stage1_unit(cfg, data, u, seed) for u in units}
    critic, scores = assemble_stage1(cfg, data, results)
    fit_s = time.perf_counter() - start
    tmp = root / f".tmp-{fingerprint[:16]}-{os.getpid()}"
    save_stage1(tmp, cfg, data, critic, scores, fingerprint)
    try:
        tmp.rename(final)
    except OSError:  # another run wrote it meanwhile: same fingerprint, same content
        shutil.rmtree(tmp, ignore_errors=True)
    critic, scores = load_stage1(final, cfg, fingerprint)
    return critic, scores, info | {"reused": False, "fit_s": round(fit_s, 2), "units": units, "parallel": parallel}


class OmsdStage2:
    """Deterministic per-agent actors trained round-robin against the frozen stage-1 models."""

    def __init__(self, cfg: OmsdConfig, critic: IQLCritic, scores: list[ResidualNoiseNet], data: Data, seed: int):
        _, n, da = data["actions"].shape
        self.cfg, self.critic, self.scores = cfg, critic.requires_grad_(False), scores
        for model in scores:
            model.requires_grad_(False)
        torch.manual_seed(derive_seed(seed, "omsd", "actors", "init"))
        self.gen = torch.Generator().manual_seed(derive_seed(seed, "omsd", "actors", "batches"))
        self.schedule = VPSchedule(cfg.n_timesteps)
        self.actors = [DeterministicActor(data["obs"].shape[-1], da, cfg.actor_hidden) for _ in range(n)]
        self.opts: list[torch.optim.Optimizer] = [
            torch.optim.Adam(a.parameters(), lr=cfg.actor_lr) for a in self.actors
        ]

    def update(self, batch: Batch) -> dict[str, float]:
        c = self.cfg
        return round_robin_step(
            self.actors,
            self.opts,
            self.critic,
            self.scores,
            self.schedule,
            batch,
            c.beta,
            c.sequential,
            c.score_t_min,
            c.score_t_max,
            c.score_samples,
            self.gen,
        )

    @torch.no_grad()
    def act_unit(self, obs: torch.Tensor) -> torch.Tensor:
        return joint_actions(self.actors, obs)

    def state_dict(self) -> dict[str, Any]:
        return {f"actor_{i}": a.state_dict() for i, a in enumerate(self.actors)}


def run_omsd(cfg: Any, sources: list[tuple[str, float]], out: Path, report: Report | None) -> dict[str, Any]:
    """Stage 1 (artifact), then ``evaluate.updates`` stage-2 rounds; writes the result files into ``out``."""
    o: OmsdConfig = cfg.omsd
    e = cfg.evaluate
    torch.set_num_threads(e.torch_threads)
    data = load_box_data(sources, cfg.seed, "omsd")
    tensors = stage1_data(data)
    fingerprint = stage1_fingerprint(o, data_fingerprint(sources), cfg.seed)
    root = Path(o.stage1_dir) if o.stage1_dir else Path(out).resolve().parent / "omsd_stage1"
    critic, scores, info = stage1(o, tensors, fingerprint, root, cfg.seed, e.learners, e.cpus_per_learner)
    settings = LoopSettings(
        "omsd",
        e.updates,
        e.eval_interval,
        e.eval_episodes,
        e.final_eval_episodes,
        e.eval_envs,
        o.batch_size,
        e.checkpoint,
    )
    learner = OmsdStage2(o, critic, scores, tensors, cfg.seed)
    return train_and_evaluate(
        learner, data, settings, cfg.seed, sources, Path(out), report, {"omsd": o.model_dump(), "stage1": info}
    )

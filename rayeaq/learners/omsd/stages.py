"""The two stages as plain functions over a transition dict (pure torch; a Ray task can run each stage-1 unit).

Transitions: ``obs [M,N,Do]``, ``state [M,Ds]``, ``actions [M,N,Da]`` in [-1,1], ``reward [M]``,
``next_obs``, ``next_state``, ``done [M]``. Stage 1 is N + 1 independent units (the critic, one score model per
agent) that share nothing but the data; :func:`save_stage1` writes them with a fingerprint of the data and of the
settings they depend on, so stage-2 runs with other betas or seeds reuse them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from rayeaq.core.errors import UserError
from rayeaq.core.runinfo import derive_seed
from rayeaq.learners.dom2.networks import ResidualNoiseNet
from rayeaq.learners.dom2.solver import VPSchedule
from rayeaq.learners.omsd.actors import DeterministicActor, round_robin_step
from rayeaq.learners.omsd.config import OmsdConfig
from rayeaq.learners.omsd.iql import IQLCritic, iql_step
from rayeaq.learners.omsd.score import make_score_model, score_loss

Data = dict[str, torch.Tensor]

STAGE1_KEYS = (
    "gamma",
    "expectile",
    "critic_lr",
    "critic_hidden",
    "target_tau",
    "critic_updates",
    "score_updates",
    "score_lr",
    "score_hidden",
    "score_blocks",
    "n_timesteps",
    "sequential",
    "batch_size",
)
"""The config fields stage 1 depends on (part of its fingerprint); the others only matter to stage 2."""


def minibatch(data: Data, batch_size: int, generator: torch.Generator) -> Data:
    """Uniform draw with replacement of ``batch_size`` rows of every tensor in ``data``."""
    n = next(iter(data.values())).shape[0]
    idx = torch.randint(0, n, (batch_size,), generator=generator)
    return {k: v[idx] for k, v in data.items()}


def dims(data: Data) -> tuple[int, int, int, int]:
    """``(n_agents, obs_dim, state_dim, action_dim)`` of a transition dict."""
    _, n, da = data["actions"].shape
    return n, data["obs"].shape[-1], data["state"].shape[-1], da


def fit_critic(cfg: OmsdConfig, data: Data, seed: int) -> IQLCritic:
    """Stage-1 unit: the IQL critic Q(s, a), V(s) after ``cfg.critic_updates`` updates."""
    n, _, ds, da = dims(data)
    torch.manual_seed(derive_seed(seed, "omsd", "critic", "init"))
    gen = torch.Generator().manual_seed(derive_seed(seed, "omsd", "critic", "batches"))
    critic = IQLCritic(ds, n * da, cfg.critic_hidden)
    opt = torch.optim.Adam(list(critic.q.parameters()) + list(critic.v.parameters()), lr=cfg.critic_lr)
    for _ in range(cfg.critic_updates):
        iql_step(critic, opt, minibatch(data, cfg.batch_size, gen), cfg.gamma, cfg.expectile, cfg.target_tau)
    return critic


def fit_score(cfg: OmsdConfig, data: Data, agent: int, seed: int) -> ResidualNoiseNet:
    """Stage-1 unit: agent ``agent``'s conditional score model after ``cfg.score_updates`` updates."""
    _, _, ds, da = dims(data)
    torch.manual_seed(derive_seed(seed, "omsd", "score", agent, "init"))
    gen = torch.Generator().manual_seed(derive_seed(seed, "omsd", "score", agent, "batches"))
    schedule = VPSchedule(cfg.n_timesteps)
    model = make_score_model(ds, da, agent, cfg.sequential, cfg.n_timesteps, cfg.score_hidden, cfg.score_blocks)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.score_lr)
    for _ in range(cfg.score_updates):
        b = minibatch(data, cfg.batch_size, gen)
        loss = score_loss(model, schedule, b["state"], b["actions"], agent, cfg.sequential, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def train_actors(
    cfg: OmsdConfig, data: Data, critic: IQLCritic | None, scores: list[ResidualNoiseNet], seed: int, rounds: int
) -> list[DeterministicActor]:
    """Stage 2: ``rounds`` round-robin rounds; the critic and score models stay frozen."""
    n, do, _, da = dims(data)
    torch.manual_seed(derive_seed(seed, "omsd", "actors", "init"))
    gen = torch.Generator().manual_seed(derive_seed(seed, "omsd", "actors", "batches"))
    schedule = VPSchedule(cfg.n_timesteps)
    for module in ([critic] if critic is not None else []) + list(scores):
        module.requires_grad_(False)
    actors = [DeterministicActor(do, da, cfg.actor_hidden) for _ in range(n)]
    opts: list[torch.optim.Optimizer] = [torch.optim.Adam(a.parameters(), lr=cfg.actor_lr) for a in actors]
    for _ in range(rounds):
        round_robin_step(
            actors,
            opts,
            critic,
            scores,
            schedule,
            minibatch(data, cfg.batch_size, gen),
            cfg.beta,
            cfg.sequential,
            cfg.score_t_min,
            cfg.score_t_max,
            cfg.score_samples,
            gen,
        )
    return actors


def stage1_units(n_agents: int) -> list[str]:
    """Names of the independent stage-1 work units: ``critic`` and ``score_<i>`` per agent."""
    return ["critic"] + [f"score_{i}" for i in range(n_agents)]


def run_stage1_unit(cfg: OmsdConfig, data: Data, unit: str, seed: int) -> dict[str, torch.Tensor]:
    """One stage-1 unit (what a Ray task runs): trains it and returns its ``state_dict`` (plain tensors)."""
    if unit == "critic":
        return fit_critic(cfg, data, seed).state_dict()
    if unit.startswith("score_"):
        return fit_score(cfg, data, int(unit.removeprefix("score_")), seed).state_dict()
    raise ValueError(f"expected 'critic' or 'score_<i>', got {unit!r}")


def assemble_stage1(
    cfg: OmsdConfig, data: Data, results: dict[str, dict[str, torch.Tensor]]
) -> tuple[IQLCritic, list[ResidualNoiseNet]]:
    """Modules from the units' state dicts (``{unit: state_dict}``, as :func:`run_stage1_unit` returns them)."""
    n, _, ds, da = dims(data)
    critic = IQLCritic(ds, n * da, cfg.critic_hidden)
    critic.load_state_dict(results["critic"])
    scores = []
    for i in range(n):
        model = make_score_model(ds, da, i, cfg.sequential, cfg.n_timesteps, cfg.score_hidden, cfg.score_blocks)
        model.load_state_dict(results[f"score_{i}"])
        scores.append(model.eval())
    return critic, scores


def stage1_fingerprint(cfg: OmsdConfig, data_fingerprint: str, seed: int) -> str:
    """sha256 of the data's fingerprint, the stage-1 settings (:data:`STAGE1_KEYS`) and the seed."""
    settings = {k: getattr(cfg, k) for k in STAGE1_KEYS}
    text = json.dumps({"data": data_fingerprint, "settings": settings, "seed": seed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def save_stage1(
    directory: str | Path,
    cfg: OmsdConfig,
    data: Data,
    critic: IQLCritic,
    scores: list[ResidualNoiseNet],
    fingerprint: str,
) -> Path:
    """Write ``critic.pt``, ``score_<i>.pt`` and ``stage1.json`` (fingerprint, settings, sizes) into ``directory``;
    the JSON is written last, so a directory without it is not a finished artifact."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(critic.state_dict(), out / "critic.pt")
    for i, model in enumerate(scores):
        torch.save(model.state_dict(), out / f"score_{i}.pt")
    meta = {
        "fingerprint": fingerprint,
        "settings": {k: getattr(cfg, k) for k in STAGE1_KEYS},
        "dims": dict(zip(("n_agents", "obs_dim", "state_dim", "action_dim"), dims(data), strict=True)),
    }
    tmp = out / "stage1.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
    tmp.rename(out / "stage1.json")
    return out


def load_stage1(directory: str | Path, cfg: OmsdConfig, fingerprint: str) -> tuple[IQLCritic, list[ResidualNoiseNet]]:
    """Read an artifact written by :func:`save_stage1`; a missing or mismatched fingerprint is a one-line error."""
    path = Path(directory)
    meta_path = path / "stage1.json"
    if not meta_path.is_file():
        raise UserError(f"{path}: no finished omsd stage-1 artifact (stage1.json missing)")
    meta = json.loads(meta_path.read_text())
    if meta["fingerprint"] != fingerprint:
        raise UserError(
            f"{path}: stage-1 fingerprint {meta['fingerprint'][:12]} does not match the data and "
            f"settings of this run ({fingerprint[:12]})"
        )
    d = meta["dims"]
    critic = IQLCritic(d["state_dim"], d["n_agents"] * d["action_dim"], cfg.critic_hidden)
    critic.load_state_dict(torch.load(path / "critic.pt", weights_only=True))
    scores = []
    for i in range(d["n_agents"]):
        model = make_score_model(
            d["state_dim"], d["action_dim"], i, cfg.sequential, cfg.n_timesteps, cfg.score_hidden, cfg.score_blocks
        )
        model.load_state_dict(torch.load(path / f"score_{i}.pt", weights_only=True))
        scores.append(model.eval())
    return critic, scores

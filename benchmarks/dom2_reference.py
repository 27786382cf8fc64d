"""DOM2's eta = 0 diffusion actor against a minimal reference diffusion policy, on the same data and batches.

    python benchmarks/dom2_reference.py --data DIR [--updates 4000] [--evals 1000 2000 4000] [--episodes 50]
        [--variants ours64 ours256 reference] [--seed 0] [--json OUT]

Why this reference: Diffusion-QL (Wang et al. 2023, github.com/Zhendong-Wang/Diffusion-Policies-for-Offline-RL)
is the diffusion behaviour policy most offline-RL diffusion learners start from and is known to fit multimodal
action distributions within thousands of updates: a 3-layer 256-unit Mish MLP on ``[a_t, o, emb(t)]``, the
variance-preserving schedule discretised to T = 5 steps (``vp_beta_schedule``), epsilon prediction, and
ancestral DDPM sampling that clips the predicted clean action to the box at every step. Written here from that
description (no code copied). If it learns the data's action distribution where DOM2's actor does not, the
difference is in our actor (network, schedule, solver); if neither learns it, the data are hard for a diffusion
behaviour model at this budget.

Every variant trains per agent (no parameter sharing, as DOM2), Adam 3e-4, batch 256, on the *same* minibatch
each update (interleaved, so load hits all alike). At each ``--evals`` point, on 2 000 training observations:
the fraction of sampled actions within 0.1 (max-norm) of the scripted expert's action (the medium data: 0.367),
the fraction at the box edge, the std; then the greedy normalized score of ``--episodes`` held-out episodes
(``box_offline.evaluate_learner``). Variants ``ours64`` / ``ours256``: ``BatchedDom2Learner.update_actor`` with
eta = 0 (Eq. 3), widths 64 (the default) and 256; ``reference``: the Diffusion-QL recipe above.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from dom2_diagnose import action_stats, actor_step, probe  # noqa: E402
from torch import nn  # noqa: E402


def vp_betas(steps: int, b_min: float = 0.1, b_max: float = 10.0) -> torch.Tensor:
    """Diffusion-QL's ``vp_beta_schedule``: the VP SDE (beta in [b_min, b_max]) discretised to ``steps`` -> [T]."""
    t = torch.arange(1, steps + 1, dtype=torch.float64)
    alpha = torch.exp(-b_min / steps - 0.5 * (b_max - b_min) * (2 * t - 1) / steps**2)
    return 1.0 - alpha


class ReferenceNoiseNet(nn.Module):
    """``eps(a_t [B,Da], o [B,Do], t [B]) -> [B,Da]``: Diffusion-QL's MLP (t embedding 16, three 256 Mish layers)."""

    freqs: torch.Tensor  # registered buffer

    def __init__(self, action_dim: int, obs_dim: int, hidden: int = 256, t_dim: int = 16) -> None:
        super().__init__()
        half = t_dim // 2
        self.register_buffer("freqs", torch.exp(torch.arange(half) * -(math.log(10_000.0) / (half - 1))))
        self.time = nn.Sequential(nn.Linear(t_dim, 2 * t_dim), nn.Mish(), nn.Linear(2 * t_dim, t_dim))
        self.mid = nn.Sequential(
            nn.Linear(action_dim + obs_dim + t_dim, hidden),
            nn.Mish(),
            nn.Linear(hidden, hidden),
            nn.Mish(),
            nn.Linear(hidden, hidden),
            nn.Mish(),
            nn.Linear(hidden, action_dim),
        )

    def forward(self, a: torch.Tensor, obs: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x = t.float()[:, None] * self.freqs[None, :]
        emb = self.time(torch.cat([x.sin(), x.cos()], dim=-1))
        return self.mid(torch.cat([a, obs, emb], dim=-1))


class ReferencePolicy:
    """N independent Diffusion-QL behaviour policies (eta = 0): ``update(obs [N,B,Do], act [N,B,Da])``."""

    def __init__(self, n: int, obs_dim: int, action_dim: int, steps: int, seed: int) -> None:
        torch.manual_seed(seed)
        self.nets = [ReferenceNoiseNet(action_dim, obs_dim) for _ in range(n)]
        self.opts = [torch.optim.Adam(m.parameters(), lr=3e-4) for m in self.nets]
        self.gen = torch.Generator().manual_seed(seed + 1)
        betas = vp_betas(steps)
        abar = torch.cumprod(1 - betas, 0)
        abar_prev = torch.cat([torch.ones(1, dtype=abar.dtype), abar[:-1]])
        self.steps, self.action_dim = steps, action_dim
        self.sqrt_abar, self.sqrt_1m_abar = abar.sqrt().float(), (1 - abar).sqrt().float()
        self.recip, self.recipm1 = (1 / abar).sqrt().float(), (1 / abar - 1).sqrt().float()
        self.coef1 = (betas * abar_prev.sqrt() / (1 - abar)).float()
        self.coef2 = ((1 - abar_prev) * (1 - betas).sqrt() / (1 - abar)).float()
        self.log_var = torch.log((betas * (1 - abar_prev) / (1 - abar)).clamp_min(1e-20)).float()

    def update(self, obs: torch.Tensor, act: torch.Tensor) -> float:
        total = 0.0
        for j, (net, opt) in enumerate(zip(self.nets, self.opts, strict=True)):
            b = obs.shape[1]
            t = torch.randint(0, self.steps, (b,), generator=self.gen)
            noise = torch.randn(act[j].shape, generator=self.gen)
            noisy = self.sqrt_abar[t][:, None] * act[j] + self.sqrt_1m_abar[t][:, None] * noise
            loss = (net(noisy, obs[j], t) - noise).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) / len(self.nets)
        return total

    @torch.no_grad()
    def act_unit(self, obs: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """``obs [B,N,Do]`` -> ``[B,N,Da]``: ancestral DDPM sampling, predicted clean action clipped per step."""
        gen = gen if gen is not None else torch.Generator().manual_seed(12345)
        out = []
        for j, net in enumerate(self.nets):
            o = obs[:, j]
            x = torch.randn((o.shape[0], self.action_dim), generator=gen)
            for i in reversed(range(self.steps)):
                t = torch.full((o.shape[0],), i, dtype=torch.long)
                x0 = (self.recip[i] * x - self.recipm1[i] * net(x, o, t)).clamp(-1, 1)
                mean = self.coef1[i] * x0 + self.coef2[i] * x
                x = mean + (0.5 * self.log_var[i]).exp() * torch.randn(x.shape, generator=gen) if i > 0 else mean
            out.append(x.clamp(-1, 1))
        return torch.stack(out, dim=1)

    def state_dict(self) -> dict:
        return {f"net{j}": m.state_dict() for j, m in enumerate(self.nets)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="an omar_spread dataset directory")
    p.add_argument("--updates", type=int, default=4000)
    p.add_argument("--evals", type=int, nargs="+", default=[1000, 2000, 4000])
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", nargs="+", default=["ours64", "ours256", "reference"])
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)

    from rayeaq.learners.box_offline import evaluate_learner, load_box_data
    from rayeaq.learners.dom2.config import Dom2Config
    from rayeaq.learners.dom2.run import Dom2Run

    torch.set_num_threads(1)
    data = load_box_data([(str(args.data), 1.0)], args.seed, "dom2", [])
    if data.card.map != "omar_spread":
        print(f"dom2_reference: {args.data}: expected an omar_spread dataset, got {data.card.map!r}", file=sys.stderr)
        return 2
    arrays = data.sampler.arrays
    _, n, do = arrays["obs"].shape
    da = arrays["actions"].shape[-1]
    probe_obs, probe_actions, expert = probe(arrays)
    obs = torch.from_numpy(probe_obs).float()
    print(json.dumps({"data": action_stats(probe_actions, expert)}), flush=True)

    runs: dict[str, object] = {}
    for name in args.variants:
        if name.startswith("ours"):
            runs[name] = Dom2Run(Dom2Config(eta=0.0, batch_size=256, actor_hidden=int(name[4:])), data, args.seed)
        elif name == "reference":
            runs[name] = ReferencePolicy(n, do, da, steps=5, seed=args.seed)
        else:
            print(f"dom2_reference: --variants: unknown {name!r} (ours64, ours256, reference)", file=sys.stderr)
            return 2
    train_s = dict.fromkeys(runs, 0.0)
    loss = dict.fromkeys(runs, 0.0)
    rows = []
    for update in range(1, args.updates + 1):
        batch = data.sample(256)
        o, a = batch["obs"].transpose(0, 1), batch["actions"].transpose(0, 1)
        for name, run in runs.items():
            t0 = time.process_time()
            if isinstance(run, ReferencePolicy):
                loss[name] = 0.98 * loss[name] + 0.02 * run.update(o, a)
            else:
                bc_loss = actor_step(run.learner, batch)["bc_loss"]  # type: ignore[attr-defined]
                loss[name] = 0.98 * loss[name] + 0.02 * bc_loss
            train_s[name] += time.process_time() - t0
        if update not in args.evals:
            continue
        for name, run in runs.items():
            acts = run.act_unit(obs).numpy()  # type: ignore[attr-defined]
            ev = evaluate_learner(run, data, args.seed, args.episodes, min(args.episodes, 100))["row"]  # type: ignore[arg-type]
            row = {
                "variant": name,
                "updates": update,
                "cpu_s": round(train_s[name], 1),
                "loss_ema": round(loss[name], 4),
            }
            row |= action_stats(acts, expert) | {"normalized_score": round(ev["normalized_score"], 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

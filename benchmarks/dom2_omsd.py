"""DOM2 and score-decomposition cores: updates/s, DOM2's sampling cost per solver step, omsd stage-1 speed-up.

    python benchmarks/dom2_omsd.py [--batch 1024] [--seconds 10] [--ray]
    python benchmarks/dom2_omsd.py --dom2-variants [--rounds 3] [--batch 1024]

Sizes are omar_spread's (3 agents, obs 18, state 54 = the agents' observations, 2-d actions) on random
transitions (throughput does not depend on the values). torch threads = 1.

- DOM2: full Algorithm 2 steps (every agent: critic with CQL + target-policy sampling, actor with the Q-loss
  through the 10-step chain, soft updates) per second; ``act`` cost per solver step (3 agents, batch rows).
- omsd: stage-1 critic updates/s, one score model's updates/s, stage-2 round-robin rounds/s.
- ``--ray``: stage 1 as Ray tasks (critic + one score model per agent), 1 vs 2 tasks at a time, wall-clock ratio.
- ``--dom2-variants``: paired DOM2 update rates (variants interleaved round by round, so that a load change hits
  all of them): per-agent networks vs stacked, actor width 256 vs 64, 10 vs 5 solver steps.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import torch

from rayeaq.learners.dom2.batched import BatchedDom2Learner
from rayeaq.learners.dom2.config import Dom2Config
from rayeaq.learners.dom2.learner import Dom2Learner
from rayeaq.learners.dom2.solver import VPSchedule
from rayeaq.learners.omsd.actors import DeterministicActor, round_robin_step
from rayeaq.learners.omsd.config import OmsdConfig
from rayeaq.learners.omsd.iql import IQLCritic, iql_step
from rayeaq.learners.omsd.score import make_score_model, score_loss
from rayeaq.learners.omsd.stages import minibatch, stage1_units

N, DO, DA = 3, 18, 2


def transitions(m: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    obs, nxt = torch.randn(m, N, DO, generator=g), torch.randn(m, N, DO, generator=g)
    return {
        "obs": obs,
        "state": obs.flatten(1),
        "actions": torch.rand(m, N, DA, generator=g) * 2 - 1,
        "reward": torch.randn(m, generator=g),
        "next_obs": nxt,
        "next_state": nxt.flatten(1),
        "done": torch.zeros(m),
    }


def rate(fn, seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (after one warm-up call)."""
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--ray", action="store_true")
    p.add_argument("--stage1-updates", type=int, default=200)
    p.add_argument("--skip-cores", action="store_true", help="only the --ray measurement")
    p.add_argument("--dom2-variants", action="store_true", help="only the paired DOM2 variant rates")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    data = transitions(20_000)
    gen = torch.Generator().manual_seed(1)
    if args.dom2_variants:
        return dom2_variants(args, data, gen)

    if args.skip_cores:
        return stage1_speedup(args, data, gen)
    learner = Dom2Learner(Dom2Config(batch_size=args.batch), N, DO, DA, seed=0)
    print(
        f"dom2 update (3 agents, B={args.batch}): "
        f"{rate(lambda: learner.update(minibatch(data, args.batch, gen)), args.seconds):.2f} updates/s"
    )
    obs = data["obs"][: args.batch]
    acts = rate(lambda: learner.act(obs), args.seconds)
    steps = learner.schedule.solver_steps
    print(
        f"dom2 act (3 agents, {args.batch} rows, {steps} steps): {1000 / acts:.2f} ms/call, "
        f"{1000 / acts / steps / N:.3f} ms per solver step per agent"
    )

    cfg = OmsdConfig(batch_size=args.batch)
    critic = IQLCritic(N * DO, N * DA, cfg.critic_hidden)
    opt = torch.optim.Adam(list(critic.q.parameters()) + list(critic.v.parameters()), lr=cfg.critic_lr)
    t = rate(
        lambda: iql_step(critic, opt, minibatch(data, args.batch, gen), cfg.gamma, cfg.expectile, cfg.target_tau),
        args.seconds,
    )
    print(f"omsd IQL critic: {t:.2f} updates/s")
    schedule = VPSchedule(cfg.n_timesteps)
    scores = [
        make_score_model(N * DO, DA, i, True, cfg.n_timesteps, cfg.score_hidden, cfg.score_blocks) for i in range(N)
    ]
    sopt = torch.optim.Adam(scores[-1].parameters(), lr=cfg.score_lr)

    def score_step() -> None:
        b = minibatch(data, args.batch, gen)
        loss = score_loss(scores[-1], schedule, b["state"], b["actions"], N - 1, True, gen)
        sopt.zero_grad()
        loss.backward()
        sopt.step()

    print(f"omsd score model (agent 3, conditioned on s and 2 actions): {rate(score_step, args.seconds):.2f} updates/s")
    for m in [critic, *scores]:
        m.requires_grad_(False)
    actors = [DeterministicActor(DO, DA, cfg.actor_hidden) for _ in range(N)]
    aopts = [torch.optim.Adam(a.parameters(), lr=cfg.actor_lr) for a in actors]
    t = rate(
        lambda: round_robin_step(
            actors,
            aopts,
            critic,
            scores,
            schedule,
            minibatch(data, args.batch, gen),
            cfg.beta,
            True,
            cfg.score_t_min,
            cfg.score_t_max,
            cfg.score_samples,
            gen,
        ),
        args.seconds,
    )
    print(f"omsd stage-2 round (3 actors, {cfg.score_samples} score draws per action): {t:.2f} rounds/s")

    if args.ray:
        stage1_speedup(args, data, gen)


VARIANTS = {
    "per-agent, width 256, 10 solver steps (before)": (Dom2Learner, 256, 10),
    "per-agent, width 64, 10 solver steps": (Dom2Learner, 64, 10),
    "stacked, width 64, 10 solver steps (defaults now)": (BatchedDom2Learner, 64, 10),
    "stacked, width 64, 5 solver steps (fails the bandit tests)": (BatchedDom2Learner, 64, 5),
}


def dom2_variants(args: argparse.Namespace, data: dict[str, torch.Tensor], gen: torch.Generator) -> None:
    """Each round times every variant on the same minibatch (one update after a warm-up); median over rounds."""
    import statistics

    learners = {}
    for name, (cls, width, steps) in VARIANTS.items():
        cfg = Dom2Config(batch_size=args.batch, actor_hidden=width, solver_steps=steps)
        learners[name] = cls(cfg, N, DO, DA, seed=0)
        learners[name].update(minibatch(data, args.batch, gen))  # warm-up
    times: dict[str, list[float]] = {name: [] for name in learners}
    for _ in range(args.rounds):
        b = minibatch(data, args.batch, gen)
        for name, learner in learners.items():
            start = time.perf_counter()
            learner.update(b)
            times[name].append(1 / (time.perf_counter() - start))
    base = statistics.median(times[next(iter(VARIANTS))])
    for name, rates in times.items():
        med = statistics.median(rates)
        print(f"dom2 {name}: {med:.3f} updates/s (rounds {[round(r, 3) for r in rates]}), x{med / base:.1f}")
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")


def stage1_speedup(args: argparse.Namespace, data: dict[str, torch.Tensor], gen: torch.Generator) -> None:
    """Stage 1's N + 1 units through :func:`fit_units_ray` (the learner's adapter), 1 and then 2 tasks at a time."""
    import ray

    from rayeaq.learners.omsd.ray_stage1 import fit_units_ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    n_up = args.stage1_updates
    unit_cfg = OmsdConfig(batch_size=args.batch, critic_updates=n_up, score_updates=n_up)
    small = minibatch(data, 4096, gen)
    names = stage1_units(N)
    for parallel in (1, 2):
        start = time.perf_counter()
        fit_units_ray(unit_cfg, small, names, 0, parallel=parallel, cpus=1.0)
        print(
            f"omsd stage 1 ({len(names)} units x {n_up} updates, B={args.batch}), {parallel} task(s) at a time: "
            f"{time.perf_counter() - start:.1f} s"
        )
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")
    ray.shutdown()


if __name__ == "__main__":
    main()

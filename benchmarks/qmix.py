"""QMIX learner throughput vs torchrl's QMixer + QMixerLoss, and greedy evaluation rollout speed.

    python benchmarks/qmix.py [--map 3m] [--batch 32] [--seconds 20] [--repeats 5] [--quick] [--json OUT]

Same batch (B episodes of SMAX ``map`` sizes, T = episode_limit + 1 rows, i.e. B*(T-1) transitions),
same widths (agent hidden 64, mixer embed 32, hyper-network hidden 64), Adam, gradient clipping 10:

- ours (RLlib): ``LearnerGroup.update`` with the local learner: recurrent agent network over whole episodes,
  double-Q targets with available-action masking, Q_tot TD loss.
- ours (plain torch): the same math, ``QMIXNetworks`` + Adam, no RLlib (RLlib's overhead = the difference).
- torchrl: ``QMixerLoss`` (TD(0), double-Q off: torchrl's default) over the same B*(T-1) transitions with a
  shared-parameter ``MultiAgentMLP`` agent network of the same width (torchrl's QMIX has no recurrent path)
  and torchrl's ``QMixer``, action masks given to ``QValueModule``.

The ratio printed is ours (RLlib) / torchrl (goal >= 1.0). Then: greedy evaluation rollouts on SMAX,
episodes/s. torch threads = 1 (as during evaluation runs, JAX shares the process). The three learners are built
first, then timed in interleaved windows (each side `--seconds / --repeats` per window) after one warm-up window.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import numpy as np
import torch

from rayeaq.envs.smax.maps import smax_spec
from rayeaq.learners.qmix.losses import qmix_loss
from rayeaq.learners.qmix.networks import NetSpec, QMIXNetworks
from rayeaq.learners.qmix.sampler import EpisodeSampler

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test suite's episode makers
from support.random_episodes import toy_episodes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Report, Stats, interleaved


def window(step, seconds: float):
    """A unit of work for the harness: as many ``step()`` calls as fit in ``seconds``; returns the count."""

    def work() -> float:
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            step()
            n += 1
        return float(n)

    return work


def bench_plain(spec: NetSpec, batch: dict):
    nets = QMIXNetworks(spec)
    params = [p for p in nets.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=5e-4)
    tb = {k: torch.from_numpy(v) for k, v in batch.items()}

    def step():
        loss, _ = qmix_loss(nets.train_outputs(tb, 0.99), 0.0)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()

    return step


def bench_rllib(spec: NetSpec, batch: dict):
    from rayeaq.learners.qmix.ray_algorithm import QMIXConfig, to_train_batch

    group = QMIXConfig().debugging(log_level="ERROR").qmix(net=spec).build_learner_group()
    mab = to_train_batch(batch, 1)[0]
    return lambda: group.update(batch=mab, timesteps={})


def bench_torchrl(spec: NetSpec, batch: dict):
    from tensordict import TensorDict
    from tensordict.nn import TensorDictModule
    from torchrl.modules import MultiAgentMLP, QMixer, QValueModule, SafeSequential
    from torchrl.objectives import QMixerLoss, SoftUpdate, ValueEstimators

    n, a = spec.n_agents, spec.n_actions
    din = spec.obs_dim + a + n  # same input as ours: obs, last action, agent id
    agent = TensorDictModule(
        MultiAgentMLP(
            n_agent_inputs=din,
            n_agent_outputs=a,
            n_agents=n,
            centralized=False,
            share_params=True,
            depth=2,
            num_cells=spec.hidden_dim,
            activation_class=torch.nn.ReLU,
        ),
        in_keys=[("agents", "observation")],
        out_keys=[("agents", "action_value")],
    )
    value = QValueModule(
        action_value_key=("agents", "action_value"),
        action_mask_key=("agents", "action_mask"),
        out_keys=[("agents", "action"), ("agents", "action_value"), ("agents", "chosen_action_value")],
        action_space="categorical",
    )
    qnet = SafeSequential(agent, value)
    mixer = TensorDictModule(
        QMixer(state_shape=(spec.state_dim,), mixing_embed_dim=spec.mixing_embed_dim, n_agents=n, device="cpu"),
        in_keys=[("agents", "chosen_action_value"), "state"],
        out_keys=["chosen_action_value"],
    )
    loss = QMixerLoss(qnet, mixer, delay_value=True, action_space="categorical")
    loss.set_keys(
        action_value=("agents", "action_value"),
        local_value=("agents", "chosen_action_value"),
        global_value="chosen_action_value",
        action=("agents", "action"),
    )
    loss.make_value_estimator(ValueEstimators.TD0, gamma=0.99)
    updater = SoftUpdate(loss, eps=0.995)
    opt = torch.optim.Adam(loss.parameters(), lr=5e-4)

    # Same transitions as our batch, flattened: row t -> t + 1 for every (episode, t < T-1).
    obs = torch.from_numpy(batch["obs"])
    b, t = obs.shape[:2]
    last = np.concatenate([np.full_like(batch["actions"][:, :1], -1), batch["actions"][:, :-1]], 1)
    from rayeaq.learners.qmix.controller import build_inputs

    x = build_inputs(obs, torch.from_numpy(last), a, True)
    m = b * (t - 1)

    def flat(v):
        return v.reshape(m, *v.shape[2:])

    avail = torch.from_numpy(batch["avail_actions"])
    td = TensorDict(
        {
            "agents": {
                "observation": flat(x[:, :-1]),
                "action": flat(torch.from_numpy(batch["actions"][:, :-1])),
                "action_mask": flat(avail[:, :-1]),
            },
            "state": flat(torch.from_numpy(batch["state"][:, :-1])),
            "next": {
                "agents": {"observation": flat(x[:, 1:]), "action_mask": flat(avail[:, 1:])},
                "state": flat(torch.from_numpy(batch["state"][:, 1:])),
                "reward": flat(torch.from_numpy(batch["reward"][:, :-1])).unsqueeze(-1),
                "done": flat(torch.from_numpy(batch["terminated"][:, :-1])).unsqueeze(-1),
                "terminated": flat(torch.from_numpy(batch["terminated"][:, :-1])).unsqueeze(-1),
            },
        },
        batch_size=[m],
    )
    params = list(loss.parameters())

    def step():
        out = loss(td)
        opt.zero_grad()
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        updater.step()

    return step


def bench_rollouts(map_name: str, n_envs: int, episodes: int) -> tuple[float, float]:
    from rayeaq.envs.config import EnvConfig
    from rayeaq.learners.qmix.ray_rollout import LocalRollout

    env_cfg = EnvConfig(map=map_name)
    s = smax_spec(map_name, env_cfg.resolved_episode_limit)
    spec = NetSpec(s.n_agents, s.n_actions, s.obs_shape, s.state_shape)
    state = {k: v.numpy() for k, v in QMIXNetworks(spec).state_dict().items()}
    runner = LocalRollout(env_cfg, spec, n_envs)
    runner.run(state, np.arange(n_envs))  # JIT compile
    start = time.perf_counter()
    res = runner.run(state, np.arange(episodes))
    dt = time.perf_counter() - start
    return episodes / dt, float(res.length.sum()) / dt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--map", default="3m")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seconds", type=float, default=20.0, help="timed seconds per learner, over all repeats")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--eval-envs", type=int, default=64)
    p.add_argument("--eval-episodes", type=int, default=640)
    p.add_argument("--quick", action="store_true", help="3 s per learner, 64 evaluation episodes")
    p.add_argument("--json", default=None, help="also write the figures as JSON (benchmarks/run_all.py)")
    args = p.parse_args()
    if args.quick:
        args.seconds, args.eval_episodes, args.repeats = 3.0, 64, 3
    torch.set_num_threads(1)
    torch.manual_seed(0)
    s = smax_spec(args.map, None)
    ep = toy_episodes(
        args.batch,
        episode_limit=s.episode_limit,
        n_agents=s.n_agents,
        obs_dim=s.obs_shape,
        state_dim=s.state_shape,
        n_actions=s.n_actions,
        seed=0,
    )
    ep.length[:] = s.episode_limit  # full-length episodes: T = episode_limit + 1 rows for every learner
    ep.filled[:, :-1] = True
    batch = EpisodeSampler(ep, 0).take(np.arange(len(ep)))
    spec = NetSpec(s.n_agents, s.n_actions, s.obs_shape, s.state_shape)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, torch {torch.__version__} (1 thread)")
    print(
        f"batch: {args.batch} episodes x {batch['obs'].shape[1]} rows ({args.batch * (batch['obs'].shape[1] - 1)} "
        f"transitions), map {args.map}: N={s.n_agents} obs={s.obs_shape} state={s.state_shape} A={s.n_actions}"
    )
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    sides = [bench_rllib(spec, batch), bench_plain(spec, batch), bench_torchrl(spec, batch)]
    # each side runs args.seconds in all, in `repeats` windows interleaved with the others' (load hits all alike)
    ours, plain, trl = interleaved([window(s, args.seconds / args.repeats) for s in sides], args.repeats, warmup=1)
    ray.shutdown()
    eps, steps = bench_rollouts(args.map, args.eval_envs, args.eval_episodes)
    print(f"greedy evaluation rollouts ({args.eval_envs} envs vmapped): {eps:.1f} episodes/s, {steps:.0f} env-steps/s")
    report = Report(
        f"QMIX learner: {args.map}, batch {args.batch} full-length episodes, {args.seconds:g} s per side "
        f"in {args.repeats} interleaved windows"
    )
    report.add("torchrl QMixer + QMixerLoss (feed-forward agent)", trl, "updates/s")
    report.add(
        "ours, RLlib LearnerGroup (GRU agent)",
        ours,
        "updates/s",
        reference="torchrl QMixer + QMixerLoss (feed-forward agent)",
    )
    report.add("ours, plain torch (GRU agent)", plain, "updates/s", reference="ours, RLlib LearnerGroup (GRU agent)")
    report.add("greedy evaluation rollouts", Stats([steps]), "env-steps/s", note="one timing after JIT")
    report.notes.append("torchrl's agent is feed-forward (its QMIX has no recurrent path): not the same work yet")
    print(report.text())
    if args.json:
        report.save(args.json)


if __name__ == "__main__":
    main()

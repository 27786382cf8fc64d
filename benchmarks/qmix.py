"""QMIX learner throughput vs torchrl's QMixer + QMixerLoss, and greedy evaluation rollout speed.

    python benchmarks/qmix.py [--map 3m] [--batch 32] [--seconds 20] [--repeats 5] [--quick] [--json OUT]

Same batch (B episodes of SMAX ``map`` sizes, T = episode_limit + 1 rows, i.e. B*(T-1) transitions),
same widths (agent hidden 64, mixer embed 32, hyper-network hidden 64), Adam, gradient clipping 10:

- torchrl (:func:`bench_torchrl`): ``QMixerLoss`` with a recurrent agent built from torchrl modules (``MLP``,
  ``GRUModule`` in recurrent mode), ``QValueModule`` with the action masks, torchrl's ``QMixer``; TD(0), the
  target network's own masked greedy next action (``QMixerLoss`` has no double-Q), hard target copies.
- ours (RLlib): ``LearnerGroup.update`` with the local learner, with torchrl's options (:data:`FAIR`:
  no double-Q, TD(0), no conservative term): recurrent agent over whole episodes, masks, Q_tot TD loss.
- ours (plain torch): the same math, ``QMIXNetworks`` + Adam, no RLlib (RLlib's overhead = the difference).
- ours (RLlib) with the evaluator's defaults (:data:`DEFAULTS`): what an evaluation run costs per update, on the
  full-length batch and on the batch the sampler gives when the longest episode drawn is ``--trim-rows - 1``
  steps (it trims every batch to its longest episode; 3m good-tier data: 19 rows instead of 61).

``--versus-baseline DIR`` instead: the baseline code (a checkout, e.g. main@ff92900) with its defaults against
this code, with the same settings and with ``--new`` ones, CPU seconds per update on batches of a real mixture
(``--data``), and with ``--learning`` the CPU time each needs to the learning level (benchmarks/qmix_baseline.py).

The ratio printed is ours (RLlib) / torchrl (goal >= 1.0). Then: greedy evaluation rollouts on SMAX,
episodes/s. torch threads = 1 (as during evaluation runs, JAX shares the process). The three learners are built
first, then timed in interleaved windows (each side `--seconds / --repeats` per window) after one warm-up window.
"""

from __future__ import annotations

import argparse
import json
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
from qmix_baseline import add_arguments, versus_baseline


def window(step, seconds: float, clock=time.perf_counter):
    """A unit of work for the harness: as many ``step()`` calls as fit in ``seconds`` of ``clock``.

    ``clock = time.process_time`` counts only this process's CPU seconds (the learner is local, torch 1 thread):
    on a machine shared with other jobs the wall clock mostly measures waiting for a core, the CPU clock the work.
    The harness divides what this returns by the window's wall seconds, so the count is scaled by wall / clock
    seconds: the harness's rate is then steps per ``clock`` second.
    """

    def work() -> float:
        n, start, wall = 0, clock(), time.perf_counter()
        while clock() - start < seconds:
            step()
            n += 1
        return n * (time.perf_counter() - wall) / (clock() - start)

    return work


FAIR = {"double_q": False, "td_lambda": 0.0, "cql_weight": 0.0}
"""Our options for the comparison with torchrl's QMixerLoss (no double-Q, TD(0), no conservative term)."""
DEFAULTS = {"double_q": True, "td_lambda": 0.8, "cql_weight": 1.0}
"""The evaluator's defaults (tune_configs/evaluate_3m.yaml: joint term, 20 sampled joint actions)."""


def bench_plain(spec: NetSpec, batch: dict, double_q: bool, td_lambda: float, cql_weight: float):
    """Our update without RLlib: ``QMIXNetworks`` + Adam (hard target copies every 200 updates)."""
    nets = QMIXNetworks(spec)
    params = [p for p in nets.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=5e-4)
    tb = {k: torch.from_numpy(v) for k, v in batch.items()}
    samples = 20 if cql_weight > 0 else 0
    count = [0]

    def step():
        out = nets.train_outputs(tb, 0.99, double_q=double_q, td_lambda=td_lambda, cql_samples=samples)
        loss, _ = qmix_loss(out, cql_weight, "joint")
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        count[0] += 1
        if count[0] % 200 == 0:
            nets.update_targets()

    return step


def bench_rllib(spec: NetSpec, batch: dict, double_q: bool, td_lambda: float, cql_weight: float):
    """Our update through RLlib: ``LearnerGroup.update`` with the local learner."""
    from rayeaq.learners.qmix.ray_algorithm import QMIXConfig, to_train_batch

    cfg = QMIXConfig().debugging(log_level="ERROR")
    cfg.qmix(net=spec, double_q=double_q, td_lambda=td_lambda, cql_weight=cql_weight, cql_kind="joint", cql_samples=20)
    group = cfg.build_learner_group()
    mab = to_train_batch(batch, 1)[0]
    return lambda: group.update(batch=mab, timesteps={})


class TorchrlRecurrentAgent(torch.nn.Module):
    """EPyMARL's recurrent agent from torchrl modules: ``MLP`` (input layer, ReLU) -> ``GRUModule`` in recurrent
    mode over each agent's sequence -> ``MLP`` (Q head). ``x [B, T, N, Din] -> q [B, T, N, A]``.

    torchrl's ``GRUModule`` runs time as the last batch dimension of its TensorDict, while ``QMixerLoss`` needs the
    agents after time (``[B, T, N]``: the mixer mixes the agent dimension), so each call re-lays the agents out as
    ``B*N`` sequences for the GRU (a TensorDict of batch ``[B*N, T]``, ``is_init`` at t = 0) and back."""

    def __init__(self, din: int, hidden: int, n_actions: int) -> None:
        super().__init__()
        from torchrl.modules import MLP, GRUModule

        self.fc1 = MLP(in_features=din, out_features=hidden, depth=0, activate_last_layer=True)
        self.gru = GRUModule(
            input_size=hidden,
            hidden_size=hidden,
            in_keys=["x", "h"],
            out_keys=["y", ("next", "h")],
            default_recurrent_mode=True,
        )
        self.fc2 = MLP(in_features=hidden, out_features=n_actions, depth=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from tensordict import TensorDict

        b, t, n, _ = x.shape
        seq = self.fc1(x).permute(0, 2, 1, 3).reshape(b * n, t, -1)
        is_init = torch.zeros(b * n, t, 1, dtype=torch.bool)
        is_init[:, 0] = True
        td = TensorDict({"x": seq, "is_init": is_init}, batch_size=[b * n, t])
        y = self.gru(td)["y"].reshape(b, n, t, -1).permute(0, 2, 1, 3)
        return self.fc2(y)


def bench_torchrl(spec: NetSpec, batch: dict):
    """torchrl's QMIX, made to do our update's work: a recurrent agent (:class:`TorchrlRecurrentAgent`) over the
    same B episodes, ``QValueModule`` with the action masks, torchrl's ``QMixer`` and ``QMixerLoss`` (target
    networks, TD(0), hard target copies every 200 updates), Adam, clipping 10.

    Why this is the fair reference: it runs the work ours runs per update (an online and a target GRU pass over
    every episode's T - 1 step rows and over the T - 1 next rows, the mixer on both, masked greedy next actions),
    on the same batch, with the same widths, optimiser and threads, through torchrl's own loss. What it cannot
    match: ``QMixerLoss`` has no double-Q (its next action is the target network's own masked argmax), so ours is
    timed with ``double_q=False`` against it (and with our defaults beside); it has no padding mask (the batch is
    full-length episodes, so there is no padding to mask); its target GRU starts the next-state sequence from a
    zero hidden state at row 1 rather than continuing from row 0 (the same amount of work).
    """
    from tensordict import TensorDict
    from tensordict.nn import TensorDictModule
    from torchrl.modules import QMixer, QValueModule, SafeSequential
    from torchrl.objectives import HardUpdate, QMixerLoss, ValueEstimators

    from rayeaq.learners.qmix.controller import build_inputs

    n, a = spec.n_agents, spec.n_actions
    din = spec.obs_dim + a + n  # same input as ours: obs, last action, agent id
    agent = TensorDictModule(
        TorchrlRecurrentAgent(din, spec.hidden_dim, a),
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
    updater = HardUpdate(loss, value_network_update_interval=200)
    opt = torch.optim.Adam(loss.parameters(), lr=5e-4)

    # The same episodes as sequences [B, T', ...]: step rows 0..T-2 and their next rows 1..T-1.
    obs = torch.from_numpy(batch["obs"])
    last = np.concatenate([np.full_like(batch["actions"][:, :1], -1), batch["actions"][:, :-1]], 1)
    x = build_inputs(obs, torch.from_numpy(last), a, True)
    avail = torch.from_numpy(batch["avail_actions"])
    state = torch.from_numpy(batch["state"])
    b, t = obs.shape[:2]
    terminated = torch.from_numpy(batch["terminated"][:, :-1]).unsqueeze(-1)
    td = TensorDict(
        {
            "agents": TensorDict(
                {
                    "observation": x[:, :-1],
                    "action": torch.from_numpy(batch["actions"][:, :-1]).long(),
                    "action_mask": avail[:, :-1],
                },
                batch_size=[b, t - 1, n],
            ),
            "state": state[:, :-1].contiguous(),  # torchrl's QMixer views the state
            "next": {
                "agents": TensorDict({"observation": x[:, 1:], "action_mask": avail[:, 1:]}, batch_size=[b, t - 1, n]),
                "state": state[:, 1:].contiguous(),
                "reward": torch.from_numpy(batch["reward"][:, :-1]).unsqueeze(-1),
                "done": terminated,
                "terminated": terminated,
            },
        },
        batch_size=[b, t - 1],
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
    p.add_argument(
        "--trim-rows",
        type=int,
        default=19,
        help="rows of the trimmed batch (the sampler cuts a batch to its longest episode + 1; 3m good data: 19)",
    )
    p.add_argument("--eval-envs", type=int, default=64)
    p.add_argument("--eval-episodes", type=int, default=640)
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="time windows by wall seconds, or by this process's CPU seconds (a loaded machine: say the load)",
    )
    p.add_argument("--quick", action="store_true", help="3 s per learner, 64 evaluation episodes")
    p.add_argument("--json", default=None, help="also write the figures as JSON (benchmarks/run_all.py)")
    add_arguments(p)  # --versus-baseline DIR and its options: benchmarks/qmix_baseline.py
    args = p.parse_args()
    if args.versus_baseline is not None:
        got = versus_baseline(args)
        if args.json:
            Path(args.json).write_text(json.dumps(got, indent=2))
        return
    if args.quick:
        args.seconds, args.eval_episodes, args.repeats = 3.0, 64, 3
    torch.set_num_threads(1)
    torch.manual_seed(0)
    s = smax_spec(args.map, None)
    sizes = dict(
        episode_limit=s.episode_limit,
        n_agents=s.n_agents,
        obs_dim=s.obs_shape,
        state_dim=s.state_shape,
        n_actions=s.n_actions,
    )
    ep = toy_episodes(args.batch, **sizes, seed=0)
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
    # the same episodes ending after `trim_rows - 1` steps: the sampler trims the batch to trim_rows rows
    short = toy_episodes(args.batch, **sizes, seed=0)
    short.length[:] = args.trim_rows - 1
    short.filled[:] = np.arange(short.filled.shape[1])[None] < args.trim_rows - 1
    trimmed = EpisodeSampler(short, 0).take(np.arange(len(short)))
    sides = [
        bench_rllib(spec, batch, **FAIR),
        bench_plain(spec, batch, **FAIR),
        bench_torchrl(spec, batch),
        bench_rllib(spec, batch, **DEFAULTS),
        bench_rllib(spec, trimmed, **DEFAULTS),
    ]
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    # each side runs args.seconds in all, in `repeats` windows interleaved with the others' (load hits all alike)
    ours, plain, trl, ours_default, ours_trimmed = interleaved(
        [window(s, args.seconds / args.repeats, clock) for s in sides], args.repeats, warmup=1
    )
    ray.shutdown()
    eps, steps = bench_rollouts(args.map, args.eval_envs, args.eval_episodes)
    print(f"greedy evaluation rollouts ({args.eval_envs} envs vmapped): {eps:.1f} episodes/s, {steps:.0f} env-steps/s")
    report = Report(
        f"QMIX learner: {args.map}, batch {args.batch} full-length episodes, {args.seconds:g} s ({args.clock} "
        f"clock) per side in {args.repeats} interleaved windows"
    )
    trl_name = "torchrl QMixerLoss, GRUModule agent, TD(0), target-net max"
    ours_name = "ours, RLlib LearnerGroup, same options as torchrl"
    report.add(trl_name, trl, "updates/s")
    report.add(ours_name, ours, "updates/s", reference=trl_name)
    report.add("ours, plain torch, same options", plain, "updates/s", reference=ours_name)
    report.add(
        "ours, RLlib, evaluator defaults (double-Q, TD(lambda) 0.8, joint term 20 samples)",
        ours_default,
        "updates/s",
        reference=ours_name,
    )
    default_name = "ours, RLlib, evaluator defaults (double-Q, TD(lambda) 0.8, joint term 20 samples)"
    report.add(
        f"ours, RLlib, evaluator defaults, batch trimmed to its longest episode ({args.trim_rows} rows)",
        ours_trimmed,
        "updates/s",
        reference=default_name,
    )
    report.add("greedy evaluation rollouts", Stats([steps]), "env-steps/s", note="one timing after JIT")
    report.notes.append("the same work on both sides: recurrent agents over whole episodes, masks, target nets")
    print(report.text())
    if args.json:
        report.save(args.json)


if __name__ == "__main__":
    main()

"""Online QMIX on RLlib: the offline :class:`~rayeaq.learners.qmix.ray_algorithm.QMIX` learner fed by ε-greedy
rollouts of its own greedy policy on vmapped SMAX, through an episode replay buffer.

One iteration of :func:`run_online`: play ``episodes_per_iteration`` episodes at once with ε annealed by env
steps (:func:`~rayeaq.learners.qmix.online.epsilon_at`; the host-policy collector of ``rayeaq.collect``), add them
to the :class:`~rayeaq.learners.qmix.online.ReplayBuffer`, then ``updates_per_iteration`` LearnerGroup updates
(double-Q TD on Q_tot, targets copied every ``evaluate.target_update_interval`` updates — the offline learner's
loss, unchanged). Every ``eval_every_steps`` env steps: greedy evaluation on fixed seeds and an RLlib checkpoint,
listed with its win rate, return and content fingerprint in ``checkpoints.json`` (each one is usable as a
behaviour policy: ``collect.policy.kind=qmix_checkpoint``, all of them as a ladder: ``qmix_ladder``). The training
episodes go to ``OUT/replay`` (:mod:`rayeaq.stages.online_replay`). Needs Ray initialised.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import torch

from rayeaq.core.runinfo import derive_seed
from rayeaq.envs.config import EnvConfig
from rayeaq.envs.smax.maps import smax_spec
from rayeaq.learners.qmix.config import EvaluateConfig
from rayeaq.learners.qmix.networks import NetSpec
from rayeaq.learners.qmix.online import OnlineConfig, ReplayBuffer, epsilon_at, state_normaliser
from rayeaq.learners.qmix.ray_algorithm import QMIX, QMIXConfig
from rayeaq.learners.qmix.ray_module import MODULE_ID
from rayeaq.learners.qmix.sampler import EpisodeSampler
from rayeaq.stages.collect.assembly import EpisodeAssembler
from rayeaq.stages.online_replay import ReplayRecorder


class OnlineRun(Protocol):
    """The run-config sections online QMIX reads."""

    seed: int
    env: EnvConfig
    evaluate: EvaluateConfig
    online: OnlineConfig


class OnlineQMIX(QMIX):
    """:class:`QMIX` whose sequence batches come from a replay buffer that the driver fills."""

    def use_buffer(self, buffer: ReplayBuffer, states: np.ndarray) -> None:
        """Train from ``buffer``; set the state normaliser once, from the first episodes' states ``[M, Ds]``
        (:func:`~rayeaq.learners.qmix.online.state_normaliser`: features constant in them are not scaled)."""
        mean, std = (torch.from_numpy(a) for a in state_normaliser(states))

        def fit(learner: Any) -> None:
            nets = learner.module[MODULE_ID].unwrapped().nets
            nets.state_mean.copy_(mean)
            nets.state_std.copy_(std)

        self.learner_group.foreach_learner(fit)
        self._sampler = cast(EpisodeSampler, buffer)  # QMIX.training_step draws batches with .sample(batch_size)


def build_online(cfg: OnlineRun) -> OnlineQMIX:
    """The RLlib algorithm: the offline QMIX config with no datasets, the env's sizes and the online cadence."""
    e, spec = cfg.evaluate, smax_spec(cfg.env.map, cfg.env.resolved_episode_limit)
    net = NetSpec(
        n_agents=spec.n_agents,
        n_actions=spec.n_actions,
        obs_dim=spec.obs_shape,
        state_dim=spec.state_shape,
        hidden_dim=e.hidden_dim,
        mixing_embed_dim=e.mixing_embed_dim,
        hypernet_embed=e.hypernet_embed,
        obs_last_action=e.obs_last_action,
        obs_agent_id=e.obs_agent_id,
        mixer=True,
    )
    config = (
        QMIXConfig(algo_class=OnlineQMIX)
        .training(lr=e.lr, gamma=e.gamma, grad_clip=e.grad_clip)
        .debugging(seed=derive_seed(cfg.seed, "online", "torch"), log_level="ERROR")
        .qmix(
            qmix_algorithm="qmix",
            cql_weight=0.0,
            double_q=e.double_q,
            td_lambda=e.td_lambda,
            reward_scale=e.resolved_reward_scale(spec.max_return),
            target_update_interval=e.target_update_interval,
            batch_size_episodes=e.batch_size,
            updates_per_iteration=cfg.online.updates_per_iteration,
            net=net,
            datasets=[],
            env_config=EnvConfig(map=cfg.env.map, episode_limit=spec.episode_limit),
            eval_envs=e.eval_envs,
            eval_seed=derive_seed(cfg.seed, "online", "eval"),
            rollout_workers=e.rollout_workers,
            cpus_per_rollout_worker=e.cpus_per_rollout_worker,
            torch_threads=e.torch_threads,
        )
    )
    return config.build_algo()


def _learner_stats(result: dict) -> dict[str, float]:
    """TD loss and Q-values (in reward-scale units) of the last update of an iteration."""
    stats = result.get("learners", {}).get(MODULE_ID, {})
    return {k: float(np.asarray(stats[k])) for k in ("td_loss", "q_taken_mean", "target_mean") if k in stats}


def _behaviour_stats(recent: list[tuple[float, float]]) -> dict[str, float]:
    """Win rate and mean return of the ε-greedy training episodes played since the last evaluation."""
    if not recent:
        return {}
    won, ret = np.asarray(recent, dtype=np.float64).T
    return {"train_win_rate": float(won.mean()), "train_return_mean": float(ret.mean())}


def run_online(
    cfg: OnlineRun,
    out: str | Path,
    report: Callable[[dict[str, Any]], None] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict:
    """Train online for ``online.env_steps``; writes ``metrics.jsonl``, ``checkpoints.json``, ``checkpoint_*`` and
    last ``summary.json`` (with ``extra`` merged in: its presence marks a finished run)."""
    from rayeaq.envs.smax.batch import SMAXBatchEnv
    from rayeaq.policies.registry import checkpoint_fingerprint
    from rayeaq.stages.collect.host_rollout import run_episodes_host

    o, out = cfg.online, Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = smax_spec(cfg.env.map, cfg.env.resolved_episode_limit)
    env = SMAXBatchEnv(EnvConfig(map=cfg.env.map, episode_limit=spec.episode_limit), o.episodes_per_iteration)
    buffer = ReplayBuffer(spec, o.buffer_episodes, derive_seed(cfg.seed, "online", "replay"))
    recorder = ReplayRecorder(out, spec) if o.record_replay else None
    algo = build_online(cfg)
    rows: list[dict[str, Any]] = []
    checkpoints: list[dict[str, Any]] = []
    (out / "metrics.jsonl").write_text("", encoding="utf-8")
    start = time.perf_counter()
    env_steps = episodes = updates = iteration = 0
    next_eval, ready = 0, False
    learner: dict[str, float] = {}  # the last training iteration's losses and Q-values
    recent: list[tuple[float, float]] = []  # (won, return) of the ε-greedy episodes since the last evaluation
    try:
        while True:
            if env_steps >= next_eval or env_steps >= o.env_steps:
                ev, _ = algo.evaluate_episodes(o.eval_episodes)
                path = Path(algo.save_to_path(str((out / f"checkpoint_{len(checkpoints):04d}").resolve())))
                row = {
                    **ev,
                    "env_steps": env_steps,
                    "train_episodes": episodes,
                    "updates": updates,
                    "epsilon": epsilon_at(o, env_steps),
                    "time_s": round(time.perf_counter() - start, 2),
                    **_behaviour_stats(recent),
                    **learner,
                }
                recent = []
                rows.append(row)
                checkpoints.append(
                    {
                        "path": str(path),
                        "fingerprint": checkpoint_fingerprint(path),
                        **{k: row[k] for k in ("env_steps", "train_episodes", "updates", "win_rate", "return_mean")},
                    }
                )
                with (out / "metrics.jsonl").open("a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
                (out / "checkpoints.json").write_text(json.dumps(checkpoints, indent=2), encoding="utf-8")
                if report is not None:
                    report(row)
                next_eval += o.eval_every_steps
                if env_steps >= o.env_steps:
                    break
            eps = epsilon_at(o, env_steps)
            seeds = np.array(
                [derive_seed(cfg.seed, "online", "episode", episodes + i) for i in range(o.episodes_per_iteration)],
                dtype=np.int64,
            )
            *_, (_, assembler) = run_episodes_host(spec, seeds, eps, algo.greedy_policy(), env=env)
            batch = cast(EpisodeAssembler, assembler).whole()  # stats_only=False: the assembler
            if not ready:
                algo.use_buffer(buffer, batch.state[batch.filled])
                ready = True
            buffer.add(batch)
            if recorder is not None:
                recorder.add(batch, seeds, f"qmix_online(epsilon={eps:.3f})")
            returns = (batch.reward * batch.filled).sum(axis=1)
            recent.extend(zip(batch.won.tolist(), returns.tolist(), strict=True))
            episodes += len(seeds)
            env_steps += int(batch.filled.sum())
            iteration += 1
            if len(buffer) >= o.min_buffer_episodes:
                learner = _learner_stats(algo.train())
                updates += o.updates_per_iteration
    finally:
        algo.stop()
    summary = {
        "map": cfg.env.map,
        "seed": cfg.seed,
        "env_steps": env_steps,
        "episodes": episodes,
        "updates": updates,
        "wall_s": round(time.perf_counter() - start, 1),
        "reward_scale": cfg.evaluate.resolved_reward_scale(spec.max_return),
        "td_lambda": cfg.evaluate.td_lambda,
        "first": rows[0],
        "last": rows[-1],
        "best": max(rows, key=lambda r: (r["win_rate"], r["return_mean"])),
        "checkpoints": str(out / "checkpoints.json"),
        **(extra or {}),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary

"""Host-side collection over SMAC's API: one environment object, one episode at a time, no Ray.

Written against ``reset``, ``get_obs``, ``get_state``, ``get_avail_actions`` and ``step -> (reward,
terminated, info)`` only, so the same loop drives StarCraft II (``smac.env.StarCraft2Env`` behind
:class:`rayeaq.envs.sc2.env.SC2Env`) and SMAX (:class:`rayeaq.envs.smax.env.SMAXEnv`, how CI runs it).
It plays the same :class:`~rayeaq.policies.Candidate` policies as the fused SMAX collector where they need only
SMAC's API (:data:`~rayeaq.stages.collect.smac_policy.BEHAVIOURS`), with the same seeds, shards and dataset
format (:mod:`rayeaq.stages.collect.core`): episode ``i`` of a tier gets ``episode_seeds(root, tier, [i])``,
calibration episode ``i`` ``derive_seed(root, "calibrate", i)`` for every candidate, shards are episode-id
ranges written atomically, and shards already on disk are skipped (a restarted actor resumes where the
crashed one stopped). The Ray adapter is :mod:`rayeaq.stages.collect.ray_smac`.

SMAC conventions handled here: SMAC's ``step`` returns ``terminated=True`` on the time limit too, with
``info["episode_limit"]``; our ``terminated`` row flag is set only for a battle outcome. SMAX is seeded
per episode (``reset(seed=...)``); StarCraft II is seeded once per process (its ``reset`` takes no seed),
so on sc2 the ε draws are per-episode reproducible but the game's own randomness is not.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

from rayeaq.core.runinfo import derive_seed
from rayeaq.data.card import SHARD_DIR
from rayeaq.data.shards import write_shard
from rayeaq.envs.spec import EnvSpec
from rayeaq.policies import Candidate
from rayeaq.stages.collect.assembly import EpisodeBuffer
from rayeaq.stages.collect.core import ShardPlan, episode_seeds
from rayeaq.stages.collect.smac_policy import (
    BEHAVIOURS,
    Behaviour,
    HeuristicBehaviour,
    behaviour_key,
    epsilon_mix,
)


def make_behaviour(env: Any, spec: EnvSpec, candidate: Candidate, cache: dict[str, Behaviour] | None = None):
    """The behaviour that plays ``candidate`` on ``env`` (built once per ``cache``: a checkpoint loads once)."""
    key = f"{behaviour_key(candidate)}:{candidate.checkpoint}"
    if cache is not None and key in cache:
        return cache[key]
    behaviour = BEHAVIOURS.get(behaviour_key(candidate))(env, spec, candidate)
    if cache is not None:
        cache[key] = behaviour
    return behaviour


def _reset(env: Any, seed: int) -> None:
    """``reset(seed=...)`` where the env takes a per-episode seed (SMAX), plain ``reset()`` otherwise (SC2)."""
    if "seed" in inspect.signature(env.reset).parameters:
        env.reset(seed=int(seed))
    else:
        env.reset()


def _observe(env: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(obs [N, Do] float32, state [Ds] float32, avail [N, A] bool) through SMAC's getters."""
    obs = np.asarray(np.stack(env.get_obs()), dtype=np.float32)
    state = np.asarray(env.get_state(), dtype=np.float32)
    avail = np.asarray(env.get_avail_actions(), dtype=np.int64) > 0
    return obs, state, avail


def run_episode(env: Any, spec: EnvSpec, behaviour, seed: int, epsilon: float, buffer: EpisodeBuffer, k: int) -> None:
    """Play one episode and write it into row ``k`` of ``buffer`` (the padded-episode convention of
    :mod:`rayeaq.data.batch`: rows ``t < length`` are steps, row ``length`` the terminal observation)."""
    _reset(env, seed)
    behaviour.start(seed)
    obs, state, avail = _observe(env)
    won = terminal = False
    t = 0
    while t < spec.episode_limit:
        actions = epsilon_mix(behaviour.act(obs, state, avail), avail, epsilon, seed, t)
        if not avail[np.arange(spec.n_agents), actions].all():
            raise RuntimeError(f"behaviour policy chose an unavailable action at step {t}: {actions.tolist()}")
        buffer.obs[k, t], buffer.state[k, t], buffer.avail_actions[k, t] = obs, state, avail
        buffer.actions[k, t] = actions
        reward, terminated, info = env.step(actions.tolist())
        buffer.reward[k, t], buffer.filled[k, t] = float(reward), True
        t += 1
        obs, state, avail = _observe(env)
        truncated = bool(info.get("episode_limit", False))
        if terminated or truncated:
            terminal = bool(terminated) and not truncated
            won = bool(info.get("battle_won", False))
            break
    buffer.obs[k, t], buffer.state[k, t], buffer.avail_actions[k, t] = obs, state, avail
    buffer.terminated[k, t - 1] = terminal
    buffer.length[k], buffer.won[k], buffer.complete[k] = t, won, True


def play(env: Any, spec: EnvSpec, seeds: np.ndarray, epsilon: float, behaviour=None) -> EpisodeBuffer:
    """Episodes for ``seeds`` (one each, in order) in a fresh buffer; ``behaviour`` defaults to the heuristic."""
    behaviour = behaviour or HeuristicBehaviour(env, spec)
    buffer = EpisodeBuffer(spec, len(seeds))
    for k, seed in enumerate(seeds):
        run_episode(env, spec, behaviour, int(seed), epsilon, buffer, k)
    return buffer


def collect_smac_shards(
    env: Any,
    spec: EnvSpec,
    tier: str,
    shards: list[ShardPlan],
    candidate: Candidate,
    root_seed: int,
    dataset_dir: str | Path,
    cache: dict[str, Behaviour] | None = None,
) -> list[dict]:
    """Collect and atomically write every shard of ``shards`` not already on disk (one summary each), playing
    ``candidate`` (:func:`rayeaq.stages.collect.core.collect_shards`'s contract, over SMAC's API)."""
    shard_dir = Path(dataset_dir) / SHARD_DIR
    summaries = []
    behaviour = make_behaviour(env, spec, candidate, cache)
    for plan in shards:
        if (shard_dir / plan.name).is_file():
            summaries.append({"shard": plan.name, "episodes": plan.stop - plan.first, "steps": 0, "skipped": True})
            continue
        seeds = episode_seeds(root_seed, tier, plan.ids)
        buffer = play(env, spec, seeds, candidate.epsilon, behaviour)
        batch = buffer.to_batch(plan.ids, seeds, candidate.label)
        write_shard(shard_dir, batch, plan.name)
        summaries.append({"shard": plan.name, "episodes": len(batch), "steps": batch.transitions, "skipped": False})
    return summaries


def measure_smac_candidates(
    env: Any,
    spec: EnvSpec,
    candidates: list[Candidate],
    n_episodes: int,
    root_seed: int,
    cache: dict[str, Behaviour] | None = None,
) -> list[dict]:
    """Each candidate's own win rate, mean return and length (the rows of
    :func:`rayeaq.stages.collect.core.measure_candidates`, on the same calibration seeds)."""
    seeds = np.array([derive_seed(root_seed, "calibrate", int(i)) for i in range(n_episodes)], dtype=np.int64)
    rows = []
    for candidate in candidates:
        buffer = play(env, spec, seeds, candidate.epsilon, make_behaviour(env, spec, candidate, cache))
        rows.append(
            {
                "policy": candidate.label,
                "candidate": candidate.to_dict(),
                "epsilon": float(candidate.epsilon),
                "win_rate": float(buffer.won.mean()),
                "mean_return": float(buffer.returns().mean()),
                "mean_length": float(buffer.length.mean()),
                "episodes": int(n_episodes),
            }
        )
    return rows

"""Collection with a policy that lives outside JAX (a trained QMIX checkpoint), on the batched SMAX env.

Episodes run in lock-step batches of ``n_slots`` on :class:`rayeaq.envs.smax_batch.SMAXBatchEnv`;
per agent and step the uniform legal action replaces the policy's with probability ε (drawn from a
generator seeded by the episode seed and the step, so an episode does not depend on its batch).
Yields the same ``(completed_positions, EpisodeAssembler | stats)`` stream as
:func:`rayeaq.collect.rollout.run_episodes`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from rayeaq.envs.config import EnvConfig
from rayeaq.envs.spec import EnvSpec
from rayeaq.stages.collect.assembly import EpisodeAssembler


def _random_legal(avail: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """avail [N, A] -> one uniform legal action per agent [N]."""
    u = rng.random(avail.shape) * avail
    return u.argmax(axis=-1)


def run_episodes_host(
    spec: EnvSpec,
    seeds: np.ndarray,
    epsilon: float,
    policy: Callable,
    *,
    n_slots: int = 128,
    stats_only: bool = False,
    shard_sizes: list[int] | None = None,
    env=None,
) -> Iterator[tuple[np.ndarray, EpisodeAssembler | dict[str, np.ndarray]]]:
    """``env``: a :class:`~rayeaq.envs.smax.batch.SMAXBatchEnv` of ``n_slots`` to reuse (compiled once), or None."""
    from rayeaq.envs.smax.batch import SMAXBatchEnv

    n = len(seeds)
    if env is None:
        n_slots = max(1, min(n_slots, n))
        env = SMAXBatchEnv(EnvConfig(map=spec.map, episode_limit=spec.episode_limit), n_slots)
    n_slots = env.n_envs
    sink = EpisodeAssembler(spec, shard_sizes or [n])
    for start in range(0, n, n_slots):
        pos = np.arange(start, min(start + n_slots, n))
        batch_seeds = np.resize(seeds[pos], n_slots)  # pad a short last batch (extra slots ignored)
        obs, state, avail = env.reset(batch_seeds)
        hidden, done = None, np.zeros(n_slots, bool)
        live = np.arange(n_slots) < len(pos)
        for t in range(spec.episode_limit):
            greedy, hidden = policy(obs, avail, hidden)
            actions = np.asarray(greedy).copy()
            for b in np.flatnonzero(live & ~done):
                rng = np.random.default_rng([int(batch_seeds[b]), t])
                explore = rng.random(spec.n_agents) < epsilon
                actions[b] = np.where(explore, _random_legal(avail[b], rng), actions[b])
            next_obs, next_state, next_avail, reward, now_done, won = env.step(actions)
            active = live & ~done
            finished = active & now_done
            record = {
                "pos": np.where(active, np.resize(pos, n_slots), -1),
                "t": np.full(n_slots, t),
                "obs": obs,
                "state": state,
                "avail_actions": avail,
                "actions": actions,
                "reward": reward,
                "done": finished,
                "won": won,
                "terminated": env.last_terminated,
                "next_obs": next_obs,
                "next_state": next_state,
                "next_avail": next_avail,
            }
            sink.add(record)
            obs, state, avail, done = next_obs, next_state, next_avail, now_done
            if (done | ~live).all():
                break
        completed = pos
        yield completed, (_stats(sink) if stats_only else sink)


def _stats(sink: EpisodeAssembler) -> dict[str, np.ndarray]:
    whole = sink.whole()
    return {"return": whole.returns(), "won": whole.won, "length": whole.length}

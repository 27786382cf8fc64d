"""Fused, batched SMAX episode collection: policy and simulator in one jitted ``lax.scan``.

``B`` environment *slots* run side by side. A slot plays one episode at a time; when it ends, the slot
takes the next episode id from the work list (so no slot idles while work remains) and resets with
that episode's own seed. Every episode's randomness comes from its seed only, so the same episode id
gives the same episode whatever the number of workers, and whatever the number of slots up to the last float bit:
XLA's vectorised SMAX step rounds differently below 64 lanes (3 of 400 3m episodes differed by 1 ulp at 32 slots
against 64 or 128; resets run in fixed groups of :data:`RESET_LANES`, so they never depend on the slot count).

Each call of the jitted chunk advances all slots ``chunk_steps`` steps and returns the step records
``[K, B, ...]``; :class:`EpisodeAssembler` scatters them into padded episodes on the host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rayeaq.envs.smax import core as smax_core
from rayeaq.envs.spec import EnvSpec
from rayeaq.policies import load_script
from rayeaq.policies.scripts import noisy
from rayeaq.stages.collect.assembly import EpisodeAssembler


class Slots(NamedTuple):
    """Carry of the scan: one entry per slot (leading axis B) plus the work-list cursor."""

    env_state: Any
    obs: jax.Array  # [B, N, Do]
    world: jax.Array  # [B, Ds]
    avail: jax.Array  # [B, N, A]
    run_key: jax.Array  # [B, 2]
    t: jax.Array  # [B] step within the episode
    pos: jax.Array  # [B] index into the work list, -1 when idle
    next_pos: jax.Array  # [] next unassigned work-list index


RESET_LANES = 16
"""Episodes are reset in groups of exactly this many lanes (``vmap`` of this size), whatever the number of slots:
XLA's vectorised reset differs in the last bit with the batch size, so a fixed size keeps every episode's bytes
independent of ``n_slots``; and resetting only the slots that ended (in groups) instead of all ``B`` each step
removes most of the reset work."""


def _start(env, seeds: jax.Array, positions: jax.Array):
    """Reset ``RESET_LANES`` slots for work-list ``positions [RESET_LANES]`` (episode seeds looked up in ``seeds``)."""
    reset_keys, run_keys = jax.vmap(smax_core.episode_keys)(seeds[positions])
    states = jax.vmap(partial(smax_core.reset, env))(reset_keys)
    obs, world, avail = jax.vmap(partial(smax_core.observe, env))(states)
    return states, obs, world, avail, run_keys


def _refill(env, seeds: jax.Array, n_work: jax.Array, lanes_to_reset: jax.Array, positions: jax.Array, current):
    """Reset the lanes where ``lanes_to_reset [B]`` holds with work-list ``positions [B]``, ``RESET_LANES`` at a time.

    ``current`` is ``(env_state, obs, world, avail, run_key)`` with leading axis B; returns the same with the
    reset lanes replaced. Lanes are compacted (in lane order) and reset in groups; the last group's spare
    entries reset a valid episode and are dropped by the scatter (index B is out of range).
    """
    n_slots = lanes_to_reset.shape[0]
    padded = -(-n_slots // RESET_LANES) * RESET_LANES
    order = jnp.nonzero(lanes_to_reset, size=padded, fill_value=n_slots)[0]  # [padded] lane ids, then B
    n_groups = (jnp.sum(lanes_to_reset) + RESET_LANES - 1) // RESET_LANES

    def group(g, carry):
        lanes = jax.lax.dynamic_slice(order, (g * RESET_LANES,), (RESET_LANES,))
        pos = jnp.clip(positions[jnp.clip(lanes, 0, n_slots - 1)], 0, n_work - 1)
        fresh = _start(env, seeds, pos)
        return jax.tree.map(lambda old, new: old.at[lanes].set(new, mode="drop"), carry, fresh)

    return jax.lax.fori_loop(0, n_groups, group, current)


@partial(jax.jit, static_argnums=(0, 3))
def init_slots(env, seeds: jax.Array, n_work: jax.Array, n_slots: int) -> Slots:
    """Slots 0..B-1 start work-list entries 0..B-1 (slots beyond the work list stay idle)."""
    positions = jnp.arange(n_slots)
    shapes = jax.eval_shape(lambda: _start(env, seeds, jnp.zeros(RESET_LANES, jnp.int32)))
    empty = jax.tree.map(lambda x: jnp.zeros((n_slots, *x.shape[1:]), x.dtype), shapes)
    every = jnp.ones(n_slots, jnp.bool_)  # idle slots (beyond the work list) hold a valid, unused episode
    states, obs, world, avail, run_keys = _refill(env, seeds, n_work, every, jnp.minimum(positions, n_work - 1), empty)
    return Slots(
        env_state=states,
        obs=obs,
        world=world,
        avail=avail,
        run_key=run_keys,
        t=jnp.zeros(n_slots, jnp.int32),
        pos=jnp.where(positions < n_work, positions, -1).astype(jnp.int32),
        next_pos=jnp.minimum(n_slots, n_work).astype(jnp.int32),
    )


def make_chunk_fn(env, chunk_steps: int, script: str) -> Callable:
    """Jitted ``(slots, seeds [M], n_work, epsilon) -> (slots, records)``; records are ``[K, B, ...]``.

    Plays the scripted policy ``script`` (a member of :data:`rayeaq.policies.POLICIES`) with per-agent
    uniform-action noise ``epsilon``. One compile per script: a ``lax.switch`` over all scripts would compile
    every branch even to play one.
    """
    script_fn = load_script(script)

    def policy(key, state, avail, epsilon):
        return noisy(script_fn, key, env, state, avail, epsilon)

    def body(slots: Slots, _, seeds, n_work, epsilon):
        policy_keys, env_keys = jax.vmap(smax_core.step_keys)(slots.run_key, slots.t)
        actions = jax.vmap(policy, in_axes=(0, 0, 0, None))(policy_keys, slots.env_state, slots.avail, epsilon)
        out = jax.vmap(partial(smax_core.step, env))(env_keys, slots.env_state, actions)
        next_obs, next_world, next_avail = jax.vmap(partial(smax_core.observe, env))(out.state)
        active = slots.pos >= 0
        record = {
            "pos": slots.pos,
            "t": slots.t,
            "obs": slots.obs,
            "state": slots.world,
            "avail_actions": slots.avail,
            "actions": actions,
            "reward": out.reward,
            "done": out.done & active,
            "won": out.won,
            "terminated": out.terminated,
            "next_obs": next_obs,
            "next_state": next_world,
            "next_avail": next_avail,
        }
        finished = active & out.done
        new_pos = slots.next_pos + jnp.cumsum(finished) - 1
        refill = finished & (new_pos < n_work)
        current = (out.state, next_obs, next_world, next_avail, slots.run_key)
        env_state, obs, world, avail, run_key = _refill(env, seeds, n_work, refill, new_pos, current)
        pos = jnp.where(finished, jnp.where(refill, new_pos, -1), slots.pos)
        slots = Slots(
            env_state=env_state,
            obs=obs,
            world=world,
            avail=avail,
            run_key=run_key,
            t=jnp.where(finished, 0, slots.t + 1),
            pos=pos.astype(jnp.int32),
            next_pos=jnp.minimum(slots.next_pos + jnp.sum(finished), n_work).astype(jnp.int32),
        )
        return slots, record

    @jax.jit
    def chunk(slots: Slots, seeds: jax.Array, n_work: jax.Array, epsilon: jax.Array):
        step = partial(body, seeds=seeds, n_work=n_work, epsilon=epsilon)
        return jax.lax.scan(step, slots, None, length=chunk_steps)

    return chunk


def run_episodes(
    spec: EnvSpec,
    seeds: np.ndarray,
    epsilon: float,
    *,
    script: str = "focus_weakest",
    n_slots: int = 128,
    chunk_steps: int = 64,
    stats_only: bool = False,
    shard_sizes: list[int] | None = None,
) -> Iterator[tuple[np.ndarray, EpisodeAssembler | dict[str, np.ndarray]]]:
    """Play one episode per seed with scripted policy ``script`` and noise ``epsilon``; yields after every chunk.

    Yields ``(completed_positions, assembler)``; the assembler holds the work list split into
    ``shard_sizes`` consecutive shards (default: one), each buffered only while it is being filled.
    With ``stats_only`` the second item is a dict of ``return``, ``won``, ``length`` over all
    positions instead. The chunk dispatch of step k+1 overlaps the host scatter of chunk k.
    """
    env = process_env(spec.map, spec.episode_limit)
    n_work = len(seeds)
    chunk = _cached_chunk_fn(env, chunk_steps, script)
    # Pad the seed list to a power of two so different work sizes reuse one compiled function.
    padded = np.zeros(max(4096, 1 << (n_work - 1).bit_length()), dtype=np.uint32)
    padded[:n_work] = np.asarray(seeds, dtype=np.uint32)
    seeds_dev = jnp.asarray(padded)
    n_dev, eps_dev = jnp.int32(n_work), jnp.float32(epsilon)
    slots = init_slots(env, seeds_dev, n_dev, n_slots)
    if stats_only:
        stats = {
            "return": np.zeros(n_work, np.float32),
            "won": np.zeros(n_work, np.bool_),
            "length": np.zeros(n_work, np.int64),
        }
        sink: Any = stats
    else:
        sink = EpisodeAssembler(spec, shard_sizes or [n_work])
    keys = ("pos", "t", "reward", "done", "won") if stats_only else None
    done_count = 0
    slots, records = chunk(slots, seeds_dev, n_dev, eps_dev)
    while True:
        pending = records
        slots, records = chunk(slots, seeds_dev, n_dev, eps_dev)  # dispatched before we block below
        host = {k: np.asarray(pending[k]) for k in (keys or pending)}
        completed = _add_stats(sink, host) if stats_only else sink.add(host)
        done_count += len(completed)
        yield completed, sink
        if done_count >= n_work:
            return


_ENVS: dict[tuple[str, int], Any] = {}
_CHUNK_FNS: dict[tuple[int, int, str], Callable] = {}


def process_env(map_name: str, episode_limit: int):
    """The one SMAX env of this process for a map and limit. The jitted functions take the env as a static
    argument (hashed by identity), so a new env object per call would trace them again: every calibration
    candidate, every tier and every shard group would pay the tracing (seconds per call) once more."""
    key = (map_name, episode_limit)
    if key not in _ENVS:
        _ENVS[key] = smax_core.make_smax(map_name, episode_limit)
    return _ENVS[key]


def _cached_chunk_fn(env, chunk_steps: int, script: str) -> Callable:
    """One jitted chunk function per (env, chunk length, script): traced and compiled once per process."""
    key = (id(env), chunk_steps, script)
    if key not in _CHUNK_FNS:
        _CHUNK_FNS[key] = make_chunk_fn(env, chunk_steps, script)
    return _CHUNK_FNS[key]


def _add_stats(stats: dict[str, np.ndarray], records: dict[str, np.ndarray]) -> np.ndarray:
    active = records["pos"] >= 0
    np.add.at(stats["return"], records["pos"][active], records["reward"][active])
    done = records["done"]
    ep = records["pos"][done]
    stats["won"][ep] = records["won"][done]
    stats["length"][ep] = records["t"][done] + 1
    return ep

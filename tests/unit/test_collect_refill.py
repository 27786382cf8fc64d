"""The collector's slot refill: only the slots that ended are reset, in fixed groups, each with its own episode."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rayeaq.envs.smax.maps import smax_spec
from rayeaq.stages.collect import rollout


def _fresh(env, seeds, positions):
    """Reference: reset each listed episode in a group of its own (every lane the same episode), then stack."""
    one = [rollout._start(env, seeds, jnp.full(rollout.RESET_LANES, p)) for p in positions]
    return jax.tree.map(lambda *xs: jnp.stack([x[0] for x in xs]), *one)


def test_refill_resets_exactly_the_ended_slots_with_their_episodes():
    spec = smax_spec("3m")
    env = rollout.process_env(spec.map, spec.episode_limit)
    n_slots = 40  # more ended slots (21) than one group holds, and a group left partly empty
    seeds = jnp.arange(1000, 1100, dtype=jnp.uint32)
    current = _fresh(env, seeds, list(range(n_slots)))
    ended = np.zeros(n_slots, bool)
    ended[[0, 3, 4, 7, 9, 10, 11, 15, 16, 17, 20, 22, 23, 25, 28, 30, 31, 33, 35, 38, 39]] = True
    positions = jnp.asarray(np.where(ended, 60 + np.arange(n_slots), -5), jnp.int32)
    out = jax.jit(rollout._refill, static_argnums=0)(env, seeds, jnp.int32(100), jnp.asarray(ended), positions, current)
    expected = _fresh(env, seeds, [60 + i for i in np.flatnonzero(ended)])
    for got, old, want in zip(jax.tree.leaves(out), jax.tree.leaves(current), jax.tree.leaves(expected), strict=True):
        got, old = np.asarray(got), np.asarray(old)
        np.testing.assert_array_equal(got[~ended], old[~ended])  # untouched slots keep their episode
        np.testing.assert_allclose(got[ended], np.asarray(want), rtol=1e-6, atol=1e-6)


def test_a_reset_does_not_depend_on_which_group_or_lane_it_lands_in():
    """Fixed-size groups: the same episode reset in another lane of another group gives the same bytes."""
    spec = smax_spec("3m")
    env = rollout.process_env(spec.map, spec.episode_limit)
    seeds = jnp.arange(500, 600, dtype=jnp.uint32)
    current = _fresh(env, seeds, list(range(48)))
    refill = jax.jit(rollout._refill, static_argnums=0)
    a_mask, b_mask = np.zeros(48, bool), np.zeros(48, bool)
    a_mask[[2]] = True  # episode 77 alone, first group
    b_mask[[1, 5, 8, 12, 13, 19, 21, 24, 26, 29, 30, 33, 36, 40, 41, 44, 45, 47]] = True  # 77 lands in lane 47
    a = refill(env, seeds, jnp.int32(100), jnp.asarray(a_mask), jnp.full(48, 77, jnp.int32), current)
    b = refill(env, seeds, jnp.int32(100), jnp.asarray(b_mask), jnp.full(48, 77, jnp.int32), current)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert np.array_equal(np.asarray(x)[2], np.asarray(y)[47])

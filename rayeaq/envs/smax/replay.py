"""SMAX's own functions applied to rows of global states (batched, jitted; numpy in, numpy out).

Built on :mod:`rayeaq.envs.smax.state_codec`. Three uses:

* :meth:`StateReplay.observe` — observations and available actions of state rows (the state-derived
  layout computes these channels instead of generating them);
* :meth:`StateReplay.transition` — reward, win and battle end of consecutive state rows (SMAX's reward
  and win rules);
* :meth:`StateReplay.simulate` — step SMAX from a state row with a joint action under ``K`` keys and
  return the next world states (the dynamics residual of :mod:`rayeaq.generators.eaq.sim_fidelity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rayeaq.data.batch import EpisodeBatch
from rayeaq.envs.smax.maps import SMAX_OWN_FEATURES


@dataclass
class RowInputs:
    """What one world-state row needs besides itself: ``[R, ...]`` arrays."""

    state: np.ndarray  # [R, Ds] f32
    ally_prev: np.ndarray  # [R, N] int: previous joint action (stop on row 0)
    enemy_move: np.ndarray  # [R, E, 2] f32
    enemy_attack: np.ndarray  # [R, E] int
    step: np.ndarray  # [R] int: row index in the episode


def episode_rows(batch: EpisodeBatch) -> RowInputs:
    """Every row ``[B*T]`` of a batch as codec inputs (enemy previous actions read from its obs)."""
    from rayeaq.envs.smax import state_codec as sc

    b, t, n = batch.actions.shape
    assert batch.avail_actions is not None  # SMAX: discrete actions with masks
    e = batch.avail_actions.shape[-1] - 5
    move, attack = sc.enemy_prev_from_obs(batch.obs, n, e)
    prev = sc.ally_prev_actions(batch.actions)
    return RowInputs(
        batch.state.reshape(b * t, -1).astype(np.float32),
        prev.reshape(b * t, n),
        move.reshape(b * t, e, 2),
        attack.reshape(b * t, e),
        np.broadcast_to(np.arange(t), (b, t)).reshape(-1).copy(),
    )


def _chunks(total: int, size: int):
    for a in range(0, total, size):
        yield slice(a, min(a + size, total))


def _bucket(n: int, cap: int) -> int:
    """Rows a chunk of ``n`` is padded to: a power of two (>= 64, <= cap), so jit compiles few shapes."""
    size = 64
    while size < n and size < cap:
        size *= 2
    return max(size, n)


def _padded(fn, n: int, cap: int, *arrays):
    """``fn(*arrays)`` on arrays padded (with copies of row 0) to the bucket size, outputs cut back to n."""
    size = _bucket(n, cap)
    if size > n:
        arrays = tuple(np.concatenate([a, np.repeat(a[:1], size - n, axis=0)]) for a in arrays)
    out = fn(*arrays)
    if isinstance(out, tuple):
        return tuple(np.asarray(o)[:n] for o in out)
    return np.asarray(out)[:n]


class StateReplay:
    """SMAX's observation, availability, reward and step functions over state rows of one map."""

    def __init__(self, map_name: str, episode_limit: int, chunk: int = 4096):
        from rayeaq.envs.smax.core import make_smax

        self.env = make_smax(map_name, episode_limit)
        self.chunk = chunk

    # ---- jitted kernels (built lazily: importing this module costs no JAX compile) --------------
    @cached_property
    def _observe(self):
        import jax

        from rayeaq.envs.smax import state_codec as sc

        env = self.env

        def one(w, p, m, a, s):
            return sc.observe(env, sc.decode_state(env, w, p, sc.EnemyPrev(m, a), s))

        return jax.jit(jax.vmap(one))

    @cached_property
    def _transition(self):
        import jax

        from rayeaq.envs.smax import state_codec as sc

        env = self.env

        def one(w0, p0, m0, a0, s, w1, p1, m1, a1):
            i0 = sc.decode_state(env, w0, p0, sc.EnemyPrev(m0, a0), s)
            i1 = sc.decode_state(env, w1, p1, sc.EnemyPrev(m1, a1), s + 1)
            won, over = sc.outcome(env, i1)
            return sc.reward(env, i0, i1), won, over

        return jax.jit(jax.vmap(one))

    @cached_property
    def _simulate(self):
        import jax
        import jax.numpy as jnp

        from rayeaq.envs.smax import core
        from rayeaq.envs.smax import state_codec as sc

        env = self.env

        def one(w, p, m, a, s, action, reset_pos, key):
            enemy = sc.EnemyPrev(m, a)
            state = sc.wrap(env, sc.decode_state(env, w, p, enemy, s), enemy, reset_pos)
            out = core.step(env, key, state, action.astype(jnp.int32))
            return env._env.get_world_state(out.state.state).astype(jnp.float32)

        over_keys = jax.vmap(one, in_axes=(None, None, None, None, None, None, None, 0))
        return jax.jit(jax.vmap(over_keys))

    # ---- numpy API ----------------------------------------------------------------------------
    def observe(self, rows: RowInputs) -> tuple[np.ndarray, np.ndarray]:
        """``(obs [R, N, Do] f32, avail [R, N, A] bool)`` computed by SMAX from the rows."""
        obs, avail = [], []
        for s in _chunks(len(rows.state), self.chunk):
            o, a = _padded(
                self._observe,
                s.stop - s.start,
                self.chunk,
                rows.state[s],
                rows.ally_prev[s],
                rows.enemy_move[s],
                rows.enemy_attack[s],
                rows.step[s],
            )
            obs.append(np.asarray(o))
            avail.append(np.asarray(a))
        return np.concatenate(obs), np.concatenate(avail)

    def transition(self, before: RowInputs, after: RowInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(reward [R] f32, won [R] bool, battle over [R] bool)`` of the transitions before -> after."""
        out: list[list[np.ndarray]] = [[], [], []]
        for s in _chunks(len(before.state), self.chunk):
            res = _padded(
                self._transition,
                s.stop - s.start,
                self.chunk,
                before.state[s],
                before.ally_prev[s],
                before.enemy_move[s],
                before.enemy_attack[s],
                before.step[s],
                after.state[s],
                after.ally_prev[s],
                after.enemy_move[s],
                after.enemy_attack[s],
            )
            for acc, r in zip(out, res, strict=True):
                acc.append(np.asarray(r))
        return tuple(np.concatenate(acc) for acc in out)  # type: ignore[return-value]

    def simulate(
        self, rows: RowInputs, actions: np.ndarray, enemy_reset_pos: np.ndarray, n_keys: int, seed: int
    ) -> np.ndarray:
        """Next world states ``[R, K, Ds]`` after stepping each row with ``actions [R, N]`` under ``K`` keys; the
        scripted enemy's memory comes from the row's enemy previous actions and ``enemy_reset_pos [R, E, 2]``, the
        enemies' positions on their episode's first row (see :func:`~rayeaq.envs.smax.state_codec.wrap`)."""
        import jax

        keys = jax.random.split(jax.random.PRNGKey(seed), len(rows.state) * n_keys)
        keys = keys.reshape((len(rows.state), n_keys) + keys.shape[1:])
        out = []
        cap = max(1, self.chunk // n_keys)
        for s in _chunks(len(rows.state), cap):
            out.append(
                _padded(
                    self._simulate,
                    s.stop - s.start,
                    cap,
                    rows.state[s],
                    rows.ally_prev[s],
                    rows.enemy_move[s],
                    rows.enemy_attack[s],
                    rows.step[s],
                    actions[s],
                    enemy_reset_pos[s],
                    keys[s],
                )
            )
        return np.concatenate(out)


def simulate_steps(
    replay: StateReplay, batch: EpisodeBatch, ep: np.ndarray, row: np.ndarray, n_keys: int, seed: int
) -> np.ndarray:
    """``[S, K, Ds]`` SMAX's next world states from the steps ``(ep, row)`` of ``batch`` (``[S]`` each) with their
    own joint actions under ``K`` keys (:meth:`StateReplay.simulate` on the batch's rows)."""
    rows = select_rows(episode_rows(batch), ep * batch.reward.shape[1] + row)
    return replay.simulate(rows, batch.actions[ep, row], enemy_reset_positions(batch, ep), n_keys, seed)


def enemy_reset_positions(batch: EpisodeBatch, episodes: np.ndarray) -> np.ndarray:
    """``[S, E, 2]`` the enemies' positions on the first row of each of ``episodes [S]``."""
    n = batch.actions.shape[2]
    assert batch.avail_actions is not None  # SMAX: discrete actions with masks
    units = n + batch.avail_actions.shape[-1] - 5
    per = batch.state[episodes, 0, : units * SMAX_OWN_FEATURES].reshape(len(episodes), units, SMAX_OWN_FEATURES)
    return per[:, n:, 1:3].astype(np.float32)


def select_rows(rows: RowInputs, index: np.ndarray) -> RowInputs:
    """The rows at ``index``."""
    return RowInputs(
        rows.state[index], rows.ally_prev[index], rows.enemy_move[index], rows.enemy_attack[index], rows.step[index]
    )

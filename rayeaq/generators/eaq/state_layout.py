"""The state-derived layout (``diffusion.layout: state``, SMAX only): generate states, compute the rest.

The generator produces the global state ``[Ds]``, the joint action (one-hot ``[N, A]``) and what SMAX
cannot compute from the state — the enemies' previous actions (``[E, 3]``: movement x, y, attack
target / (N + 4), as SMAX shows them in observations) — plus auxiliary reward, Q-total and done
channels. Decoding makes the episode consistent with the simulator by construction:

1. states are projected onto what SMAX can hold: health in [0, 1] and never rising (SMAX has no
   healing, so a return above the maximum cannot arise from rises and falls); a unit is alive when its health
   fraction exceeds :data:`ALIVE_HEALTH` and it was alive on the previous row (the dead stay dead); a
   dead unit's features are zero; an alive unit's type bits are its type's (the map's constant
   teams/types channels come back exactly: the normaliser's range for them is a single value);
2. length = the first row where a side is wiped out (SMAX's battle end); no end = a time-limit
   truncation at the window's last row;
3. available actions = SMAX's ``get_avail_actions`` of each state; actions = argmax of the action
   channels over them;
4. observations = SMAX's ``get_obs`` of each state with the previous joint action;
5. reward, battle end and win = SMAX's reward and win rules over consecutive states.
"""

from __future__ import annotations

from functools import lru_cache
from typing import cast

import numpy as np

from rayeaq.data.batch import EpisodeBatch
from rayeaq.generators.eaq.layout import Decoded, Layout, Normalizer

ALIVE_HEALTH = 0.05  # health fraction above which a generated unit is alive (a marine hit once: 0.2 lost)
FEATURES_PER_UNIT = 10


@lru_cache(maxsize=4)
def _replay(map_name: str, episode_limit: int):
    from rayeaq.envs.smax.replay import StateReplay

    return StateReplay(map_name, episode_limit)


def enemy_channels(batch: EpisodeBatch, layout: Layout) -> np.ndarray:
    """``[B, T, 3E]`` the enemies' previous actions (movement x, y, attack / (N + 4)) read from the
    observations of every episode row (zero after the terminal row)."""
    from rayeaq.envs.smax.state_codec import enemy_prev_from_obs

    n, e = layout.n_agents, layout.n_extra // 3
    move, attack = enemy_prev_from_obs(batch.obs, n, e)  # [B, T, E, 2], [B, T, E]
    out = np.concatenate([move, (attack / (n + 4.0))[..., None]], axis=-1).reshape(batch.obs.shape[:2] + (3 * e,))
    rows = np.arange(batch.obs.shape[1])[None, :] <= batch.length[:, None]
    return (out * rows[:, :, None]).astype(np.float32)


def project_states(state: np.ndarray, n_units: int) -> tuple[np.ndarray, np.ndarray]:
    """``[B, H, Ds]`` generated states -> (states SMAX can hold, alive ``[B, H, U]``)."""
    s = state.copy()
    per = s[..., : n_units * FEATURES_PER_UNIT].reshape(s.shape[:2] + (n_units, FEATURES_PER_UNIT))
    types = np.clip(np.rint(s[..., n_units * FEATURES_PER_UNIT + n_units :]), 0, FEATURES_PER_UNIT - 5).astype(int)
    s[..., n_units * FEATURES_PER_UNIT :] = np.rint(s[..., n_units * FEATURES_PER_UNIT :])
    health = np.minimum.accumulate(np.clip(per[..., 0], 0.0, 1.0), axis=1)  # no healing in SMAX: never rises
    alive = np.cumprod(health > ALIVE_HEALTH, axis=1).astype(bool)  # the dead stay dead
    per[..., 0] = health
    per[..., 4:] = np.eye(FEATURES_PER_UNIT - 4, dtype=np.float32)[types]
    per *= alive[..., None]
    s[..., : n_units * FEATURES_PER_UNIT] = per.reshape(s.shape[:2] + (-1,))
    return s, alive


def _enemy_prev(extra: np.ndarray, n: int, move_table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[B, H, 3E]`` channels -> movement snapped to SMAX's 5 movement vectors ``[B, H, E, 2]`` and an
    attack index in {0} ∪ [5, N + 4] ``[B, H, E]``."""
    e = extra.reshape(extra.shape[:2] + (-1, 3))
    d = ((e[..., None, :2] - move_table[None, None, None]) ** 2).sum(-1)  # [B, H, E, 5]
    move = move_table[d.argmin(-1)]
    attack = np.clip(np.rint(e[..., 2] * (n + 4)), 0, n + 4).astype(np.int32)
    attack = np.where(attack < 5, 0, attack)
    return move.astype(np.float32), attack


def decode_state_layout(x_raw: np.ndarray, layout: Layout, norm: Normalizer) -> Decoded:
    """Raw-scale tensors ``[B, F, H]`` of the state layout -> episodes padded to ``episode_limit + 1`` rows."""
    from rayeaq.envs.smax.replay import RowInputs

    replay = _replay(layout.map_name, layout.episode_limit)
    b, _, h = x_raw.shape
    t = layout.episode_limit + 1
    n, a = layout.n_agents, layout.n_actions
    n_units = n + layout.n_extra // 3
    cont = ~layout.binary_mask()
    x = x_raw.copy()
    x[:, cont] = np.clip(x[:, cont], norm.low[cont, None], norm.high[cont, None])
    idx = layout.index_arrays()
    xt = x.transpose(0, 2, 1)  # [B, H, F]
    state, alive = project_states(xt[..., idx["state"]], n_units)
    over = cast(np.ndarray, ~alive[..., :n].any(-1) | ~alive[..., n:].any(-1))  # [B, H]
    over[:, 0] = False  # a reset state is never over; a row-0 wipe-out is caught below
    first = np.where(over.any(1), over.argmax(1), h - 1)
    length = np.minimum(first, t - 1).astype(np.int64)
    length = np.where(~alive[:, 0, :n].any(-1) | ~alive[:, 0, n:].any(-1), 0, length)
    move_table = np.asarray(replay.env._env._decode_discrete_actions(np.arange(5))[0], np.float32)
    e_move, e_attack = _enemy_prev(xt[..., idx["extra"]], n, move_table)
    steps_idx = np.broadcast_to(np.arange(h), (b, h))

    def rows(prev: np.ndarray) -> RowInputs:
        return RowInputs(
            state.reshape(b * h, -1).astype(np.float32),
            prev.reshape(b * h, n).astype(np.int32),
            e_move.reshape(b * h, -1, 2),
            e_attack.reshape(b * h, -1),
            steps_idx.reshape(-1).astype(np.int32),
        )

    stop = np.full((b, h, n), 4, np.int64)
    _, avail = replay.observe(rows(stop))  # availability reads no previous action
    avail = avail.reshape(b, h, n, a)
    logits = xt[..., idx["act"]]  # [B, H, N, A]
    actions = np.where(avail, logits, -np.inf).argmax(-1)
    prev = np.concatenate([stop[:, :1], actions[:, :-1]], axis=1)
    obs, _ = replay.observe(rows(prev))
    obs = obs.reshape(b, h, n, -1)
    before, after = rows(prev), rows(np.concatenate([prev[:, 1:], actions[:, -1:]], axis=1))
    after.state = np.concatenate([state[:, 1:], state[:, -1:]], axis=1).reshape(b * h, -1).astype(np.float32)
    after.enemy_move = np.concatenate([e_move[:, 1:], e_move[:, -1:]], axis=1).reshape(b * h, -1, 2)
    after.enemy_attack = np.concatenate([e_attack[:, 1:], e_attack[:, -1:]], axis=1).reshape(b * h, -1)
    reward, won, ended = (r.reshape(b, h) for r in replay.transition(before, after))

    hr = np.arange(h)[None, :]
    keep = hr <= length[:, None]
    steps = hr < length[:, None]
    pad = ((0, 0), (0, t - h))
    out_steps = np.pad(steps, pad)
    bi = np.arange(b)
    last = np.maximum(length - 1, 0)
    terminated = np.zeros((b, t), bool)
    ended_last = ended[bi, last] & (length > 0)
    terminated[bi[ended_last], length[ended_last] - 1] = True
    free = logits.argmax(-1)
    legal = np.take_along_axis(avail, free[..., None], -1)[..., 0] & steps[:, :, None]
    rew = np.pad(np.where(steps, reward, 0.0), pad).astype(np.float32)
    episodes = EpisodeBatch(
        obs=np.pad(obs * keep[:, :, None, None], pad + ((0, 0), (0, 0))).astype(np.float32),
        state=np.pad(state * keep[:, :, None], pad + ((0, 0),)).astype(np.float32),
        avail_actions=np.pad(avail & keep[:, :, None, None], pad + ((0, 0), (0, 0))),
        actions=np.pad(np.where(steps[:, :, None], actions, 0), pad + ((0, 0),)).astype(np.int64),
        reward=rew,
        terminated=terminated,
        filled=out_steps,
        episode_id=np.arange(b, dtype=np.int64),
        length=length,
        episode_return=rew.sum(1).astype(np.float32),
        battle_won=ended_last & won[bi, last],
        seed=np.zeros(b, np.int64),
        source=np.array(["synthetic"] * b, dtype=object),
        behaviour_policy=np.array(["synthetic"] * b, dtype=object),
    )
    no_action = (~avail.any(-1) & steps[:, :, None]).any(axis=(1, 2))
    return Decoded(episodes, legal.sum(axis=(1, 2)), steps.sum(1) * n, no_action)

"""Fidelity of episodes against the simulator (SMAX): can the generated dynamics happen at all?

* **dynamics residual** — rebuild SMAX's state from each step's global state (+ previous actions, the
  scripted enemy's memory from its previous attack and the episode's first row), step it with the episode's
  joint action under ``K`` keys, and measure the distance of the simulated next state to the episode's next
  state; reported next to the same figure on real transitions (the simulator's own noise floor: random weapon
  cooldowns and the scripted enemy's random walk) and as their ratio;
* **consistency residuals** — observations, available actions, reward, battle end and win recomputed by
  SMAX's own functions from the episode's states, against the episode's channels;
* **physical checks** — health never rises, the dead stay dead;
* **memorisation** — each synthetic episode's distance to its nearest training episode, against real
  held-out episodes' distance to the training set (or, without a held-out set, each training episode's
  distance to its nearest *other* training episode);
* **Q consistency** — ``|Q̂_t − Q̂_{t+1} − r̂_t|`` of a generated Q-total channel against the generated rewards.

Distances between states are root-mean-square differences of the per-unit features (health fraction,
x, y, cooldown, type bits), each feature divided by its std over the real step rows. numpy here; SMAX
(JAX) is imported only when a function needs it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rayeaq.data.batch import EpisodeBatch
from rayeaq.generators.eaq.fidelity import transitions

FEATURES_PER_UNIT = 10  # health, x, y, cooldown, 6 type bits (SMAX world state)


def _unit_block(state: np.ndarray, n_units: int) -> np.ndarray:
    """``[..., Ds]`` -> per-unit features ``[..., U*10]`` (teams and types dropped: they never change)."""
    return state[..., : n_units * FEATURES_PER_UNIT]


def state_scale(real: EpisodeBatch, n_units: int) -> np.ndarray:
    """``[U*10]`` per-feature std of the real step rows (floor 1e-3): the units of every state distance."""
    block = _unit_block(real.state[real.filled], n_units)
    return np.maximum(block.std(axis=0), 1e-3).astype(np.float32)


def state_distance(a: np.ndarray, b: np.ndarray, scale: np.ndarray, n_units: int) -> np.ndarray:
    """RMS of the scaled per-unit feature differences, over the last axis: ``[..., Ds] x [..., Ds] -> [...]``."""
    d = (_unit_block(a, n_units) - _unit_block(b, n_units)) / scale
    return np.sqrt((d * d).mean(axis=-1))


def dynamics_distances(
    replay,
    batch: EpisodeBatch,
    ep: np.ndarray,
    row: np.ndarray,
    next_state: np.ndarray,
    scale: np.ndarray,
    n_keys: int,
    seed: int,
) -> np.ndarray:
    """``[S]`` mean over ``K`` keys of the distance between SMAX's next state from (state, action) at
    ``(ep, row)`` and ``next_state [S, Ds]`` (the episode's own next row, or anything to compare)."""
    from rayeaq.envs.smax.replay import simulate_steps

    simulated = simulate_steps(replay, batch, ep, row, n_keys, seed)  # [S, K, Ds]
    n_units = _n_units(batch)
    return state_distance(simulated, next_state[:, None, :], scale, n_units).mean(axis=1)


def _n_units(batch: EpisodeBatch) -> int:
    n = batch.actions.shape[2]
    assert batch.avail_actions is not None  # SMAX: discrete actions with masks
    return n + batch.avail_actions.shape[-1] - 5


def consistency(replay, batch: EpisodeBatch) -> dict[str, float]:
    """SMAX's own channels from the batch's states against the batch's channels (step + terminal rows)."""
    from rayeaq.envs.smax.replay import episode_rows, select_rows

    b, t = batch.reward.shape
    rows = episode_rows(batch)
    real_rows = np.arange(t)[None, :] <= batch.length[:, None]
    obs, avail = replay.observe(rows)
    assert batch.avail_actions is not None  # SMAX: discrete actions with masks
    obs, avail = obs.reshape(batch.obs.shape)[real_rows], avail.reshape(batch.avail_actions.shape)[real_rows]
    obs_err = np.abs(obs - batch.obs[real_rows])
    steps = batch.filled.copy()
    steps[:, -1] = False
    index = np.arange(b * t).reshape(b, t)[steps]
    reward, won, over = replay.transition(select_rows(rows, index), select_rows(rows, index + 1))
    r_err = np.abs(reward - batch.reward[steps])
    last = np.zeros_like(steps)
    has = batch.length > 0
    last[np.flatnonzero(has), batch.length[has] - 1] = True
    health = batch.state[..., : _n_units(batch) * FEATURES_PER_UNIT : FEATURES_PER_UNIT]  # [B, T, U]
    h0, h1 = health[:, :-1][steps[:, :-1]], health[:, 1:][steps[:, :-1]]
    return {
        "obs_abs_error": float(obs_err.mean()) if obs_err.size else 0.0,
        "obs_rows_inconsistent": float((obs_err.reshape(len(obs_err), -1).max(axis=1) > 1e-4).mean())
        if len(obs_err)
        else 0.0,
        "avail_mismatch": float((avail != batch.avail_actions[real_rows]).mean()) if avail.size else 0.0,
        "reward_abs_error": float(r_err.mean()) if r_err.size else 0.0,
        "reward_steps_inconsistent": float((r_err > 0.01).mean()) if r_err.size else 0.0,
        "end_mismatch": float((over != batch.terminated[steps]).mean()) if over.size else 0.0,
        "win_mismatch": float((won[last[steps]] != batch.battle_won[has]).mean()) if has.any() else 0.0,
        "health_rises": float((h1 > h0 + 1e-6).mean()) if h0.size else 0.0,
        "dead_revive": float(((h0 <= 0) & (h1 > 0)).mean()) if h0.size else 0.0,
    }


def episode_vectors(batch: EpisodeBatch, scale: np.ndarray) -> np.ndarray:
    """``[B, T*U*10]`` scaled per-unit state features of every row (zero after the episode)."""
    n_units = _n_units(batch)
    rows = np.arange(batch.reward.shape[1])[None, :] <= batch.length[:, None]
    block = _unit_block(batch.state, n_units) / scale * rows[:, :, None]
    return block.reshape(len(batch), -1)


def _nearest(a: np.ndarray, b: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    sq = np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)
    if exclude_self:
        np.fill_diagonal(sq, np.inf)
    return np.sqrt(sq.min(axis=1) / a.shape[1])


def memorisation(
    train: EpisodeBatch,
    synthetic: EpisodeBatch,
    scale: np.ndarray,
    heldout: EpisodeBatch | None = None,
    limit: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Nearest-training-episode distances of synthetic episodes against a real reference (held-out real
    episodes, or leave-one-out among the training episodes); ``near_copies``: synthetic share closer than
    the reference's 5th percentile."""
    rng = np.random.default_rng(seed)

    def pick(batch: EpisodeBatch) -> EpisodeBatch:
        return batch if len(batch) <= limit else batch.select(np.sort(rng.choice(len(batch), limit, replace=False)))

    tr = episode_vectors(pick(train), scale)
    syn = _nearest(episode_vectors(pick(synthetic), scale), tr)
    if heldout is not None and len(heldout):
        ref, kind = _nearest(episode_vectors(pick(heldout), scale), tr), "held-out real episodes"
    else:
        ref, kind = _nearest(tr, tr, exclude_self=True), "leave-one-out among training episodes"
    p5 = float(np.percentile(ref, 5))
    return {
        "synthetic_median": float(np.median(syn)),
        "reference_median": float(np.median(ref)),
        "ratio": float(np.median(syn) / max(np.median(ref), 1e-9)),
        "near_copies": float((syn < p5).mean()),
        "reference": kind,
        "units": "RMS of per-unit state features in real std",
    }


def q_consistency(qtot: np.ndarray, reward: np.ndarray, length: np.ndarray) -> dict[str, float]:
    """``|Q̂_t − Q̂_{t+1} − r̂_t|`` over step rows (``Q̂_{length} = 0``): ``qtot [B, H]``, ``reward [B, T]``."""
    b, h = qtot.shape
    q = np.zeros((b, h + 1), np.float32)
    q[:, :h] = qtot
    rows = np.arange(h)[None, :]
    q[:, :h] = np.where(rows <= length[:, None], qtot, 0.0)
    q[np.arange(b), np.minimum(length, h)] = 0.0
    steps = rows < np.minimum(length, h)[:, None]
    residual = np.abs(q[:, :h] - q[:, 1:] - reward[:, :h])[steps]
    return {"mean": float(residual.mean()) if residual.size else 0.0, "q0_mean": float(qtot[:, 0].mean()) if b else 0.0}


def sim_fidelity(
    real: EpisodeBatch,
    synthetic: EpisodeBatch,
    map_name: str,
    episode_limit: int,
    *,
    n_keys: int = 4,
    max_transitions: int = 2000,
    seed: int = 0,
    heldout: EpisodeBatch | None = None,
) -> dict[str, Any]:
    """All simulator-based figures for one synthetic batch, with the real data's next to them."""
    from rayeaq.envs.smax.replay import StateReplay

    replay = StateReplay(map_name, episode_limit)
    n_units = _n_units(real)
    scale = state_scale(real, n_units)
    out: dict[str, Any] = {"keys": n_keys}
    dyn: dict[str, Any] = {}
    for name, batch in (("real", real), ("synthetic", synthetic)):
        if len(batch) == 0 or not batch.filled.any():
            continue
        ep, row = transitions(batch, max_transitions, seed)
        d = dynamics_distances(replay, batch, ep, row, batch.state[ep, row + 1], scale, n_keys, seed)
        dyn[name] = {"mean": float(d.mean()), "median": float(np.median(d)), "transitions": len(d)}
    if "real" in dyn and "synthetic" in dyn:
        dyn["ratio"] = dyn["synthetic"]["mean"] / max(dyn["real"]["mean"], 1e-9)
    out["dynamics_residual"] = dyn
    out["consistency"] = {"real": consistency(replay, real)}
    if len(synthetic):
        out["consistency"]["synthetic"] = consistency(replay, synthetic)
        out["memorisation"] = memorisation(real, synthetic, scale, heldout, seed=seed)
    return out

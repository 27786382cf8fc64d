"""Fidelity of MPE episodes against the simulator: could the generated motion happen at all?

* **physics residual** — rebuild MPE's state from each step's global state, step it with the episode's joint
  action (:meth:`rayeaq.envs.mpe.replay.MPEReplay.simulate`) and measure the distance of the simulated next
  state to the episode's next state. Reported for real and synthetic transitions, and as their ratio: the real
  figure is the floor (MPE's physics is deterministic here, so a real transition re-steps to its own next state
  up to float rounding; both figures are clamped at :data:`FLOOR`, so the ratio stays finite and a copy of
  real data scores 1), and relative to
  the size of a real step (the mean distance between consecutive real states), which says how far off a
  generated step is in units of how far the particles move in one step;
* **consistency** — observations and rewards recomputed by JaxMARL's functions from the episode's states,
  against the episode's channels (0 by construction for the state layout; the paper layout's own
  observations and rewards are not tied to its states).

Distances are root-mean-square differences over the dynamic state features (positions and velocities of the
simulated agents; landmarks do not move), each divided by its std over the real step rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rayeaq.data.batch import EpisodeBatch
from rayeaq.envs.mpe.maps import MPE_MAPS, MPEMap
from rayeaq.generators.eaq.fidelity import transitions

FLOOR = 1e-6
"""Smallest real residual the ratio divides by (float32 rounding of positions ~1e-7)."""


def dynamic_features(m: MPEMap) -> np.ndarray:
    """Indices of the state features that move: simulated agents' positions and every velocity."""
    pos = np.arange(2 * m.n_total)
    vel = np.arange(2 * (m.n_total + m.n_landmarks), m.state_shape)
    return np.concatenate([pos, vel])


def state_scale(real: EpisodeBatch, features: np.ndarray) -> np.ndarray:
    """``[D]`` per-feature std of the real step rows (floor 1e-3): the units of every state distance."""
    return np.maximum(real.state[real.filled][:, features].std(axis=0), 1e-3).astype(np.float32)


def residuals(
    replay, state: np.ndarray, actions: np.ndarray, next_state: np.ndarray, features: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """``[S]`` scaled RMS distance between the simulator's next state from ``(state [S, Ds], actions [S, N, Da])``
    and ``next_state [S, Ds]``."""
    simulated = replay.simulate(state, actions)
    d = (simulated[:, features] - next_state[:, features]) / scale
    out: np.ndarray = np.sqrt((d * d).mean(axis=1))
    return out


def physics_residual(
    replay, real: EpisodeBatch, synthetic: EpisodeBatch, m: MPEMap, limit: int, seed: int
) -> dict[str, Any]:
    """Residuals of real and synthetic transitions, their ratio (over the floor) and relative to a real step."""
    features = dynamic_features(m)
    scale = state_scale(real, features)
    out: dict[str, Any] = {"units": "RMS of agent positions/velocities in real std per feature"}
    for name, batch in (("real", real), ("synthetic", synthetic)):
        if len(batch) == 0 or not batch.filled.any():
            continue
        ep, row = transitions(batch, limit, seed)
        d = residuals(replay, batch.state[ep, row], batch.actions[ep, row], batch.state[ep, row + 1], features, scale)
        out[name] = {"mean": float(d.mean()), "median": float(np.median(d)), "transitions": len(d)}
        if name == "real":
            motion = (batch.state[ep, row + 1][:, features] - batch.state[ep, row][:, features]) / scale
            out["real_step"] = float(np.sqrt((motion * motion).mean(axis=1)).mean())
    if "real" in out and "synthetic" in out:
        out["ratio"] = max(out["synthetic"]["mean"], FLOOR) / max(out["real"]["mean"], FLOOR)
        out["relative_to_step"] = out["synthetic"]["mean"] / max(out["real_step"], FLOOR)
    return out


def consistency(replay, batch: EpisodeBatch) -> dict[str, float]:
    """Observations (step + terminal rows) and rewards (steps) recomputed from the batch's states, against its own."""
    rows = np.arange(batch.max_seq_len)[None, :] <= batch.length[:, None]
    obs = replay.observe(batch.state[rows])
    obs_err = np.abs(obs - batch.obs[rows])
    ep, row = np.nonzero(batch.filled)
    team, _ = replay.rewards(batch.state[ep, row + 1])
    r_err = np.abs(team - batch.reward[ep, row])
    return {
        "obs_abs_error": float(obs_err.mean()) if obs_err.size else 0.0,
        "obs_rows_inconsistent": float((obs_err.reshape(len(obs_err), -1).max(axis=1) > 1e-4).mean())
        if len(obs_err)
        else 0.0,
        "reward_abs_error": float(r_err.mean()) if r_err.size else 0.0,
        "reward_steps_inconsistent": float((r_err > 0.01 * max(float(np.abs(team).mean()), 1.0)).mean())
        if r_err.size
        else 0.0,
    }


def mpe_sim_fidelity(
    real: EpisodeBatch,
    synthetic: EpisodeBatch,
    map_name: str,
    episode_limit: int,
    *,
    max_transitions: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """All simulator-based figures of one synthetic MPE batch, with the real data's next to them."""
    from rayeaq.envs.mpe.replay import MPEReplay

    replay = MPEReplay(map_name, episode_limit)
    m = MPE_MAPS[map_name]
    out: dict[str, Any] = {"physics_residual": physics_residual(replay, real, synthetic, m, max_transitions, seed)}
    out["consistency"] = {"real": consistency(replay, real)}
    if len(synthetic):
        out["consistency"]["synthetic"] = consistency(replay, synthetic)
    return out

"""The state-derived layout on MPE (``diffusion.layout: state``, backend ``mpe``): generate the physical state
and the joint action, compute the rest with JaxMARL's MPE functions.

An MPE global state (entity positions, agent velocities) determines every observation (each agent sees its
velocity, position and the others' relative positions; Tag's predators also the prey's velocity) and every
reward (JaxMARL computes a step's reward on the state after it, from positions alone). So the generator
produces the state ``[Ds]`` and each agent's box action ``[Da]`` (plus the auxiliary reward, Q-total and done
channels), and decoding makes the episode consistent with the simulator by construction:

1. continuous channels are clipped to the range seen in real data, actions to the action box;
2. landmarks do not move in MPE: each episode's landmark positions are their mean over its rows;
3. length = the window's rows − 1 (MPE episodes are never terminated, only truncated at 25 steps: the done
   channel carries nothing and is not read);
4. observations = ``get_obs`` of each state; team and per-agent rewards = ``rewards`` of the next state.

What the construction cannot give is that the generated next state is the one the physics produces from the
generated state and action: :mod:`rayeaq.generators.eaq.mpe_fidelity` measures that (the physics residual).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from rayeaq.data.batch import EpisodeBatch
from rayeaq.envs.mpe.maps import MPE_MAPS, MPEMap
from rayeaq.generators.eaq.layout import Decoded, Layout
from rayeaq.generators.eaq.normalizer import Normalizer


@lru_cache(maxsize=4)
def _replay(map_name: str, episode_limit: int):
    from rayeaq.envs.mpe.replay import MPEReplay

    return MPEReplay(map_name, episode_limit)


def landmark_slice(m: MPEMap) -> slice:
    """Channels of the landmarks' positions in the global state (after the simulated agents' positions)."""
    return slice(2 * m.n_total, 2 * (m.n_total + m.n_landmarks))


def project_states(state: np.ndarray, m: MPEMap) -> np.ndarray:
    """``[B, H, Ds]`` generated states -> states MPE can hold: every row's landmarks at the episode's mean."""
    s = state.copy()
    lm = landmark_slice(m)
    s[..., lm] = s[..., lm].mean(axis=1, keepdims=True)
    return s


def decode_mpe_state(x_raw: np.ndarray, layout: Layout, norm: Normalizer) -> Decoded:
    """Raw-scale tensors ``[B, F, H]`` of the MPE state layout -> episodes padded to ``episode_limit + 1`` rows."""
    m = MPE_MAPS[layout.map_name]
    replay = _replay(layout.map_name, layout.episode_limit)
    b, _, h = x_raw.shape
    t, n = layout.episode_limit + 1, layout.n_agents
    cont = ~layout.binary_mask()
    x = x_raw.copy()
    x[:, cont] = np.clip(x[:, cont], norm.low[cont, None], norm.high[cont, None])
    idx = layout.index_arrays()
    xt = x.transpose(0, 2, 1)  # [B, H, F]
    state = project_states(xt[..., idx["state"]], m)
    length = np.full(b, min(h, t) - 1, np.int64)
    hr = np.arange(h)[None, :]
    steps = np.broadcast_to(hr < length[:, None], (b, h))
    acts = layout.codec.decode(xt[..., idx["act"]], None, steps, layout.action_low, layout.action_high)
    obs = replay.observe(state.reshape(b * h, -1)).reshape(b, h, n, -1)
    nxt = np.concatenate([state[:, 1:], state[:, -1:]], axis=1).reshape(b * h, -1)
    team, agent = replay.rewards(nxt)
    team, agent = team.reshape(b, h) * steps, agent.reshape(b, h, n) * steps[:, :, None]
    pad = ((0, 0), (0, t - h))
    reward = np.pad(team, pad).astype(np.float32)
    episodes = EpisodeBatch(
        obs=np.pad(obs, pad + ((0, 0), (0, 0))).astype(np.float32),
        state=np.pad(state, pad + ((0, 0),)).astype(np.float32),
        avail_actions=None,
        actions=np.pad(acts.actions, pad + ((0, 0), (0, 0))).astype(np.float32),
        reward=reward,
        terminated=np.zeros((b, t), bool),
        filled=np.pad(steps, pad),
        episode_id=np.arange(b, dtype=np.int64),
        length=length,
        episode_return=reward.sum(1).astype(np.float32),
        battle_won=np.zeros(b, bool),
        seed=np.zeros(b, np.int64),
        source=np.array(["synthetic"] * b, dtype=object),
        behaviour_policy=np.array(["synthetic"] * b, dtype=object),
        agent_reward=np.pad(agent, pad + ((0, 0),)).astype(np.float32),
    )
    return Decoded(episodes, acts.legal.sum(axis=(1, 2)), steps.sum(1) * n, acts.no_action)

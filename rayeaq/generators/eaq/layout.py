"""Episode <-> tensor layout of EAQ: an episode (or a window of it) becomes one ``(F, H)`` tensor.

Channels, in order (``F`` of them), for a window of ``H`` rows of the padded episode:

* per agent ``i``: its observation (``Do``), its action channels (``C``: a one-hot of ``A`` discrete actions, or
  the ``Da`` values of a box action, :mod:`rayeaq.generators.eaq.actions`; zero on rows that are not steps)
  and, when ``include_avail`` (discrete only), its available-action mask (``A``);
* when ``include_state``: the global state (``Ds``);
* ``n_extra`` per-agent rewards (``N``, when the dataset has them: MPE);
* the global reward, the Q-total channel (return from row t to the end of the *episode*) and the
  done flag (1 from the last step of a battle-ended episode on, and on every padding row).

With ``kind = "state"`` the channels are the global state (``Ds``; padding rows repeat the terminal row's
state, an absorbing end state), per agent its action channels, ``n_extra`` channels the state does not hold,
then the same reward, Q-total and done channels; observations (and, per backend, what else the simulator
computes) come from the decoded states by the simulator's own functions. SMAX
(:mod:`rayeaq.generators.eaq.state_layout`): the extra channels are the enemies' previous actions (3 per enemy:
movement x, y and attack target, which SMAX shows in observations but not in the state); available actions,
reward, battle end and win are computed. MPE (:mod:`rayeaq.generators.eaq.mpe_state_layout`): no extra
channels; rewards and per-agent rewards are computed from consecutive states.

Decoding (paper kind) inverts this: length = first done row + 1 (a battle end) or ``H - 1`` steps when no done is
seen (a truncated segment, terminal observation = last row); discrete actions are the argmax over the
available actions, box actions are clipped to the box; every row after the episode is zeroed; continuous
channels are clipped to the range seen in real data (box actions: to the box). Rows follow the dataset's row
convention (CONTRACTS.md): the row after the last step holds the terminal observation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from rayeaq.core.errors import ConfigError
from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.card import DatasetCard
from rayeaq.generators.eaq.actions import ACTION_CODECS, BoxCodec, DiscreteCodec
from rayeaq.generators.eaq.normalizer import Normalizer

STATE_BACKENDS = ("smax", "mpe")
"""Backends whose simulator computes the derived channels of the state kind."""


@dataclass(frozen=True)
class Layout:
    """Sizes and channel order of the EAQ tensor. ``rows`` = H, the window length; ``n_actions`` = A
    (discrete) or Da (box)."""

    n_agents: int
    obs_dim: int
    n_actions: int
    state_dim: int
    episode_limit: int
    rows: int
    include_state: bool
    include_avail: bool
    kind: str = "paper"
    """paper (per-agent obs + action [+ avail], [state], [agent rewards], reward, Q-total, done) or state."""
    n_extra: int = 0
    """state kind: channels the state does not hold (SMAX: 3 per enemy); paper kind: per-agent rewards (N)."""
    map_name: str = ""
    """state kind: the map whose functions compute the derived channels."""
    backend: str = "smax"
    """The dataset's backend (state kind: whose simulator decodes)."""
    action_kind: str = "discrete"
    """discrete | box: the codec of the action channels (:data:`rayeaq.generators.eaq.actions.ACTION_CODECS`)."""
    action_low: float = 0.0
    """box: lower bound of every action dimension."""
    action_high: float = 1.0
    """box: upper bound of every action dimension."""
    has_success: bool = True
    """The map has a win (SMAX, SC2); MPE has none: decoded episodes are never won."""
    fixed_length: bool = False
    """Every real episode ran to the episode limit (MPE: truncated, never terminated): the paper kind decodes
    every window to its rows − 1 steps without reading the done channel (a noisy done cannot cut it short)."""

    @classmethod
    def for_dataset(
        cls, card: DatasetCard, horizon: int | None, include_state: bool, include_avail: bool, kind: str = "paper"
    ) -> Layout:
        """The layout of a dataset card (``card.max_seq_len`` rows when ``horizon`` is None); box actions have
        no availability channels (``include_avail`` is ignored)."""
        rows = card.max_seq_len if horizon is None else horizon
        if rows > card.max_seq_len:
            raise ConfigError(
                f"diffusion.horizon: expected at most {card.max_seq_len} (episode_limit + 1 rows), got {rows}"
            )
        if kind == "state" and card.backend not in STATE_BACKENDS:
            raise ConfigError(
                f"diffusion.layout: state needs a simulator that computes the derived channels "
                f"({', '.join(STATE_BACKENDS)}), got {card.backend}; use paper"
            )
        space = card.resolved_action_space()
        box = space["kind"] == "box"
        actions = {
            "backend": card.backend,
            "action_kind": space["kind"],
            "action_low": float(space["low"]) if box else 0.0,
            "action_high": float(space["high"]) if box else 1.0,
            "has_success": card.has_success,
        }
        sizes = (card.n_agents, card.obs_shape, card.n_actions, card.state_shape, card.episode_limit, rows)
        if kind == "state":
            extra = 3 * (card.n_actions - 5) if card.backend == "smax" else 0
            return cls(*sizes, True, False, "state", extra, card.map, **actions)
        agent_rewards = card.n_agents if card.has_agent_reward else 0
        full = card.stats.mean_length >= card.episode_limit - 1e-6
        return cls(
            *sizes,
            include_state,
            include_avail and not box,
            "paper",
            agent_rewards,
            card.map,
            **actions,
            fixed_length=full,
        )

    # ---- channel bookkeeping ----------------------------------------------------------------
    @property
    def codec(self) -> DiscreteCodec | BoxCodec:
        return ACTION_CODECS[self.action_kind]

    @property
    def per_agent(self) -> int:
        if self.kind == "state":
            return self.n_actions
        return self.obs_dim + self.n_actions * (2 if self.include_avail else 1)

    @property
    def agent_offset(self) -> int:
        return self.state_dim if self.kind == "state" else 0

    @property
    def state_offset(self) -> int:
        return 0 if self.kind == "state" else self.n_agents * self.per_agent

    @property
    def extra_offset(self) -> int:
        if self.kind == "state":
            return self.agent_offset + self.n_agents * self.per_agent
        return self.state_offset + (self.state_dim if self.include_state else 0)

    @property
    def reward_channel(self) -> int:
        return self.extra_offset + self.n_extra

    @property
    def qtot_channel(self) -> int:
        return self.reward_channel + 1

    @property
    def done_channel(self) -> int:
        return self.reward_channel + 2

    @property
    def channels(self) -> int:
        return self.reward_channel + 3

    def agent_slices(self, i: int) -> tuple[slice, slice, slice | None]:
        """(obs, action, avail) channel slices of agent ``i`` (obs is empty in the state kind)."""
        base = self.agent_offset + i * self.per_agent
        obs = slice(base, base + (0 if self.kind == "state" else self.obs_dim))
        act = slice(obs.stop, obs.stop + self.n_actions)
        avail = slice(act.stop, act.stop + self.n_actions) if self.include_avail else None
        return obs, act, avail

    def index_arrays(self) -> dict[str, np.ndarray]:
        """Channel indices gathered per field: obs ``[N,Do]``, act/avail ``[N,C]``, state ``[Ds]``,
        extra ``[n_extra]`` (state kind: no obs, no avail)."""
        act = np.stack([np.arange(a.start, a.stop) for _, a, _ in map(self.agent_slices, range(self.n_agents))])
        out = {"act": act, "extra": np.arange(self.extra_offset, self.extra_offset + self.n_extra)}
        if self.kind == "state":
            out["state"] = np.arange(0, self.state_dim)
            return out
        out["obs"] = np.stack([np.arange(s.start, s.stop) for s, _, _ in map(self.agent_slices, range(self.n_agents))])
        if self.include_avail:
            out["avail"] = act + self.n_actions
        if self.include_state:
            out["state"] = np.arange(self.state_offset, self.state_offset + self.state_dim)
        return out

    def binary_mask(self) -> np.ndarray:
        """``[F]`` True for one-hot / binary channels (discrete actions, availability, done)."""
        mask = np.zeros(self.channels, dtype=bool)
        idx = self.index_arrays()
        mask[idx["act"].ravel()] = self.codec.binary
        if self.include_avail:
            mask[idx["avail"].ravel()] = True
        mask[self.done_channel] = True
        return mask

    def fixed_ranges(self) -> tuple[np.ndarray, float, float] | None:
        """(channels, low, high) whose normalising range is fixed rather than fitted: box actions' bounds."""
        if self.codec.binary:
            return None
        return self.index_arrays()["act"].ravel(), self.action_low, self.action_high

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Layout:
        return cls(**data)


def return_to_go(reward: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """``[B,T]`` sum of ``reward[t:]`` over filled rows (the Q-total target)."""
    r = (reward * filled).astype(np.float64)
    return np.flip(np.cumsum(np.flip(r, axis=1), axis=1), axis=1).astype(np.float32)


def encode_episodes(batch: EpisodeBatch, layout: Layout) -> np.ndarray:
    """Whole padded episodes -> raw (unnormalised) tensors ``[B, F, T]`` with ``T = max_seq_len``."""
    b, t = batch.reward.shape
    out = np.zeros((b, layout.channels, t), dtype=np.float32)
    idx = layout.index_arrays()
    steps = np.arange(t)[None, :]
    filled = batch.filled.astype(np.float32)
    if layout.n_extra and layout.kind == "state":  # SMAX: the enemies' previous actions
        from rayeaq.generators.eaq.state_layout import enemy_channels

        out[:, idx["extra"]] = enemy_channels(batch, layout).transpose(0, 2, 1)
    elif layout.n_extra:  # paper kind: the per-agent rewards
        assert batch.agent_reward is not None  # n_extra > 0 only for datasets with agent rewards
        out[:, idx["extra"]] = (batch.agent_reward * filled[:, :, None]).transpose(0, 2, 1)
    if layout.kind != "state":
        out[:, idx["obs"]] = batch.obs.transpose(0, 2, 3, 1)
    out[:, idx["act"]] = layout.codec.encode(batch.actions, layout.n_actions, batch.filled).transpose(0, 2, 3, 1)
    if layout.include_avail:
        assert batch.avail_actions is not None  # avail channels exist for discrete actions only
        out[:, idx["avail"]] = batch.avail_actions.astype(np.float32).transpose(0, 2, 3, 1)
    if layout.include_state:
        state = batch.state
        if layout.kind == "state":
            # padding rows repeat the terminal state (an absorbing end state): a won battle's tail shows
            # the enemies dead and the survivors alive. Zero padding reads as "everyone dead", and the
            # generator then blurred every ending into a wipe-out of both sides (no generated win).
            last = np.minimum(batch.length, t - 1)
            src = np.minimum(steps, last[:, None])
            state = state[np.arange(b)[:, None], src]
        out[:, idx["state"]] = state.transpose(0, 2, 1)
    out[:, layout.reward_channel] = batch.reward * filled
    out[:, layout.qtot_channel] = return_to_go(batch.reward, batch.filled)
    length = batch.length[:, None]
    ended = batch.terminated[np.arange(b), np.maximum(batch.length - 1, 0)][:, None]
    done = np.where(ended, steps >= length - 1, steps > length)
    out[:, layout.done_channel] = done.astype(np.float32)
    return out


def window_starts(length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(episode index, start row) of every training window: one per episode, starting at row 0.

    A generated window is written as an episode, so it must begin where episodes begin: a window that
    starts mid-battle would teach the generator to open episodes mid-fight (and a recurrent learner
    would start its hidden state there).
    """
    return np.arange(len(length), dtype=np.int64), np.zeros(len(length), dtype=np.int64)


def encode_windows(batch: EpisodeBatch, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``layout.rows`` rows -> ``(x [W,F,H], valid [W,H])``; ``valid`` marks step rows.

    One window per episode, from row 0 (an episode longer than the window is seen up to its
    ``layout.rows``-th row, and a sample decodes as that truncated prefix).
    """
    full = encode_episodes(batch, layout)
    h = layout.rows
    ep, st = window_starts(batch.length)
    rows = st[:, None] + np.arange(h)[None, :]
    x = full[ep[:, None], :, rows].transpose(0, 2, 1)
    valid = rows < batch.length[ep][:, None]
    return np.ascontiguousarray(x), valid


@dataclass
class Decoded:
    """Decoded windows: the episodes plus per-episode validity diagnostics."""

    episodes: EpisodeBatch
    legal_steps: np.ndarray  # [B] agent-steps whose unrestricted choice is a legal action (box: every one)
    agent_steps: np.ndarray  # [B] agent-steps in the episode
    no_action: np.ndarray  # [B] bool: some agent had no available action on a step

    @property
    def valid(self) -> np.ndarray:
        """Episodes with at least one step and an available action for every agent on every step."""
        valid: np.ndarray = (self.episodes.length > 0) & ~self.no_action
        return valid


def done_change_point(done: np.ndarray, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The row where a noisy done channel ``[B, H]`` switches from "not done" to "done" for good.

    The done flag of an encoded episode is a step function (0 on its steps, 1 from the battle's last
    step on), so the decoder fits one: the change row ``c`` in ``0..H`` (``H`` = no done in the window)
    minimising ``Σ_{t<c} max(d_t − θ, 0) + Σ_{t≥c} max(θ − d_t, 0)``, the total amount by which the
    rows disagree with the step. One noisy row above θ no longer ends the episode (the first crossing
    did), and one noisy row below θ inside the done run no longer extends it. Ties go to the later row.
    Returns ``(first done row [B], has_done [B])``; rows are ``h - 1`` where there is no done.
    """
    b, h = done.shape
    above = np.maximum(done - threshold, 0.0)  # cost of a row before the change (should be 0)
    below = np.maximum(threshold - done, 0.0)  # cost of a row after the change (should be 1)
    zero = np.zeros((b, 1), dtype=np.float64)
    before = np.concatenate([zero, np.cumsum(above, axis=1)], axis=1)  # [B, H+1]: Σ_{t<c} above
    after = np.concatenate([np.cumsum(below[:, ::-1], axis=1)[:, ::-1], zero], axis=1)  # Σ_{t≥c} below
    cost = before + after
    change = h - np.argmin(cost[:, ::-1], axis=1)  # the last minimum: ties keep the episode running
    has_done = change < h
    return np.where(has_done, change, h - 1), has_done


def decode(
    x_raw: np.ndarray, layout: Layout, norm: Normalizer, max_return: float, done_threshold: float = 0.5
) -> Decoded:
    """Raw-scale tensors ``[B, F, H]`` -> episodes padded to ``episode_limit + 1`` rows."""
    if layout.kind == "state":
        from rayeaq.generators.eaq.state_decoders import STATE_DECODERS

        return STATE_DECODERS[layout.backend](x_raw, layout, norm)
    b, _, h = x_raw.shape
    t = layout.episode_limit + 1
    cont = ~layout.binary_mask()
    x = x_raw.copy()
    x[:, cont] = np.clip(x[:, cont], norm.low[cont, None], norm.high[cont, None])
    idx = layout.index_arrays()
    first, has_done = done_change_point(x[:, layout.done_channel], done_threshold)
    if layout.fixed_length:
        first, has_done = np.full(b, h - 1), np.zeros(b, bool)
    length = np.where(has_done, first + 1, h - 1).astype(np.int64)
    length = np.minimum(length, t - 1)
    term_row = np.minimum(length, h - 1)  # a done on the window's last row: terminal obs copied from it
    rows = np.arange(t)[None, :]
    src = np.minimum(rows, term_row[:, None])  # rows beyond the terminal row are zeroed below
    keep = rows <= length[:, None]
    steps = rows < length[:, None]
    bi = np.arange(b)[:, None]

    def take(channels: np.ndarray) -> np.ndarray:  # [B,F',H] -> [B,T,F'] gathered at src rows
        sel: np.ndarray = x[:, channels.ravel()].transpose(0, 2, 1)[bi, src]
        return sel.reshape((b, t) + channels.shape)

    obs = take(idx["obs"]) * keep[:, :, None, None]
    logits = take(idx["act"])  # [B,T,N,C]
    avail = (take(idx["avail"]) > 0.5) & keep[:, :, None, None] if layout.include_avail else None
    if avail is None and layout.codec.has_avail:  # discrete without avail channels: every action available
        avail = np.broadcast_to(keep[:, :, None, None], logits.shape).copy()
    state = (
        take(idx["state"]) * keep[:, :, None]
        if layout.include_state
        else np.zeros((b, t, layout.state_dim), np.float32)
    )
    acts = layout.codec.decode(logits, avail, steps, layout.action_low, layout.action_high)
    reward = (x[:, layout.reward_channel][bi, src] * steps).astype(np.float32)
    agent_reward = (take(idx["extra"]) * steps[:, :, None]).astype(np.float32) if layout.n_extra else None
    terminated = np.zeros((b, t), dtype=bool)
    ended = has_done & (length > 0)
    terminated[np.arange(b)[ended], length[ended] - 1] = True
    ret = reward.sum(axis=1).astype(np.float32)
    # the win bonus (half the maximum return: SMAX +1 of 2) arrives on the last step only
    last_reward = reward[np.arange(b), np.maximum(length - 1, 0)]
    won = ended & (last_reward >= 0.5 * max_return - 1e-3) if layout.has_success else np.zeros(b, bool)
    episodes = EpisodeBatch(
        obs=obs.astype(np.float32),
        state=state.astype(np.float32),
        avail_actions=avail,
        actions=acts.actions,
        reward=reward,
        terminated=terminated,
        filled=steps.copy(),
        episode_id=np.arange(b, dtype=np.int64),
        length=length,
        episode_return=ret,
        battle_won=won,
        seed=np.zeros(b, np.int64),
        source=np.array(["synthetic"] * b, dtype=object),
        behaviour_policy=np.array(["synthetic"] * b, dtype=object),
        agent_reward=agent_reward,
    )
    return Decoded(episodes, acts.legal.sum(axis=(1, 2)), (steps.sum(axis=1) * layout.n_agents), acts.no_action)

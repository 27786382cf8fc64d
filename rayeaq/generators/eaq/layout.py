"""Episode <-> tensor layout of EAQ: an episode (or a window of it) becomes one ``(F, H)`` tensor.

Channels, in order (``F`` of them), for a window of ``H`` rows of the padded episode:

* per agent ``i``: its observation (``Do``), its one-hot action (``A``, zero on rows that are not steps)
  and, when ``include_avail``, its available-action mask (``A``);
* when ``include_state``: the global state (``Ds``);
* the global reward, the Q-total channel (return from row t to the end of the *episode*) and the
  done flag (1 from the last step of a battle-ended episode on, and on every padding row).

With ``kind = "state"`` (SMAX; :mod:`rayeaq.generators.eaq.state_layout`) the channels are the global
state (``Ds``; padding rows repeat the terminal row's state, the battle's absorbing end state), per agent its one-hot action (``A``), the enemies' previous actions (``n_extra`` = 3 per
enemy: movement x, y and attack target, which SMAX shows in observations but not in the state), then
the same reward, Q-total and done channels; observations, available actions, reward, battle end and win
are computed from the decoded states by SMAX's own functions, and the reward and done channels are only
auxiliary (the Q-total's consistency is measured against the computed rewards).

Decoding (paper kind) inverts this: length = first done row + 1 (a battle end) or ``H - 1`` steps when no done is
seen (a truncated segment, terminal observation = last row); actions are the argmax over the
available actions; every row after the episode is zeroed; continuous channels are clipped to the
range seen in real data. Rows follow the dataset's row convention (CONTRACTS.md): the row after the
last step holds the terminal observation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np

from rayeaq.core.errors import ConfigError
from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.card import DatasetCard


@dataclass(frozen=True)
class Layout:
    """Sizes and channel order of the EAQ tensor. ``rows`` = H, the window length."""

    n_agents: int
    obs_dim: int
    n_actions: int
    state_dim: int
    episode_limit: int
    rows: int
    include_state: bool
    include_avail: bool
    kind: str = "paper"
    """paper (per-agent obs + action [+ avail], [state], reward, Q-total, done) or state (see module doc)."""
    n_extra: int = 0
    """state kind: enemies' previous-action channels (3 per enemy)."""
    map_name: str = ""
    """state kind: the SMAX map whose functions compute the derived channels."""

    @classmethod
    def for_dataset(
        cls, card: DatasetCard, horizon: int | None, include_state: bool, include_avail: bool, kind: str = "paper"
    ) -> Layout:
        """The layout of a dataset card (``card.max_seq_len`` rows when ``horizon`` is None)."""
        rows = card.max_seq_len if horizon is None else horizon
        if rows > card.max_seq_len:
            raise ConfigError(
                f"diffusion.horizon: expected at most {card.max_seq_len} (episode_limit + 1 rows), got {rows}"
            )
        if kind == "state":
            if getattr(card, "backend", "smax") != "smax":
                raise ConfigError(
                    f"diffusion.layout: state needs the SMAX backend (SMAX computes the derived "
                    f"channels), got {card.backend}; use paper"
                )
            enemies = card.n_actions - 5
            return cls(
                card.n_agents,
                card.obs_shape,
                card.n_actions,
                card.state_shape,
                card.episode_limit,
                rows,
                True,
                False,
                "state",
                3 * enemies,
                card.map,
            )
        return cls(
            card.n_agents,
            card.obs_shape,
            card.n_actions,
            card.state_shape,
            card.episode_limit,
            rows,
            include_state,
            include_avail,
        )

    # ---- channel bookkeeping ----------------------------------------------------------------
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
        return self.agent_offset + self.n_agents * self.per_agent if self.kind == "state" else self.reward_channel

    @property
    def reward_channel(self) -> int:
        if self.kind == "state":
            return self.state_dim + self.n_agents * self.per_agent + self.n_extra
        return self.state_offset + (self.state_dim if self.include_state else 0)

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
        """Channel indices gathered per field: obs ``[N,Do]``, act/avail ``[N,A]``, state ``[Ds]``,
        extra ``[n_extra]`` (state kind: no obs, no avail)."""
        act = np.stack([np.arange(a.start, a.stop) for _, a, _ in map(self.agent_slices, range(self.n_agents))])
        out = {"act": act}
        if self.kind == "state":
            out["state"] = np.arange(0, self.state_dim)
            out["extra"] = np.arange(self.extra_offset, self.extra_offset + self.n_extra)
            return out
        out["obs"] = np.stack([np.arange(s.start, s.stop) for s, _, _ in map(self.agent_slices, range(self.n_agents))])
        if self.include_avail:
            out["avail"] = act + self.n_actions
        if self.include_state:
            out["state"] = np.arange(self.state_offset, self.state_offset + self.state_dim)
        return out

    def binary_mask(self) -> np.ndarray:
        """``[F]`` True for one-hot / binary channels (actions, availability, done)."""
        mask = np.zeros(self.channels, dtype=bool)
        idx = self.index_arrays()
        mask[idx["act"].ravel()] = True
        if self.include_avail:
            mask[idx["avail"].ravel()] = True
        mask[self.done_channel] = True
        return mask

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
    onehot = np.eye(layout.n_actions, dtype=np.float32)[batch.actions] * filled[:, :, None, None]
    if layout.kind == "state":
        from rayeaq.generators.eaq.state_layout import enemy_channels

        out[:, idx["extra"]] = enemy_channels(batch, layout).transpose(0, 2, 1)
    else:
        out[:, idx["obs"]] = batch.obs.transpose(0, 2, 3, 1)
    out[:, idx["act"]] = onehot.transpose(0, 2, 3, 1)
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
class Normalizer:
    """Per-channel affine map to [-1, 1] fitted on real data; binary channels map {0,1} -> {-1,1}."""

    low: np.ndarray  # [F]
    high: np.ndarray  # [F]

    @classmethod
    def fit(cls, x: np.ndarray, binary: np.ndarray, rows: np.ndarray | None = None) -> Normalizer:
        """``x [W,F,H]`` raw windows of *real* data; ``rows [W,H]`` the rows that belong to an episode
        (steps and the terminal row): padding rows are ignored, so their zeros never widen a range."""
        if rows is not None and rows.any():
            picked = x.transpose(0, 2, 1)[rows]  # [R, F]
            low, high = picked.min(axis=0).astype(np.float32), picked.max(axis=0).astype(np.float32)
        else:
            low = x.min(axis=(0, 2)).astype(np.float32)
            high = x.max(axis=(0, 2)).astype(np.float32)
        low[binary], high[binary] = 0.0, 1.0
        return cls(low, high)

    def _scale(self) -> np.ndarray:
        span = self.high - self.low
        return np.where(span > 1e-6, span, 1.0).astype(np.float32)

    def normalize(self, x: Any) -> Any:
        """``[..., F, H]`` raw -> normalised (numpy or torch)."""
        low: Any
        scale: Any
        low, scale = self.low[:, None], self._scale()[:, None]
        if not isinstance(x, np.ndarray):
            import torch

            low, scale = torch.as_tensor(low, device=x.device), torch.as_tensor(scale, device=x.device)
        return 2.0 * (x - low) / scale - 1.0

    def unnormalize(self, x: Any) -> Any:
        """Inverse of :meth:`normalize`."""
        low: Any
        scale: Any
        low, scale = self.low[:, None], self._scale()[:, None]
        if not isinstance(x, np.ndarray):
            import torch

            low, scale = torch.as_tensor(low, device=x.device), torch.as_tensor(scale, device=x.device)
        return (x + 1.0) * 0.5 * scale + low

    def to_dict(self) -> dict:
        return {"low": self.low.tolist(), "high": self.high.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Normalizer:
        return cls(np.asarray(data["low"], np.float32), np.asarray(data["high"], np.float32))


@dataclass
class Decoded:
    """Decoded windows: the episodes plus per-episode validity diagnostics."""

    episodes: EpisodeBatch
    legal_steps: np.ndarray  # [B] agent-steps whose unrestricted argmax action is available
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
        from rayeaq.generators.eaq.state_layout import decode_state_layout

        return decode_state_layout(x_raw, layout, norm)
    b, _, h = x_raw.shape
    t = layout.episode_limit + 1
    cont = ~layout.binary_mask()
    x = x_raw.copy()
    x[:, cont] = np.clip(x[:, cont], norm.low[cont, None], norm.high[cont, None])
    idx = layout.index_arrays()
    first, has_done = done_change_point(x[:, layout.done_channel], done_threshold)
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
    logits = take(idx["act"])  # [B,T,N,A]
    if layout.include_avail:
        avail = (take(idx["avail"]) > 0.5) & keep[:, :, None, None]
    else:
        avail = np.broadcast_to(keep[:, :, None, None], logits.shape).copy()
    state = (
        take(idx["state"]) * keep[:, :, None]
        if layout.include_state
        else np.zeros((b, t, layout.state_dim), np.float32)
    )
    masked = np.where(avail, logits, -np.inf)
    actions = np.where(steps[:, :, None], masked.argmax(axis=-1), 0).astype(np.int64)
    free = logits.argmax(axis=-1)
    legal = np.take_along_axis(avail, free[..., None], axis=-1)[..., 0] & steps[:, :, None]
    no_action = cast(np.ndarray, (~avail.any(axis=-1) & steps[:, :, None]).any(axis=(1, 2)))
    reward = (x[:, layout.reward_channel][bi, src] * steps).astype(np.float32)
    terminated = np.zeros((b, t), dtype=bool)
    ended = has_done & (length > 0)
    terminated[np.arange(b)[ended], length[ended] - 1] = True
    ret = reward.sum(axis=1).astype(np.float32)
    # the win bonus (half the maximum return: SMAX +1 of 2) arrives on the last step only
    last_reward = reward[np.arange(b), np.maximum(length - 1, 0)]
    episodes = EpisodeBatch(
        obs=obs.astype(np.float32),
        state=state.astype(np.float32),
        avail_actions=avail,
        actions=actions,
        reward=reward,
        terminated=terminated,
        filled=steps.copy(),
        episode_id=np.arange(b, dtype=np.int64),
        length=length,
        episode_return=ret,
        battle_won=ended & (last_reward >= 0.5 * max_return - 1e-3),
        seed=np.zeros(b, np.int64),
        source=np.array(["synthetic"] * b, dtype=object),
        behaviour_policy=np.array(["synthetic"] * b, dtype=object),
    )
    return Decoded(episodes, legal.sum(axis=(1, 2)), (steps.sum(axis=1) * layout.n_agents), no_action)

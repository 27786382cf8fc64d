"""The dataset card (``card.json``): what a dataset is, where it came from, what it contains.

Schema v2 (written now) adds the action space (``{"kind": "discrete", "n": A}`` or ``{"kind": "box", "dim": Da,
"low": lo, "high": hi}``), which optional tensors the shards hold (``has_avail_actions``, ``has_agent_reward``),
whether the map has a win (``has_success``; ``stats.win_rate`` is null without one) and per-map reference returns
(``reference_returns`` ``{"random": R, "expert": R}``) behind ``stats.normalized_score`` =
100·(R − R_random)/(R_expert − R_random). Version-1 cards read unchanged: their missing fields take the v1
meaning (discrete actions with availability masks, a win flag, no per-agent rewards).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from rayeaq.core.errors import DatasetError
from rayeaq.core.output import writing

SCHEMA_VERSION = 2
SUPPORTED_SCHEMA_VERSIONS = (1, 2)
CARD_NAME = "card.json"
SUMMARY_NAME = "episodes.parquet"
SHARD_DIR = "shards"


class DatasetStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    episodes: int
    transitions: int
    mean_return: float
    std_return: float
    win_rate: float | None
    mean_length: float
    normalized_return: float | None
    normalized_score: float | None = None


class DatasetCard(BaseModel):
    """Everything a reader needs to trust and interpret a dataset directory."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    backend: Literal["smax", "sc2", "mpe"]
    map: str
    n_agents: int
    n_actions: int
    obs_shape: int
    state_shape: int
    episode_limit: int
    max_seq_len: int
    action_layout: list[str]
    reward_scale: str
    max_return: float
    source: Literal["real", "synthetic", "mixed"]
    tier: str | None = None
    quality: dict[str, Any] = {}
    behaviour_policy: dict[str, Any] = {}
    generation: dict[str, Any] = {}
    code_version: dict[str, Any] = {}
    stats: DatasetStats
    fingerprint: str
    shards: list[str]
    action_space: dict[str, Any] | None = None
    has_avail_actions: bool = True
    has_agent_reward: bool = False
    has_success: bool = True
    reference_returns: dict[str, float] = {}

    def sizes(self) -> tuple[int, int, int, int, int, int]:
        """(max_seq_len, n_agents, obs_shape, state_shape, n_actions, episode_limit)."""
        return (self.max_seq_len, self.n_agents, self.obs_shape, self.state_shape, self.n_actions, self.episode_limit)

    def resolved_action_space(self) -> dict[str, Any]:
        """The card's action space (v1 cards: ``{"kind": "discrete", "n": n_actions}``)."""
        return self.action_space or {"kind": "discrete", "n": self.n_actions}

    @property
    def is_box(self) -> bool:
        kind: str = self.resolved_action_space()["kind"]
        return kind == "box"

    def field_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-episode trailing shapes of the tensors the shards hold."""
        from rayeaq.data.shards import field_shapes

        return field_shapes(
            self.max_seq_len,
            self.n_agents,
            self.obs_shape,
            self.state_shape,
            self.n_actions,
            box=self.is_box,
            agent_reward=self.has_agent_reward,
        )


def normalized_score(mean_return: float, reference: dict[str, float]) -> float | None:
    """D4RL/OMAR normalized score 100·(R − R_random)/(R_expert − R_random); None without both references."""
    if "random" not in reference or "expert" not in reference or reference["expert"] == reference["random"]:
        return None
    return 100.0 * (mean_return - reference["random"]) / (reference["expert"] - reference["random"])


def compute_stats(
    length: np.ndarray,
    returns: np.ndarray,
    won: np.ndarray,
    max_return: float,
    has_success: bool = True,
    reference: dict[str, float] | None = None,
) -> DatasetStats:
    """Summary statistics; ``normalized_return`` = mean/max_return (None when max_return is 0),
    ``normalized_score`` from ``reference`` returns (see :func:`normalized_score`)."""
    n = int(length.shape[0])
    mean_return = float(returns.mean()) if n else 0.0
    return DatasetStats(
        episodes=n,
        transitions=int(length.sum()),
        mean_return=mean_return,
        std_return=float(returns.std()) if n else 0.0,
        win_rate=(float(won.astype(bool).mean()) if n else 0.0) if has_success else None,
        mean_length=float(length.mean()) if n else 0.0,
        normalized_return=mean_return / max_return if max_return else None,
        normalized_score=normalized_score(mean_return, reference or {}),
    )


def write_card(directory: str | Path, card: DatasetCard) -> Path:
    """Write ``card.json`` atomically."""
    path = Path(directory) / CARD_NAME
    tmp = path.with_name(f".{CARD_NAME}.tmp-{os.getpid()}")
    with writing(path, tmp):
        tmp.write_text(json.dumps(card.model_dump(mode="json"), indent=2, sort_keys=False), encoding="utf-8")
        os.replace(tmp, path)
    return path


def read_card(directory: str | Path) -> DatasetCard:
    """Read and validate ``card.json``; a missing or malformed card is a :class:`DatasetError`."""
    path = Path(directory) / CARD_NAME
    if not Path(directory).is_dir():
        raise DatasetError(f"{directory}: dataset directory not found")
    if not path.is_file():
        raise DatasetError(f"{path}: dataset card missing (is {directory} a dataset written by rayeaq?)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
    try:
        card = DatasetCard.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise DatasetError(f"{path}: field {loc}: {first['msg']}") from None
    if card.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
        raise DatasetError(
            f"{path}: field schema_version: {card.schema_version} is not supported "
            f"(expected one of {', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))})"
        )
    return card

"""The dataset card (``card.json``): what a dataset is, where it came from, what it contains."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from rayeaq.core.errors import DatasetError

SCHEMA_VERSION = 1
CARD_NAME = "card.json"
SUMMARY_NAME = "episodes.parquet"
SHARD_DIR = "shards"


class DatasetStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    episodes: int
    transitions: int
    mean_return: float
    std_return: float
    win_rate: float
    mean_length: float
    normalized_return: float


class DatasetCard(BaseModel):
    """Everything a reader needs to trust and interpret a dataset directory."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    backend: Literal["smax", "sc2"]
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

    def sizes(self) -> tuple[int, int, int, int, int, int]:
        """(max_seq_len, n_agents, obs_shape, state_shape, n_actions, episode_limit)."""
        return (self.max_seq_len, self.n_agents, self.obs_shape, self.state_shape, self.n_actions, self.episode_limit)


def compute_stats(length: np.ndarray, returns: np.ndarray, won: np.ndarray, max_return: float) -> DatasetStats:
    n = int(length.shape[0])
    mean_return = float(returns.mean()) if n else 0.0
    return DatasetStats(
        episodes=n,
        transitions=int(length.sum()),
        mean_return=mean_return,
        std_return=float(returns.std()) if n else 0.0,
        win_rate=float(won.mean()) if n else 0.0,
        mean_length=float(length.mean()) if n else 0.0,
        normalized_return=mean_return / max_return,
    )


def write_card(directory: str | Path, card: DatasetCard) -> Path:
    """Write ``card.json`` atomically."""
    path = Path(directory) / CARD_NAME
    tmp = path.with_name(f".{CARD_NAME}.tmp-{os.getpid()}")
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
    if card.schema_version != SCHEMA_VERSION:
        raise DatasetError(
            f"{path}: field schema_version: {card.schema_version} is not supported (expected {SCHEMA_VERSION})"
        )
    return card

"""Finish a dataset directory: episode summary, statistics, fingerprint and card.

Writers (collect actors, augment tasks) drop shards into ``DIR/shards/`` with
:func:`rayeaq.data.shards.write_shard`; :func:`finalize_dataset` then reads them back (which also
validates them), writes ``episodes.parquet`` (one row per episode, no tensors) and ``card.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from rayeaq.core.errors import DatasetError
from rayeaq.core.output import writing
from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.card import (
    SCHEMA_VERSION,
    SHARD_DIR,
    SUMMARY_NAME,
    DatasetCard,
    compute_stats,
    write_card,
)
from rayeaq.data.shards import (
    DIGEST,
    field_shapes,
    fingerprint,
    read_shard_index,
    write_shard,
)
from rayeaq.envs.spec import EnvSpec


def finalize_dataset(
    directory: str | Path,
    spec: EnvSpec,
    *,
    source: str,
    tier: str | None = None,
    quality: dict[str, Any] | None = None,
    behaviour_policy: dict[str, Any] | None = None,
    generation: dict[str, Any] | None = None,
    code_version: dict[str, Any] | None = None,
    reference_returns: dict[str, float] | None = None,
) -> DatasetCard:
    """Validate every shard under ``DIR/shards``, then write the summary and the card (schema v2: the action
    space and optional tensors come from ``spec`` and the shards; ``reference_returns`` ``{"random", "expert"}``
    give ``stats.normalized_score``)."""
    directory = Path(directory)
    shard_dir = directory / SHARD_DIR
    names = sorted(p.name for p in shard_dir.glob("shard-*.parquet")) if shard_dir.is_dir() else []
    if not names:
        raise DatasetError(f"{shard_dir}: no shards to finalize")
    has_agent_reward = "agent_reward" in pq.read_schema(shard_dir / names[0]).names
    shapes = field_shapes(
        spec.max_seq_len,
        spec.n_agents,
        spec.obs_shape,
        spec.state_shape,
        spec.n_actions,
        box=spec.is_box,
        agent_reward=has_agent_reward,
    )
    summaries = [read_shard_index(shard_dir / name, shapes).assign(shard=name) for name in names]
    summary = pd.concat(summaries, ignore_index=True).sort_values("episode_id", kind="stable")
    digests = list(zip(summary["episode_id"].astype(int), summary.pop(DIGEST), strict=False))
    if summary["episode_id"].duplicated().any():
        dup = int(summary.loc[summary["episode_id"].duplicated(), "episode_id"].iloc[0])
        raise DatasetError(f"{shard_dir}: field episode_id: episode {dup} appears in two shards")
    tmp = directory / f".{SUMMARY_NAME}.tmp-{os.getpid()}"
    with writing(directory / SUMMARY_NAME, tmp):
        summary.to_parquet(tmp, index=False)
        os.replace(tmp, directory / SUMMARY_NAME)
    stats = compute_stats(
        summary["length"].to_numpy(),
        summary["return"].to_numpy(),
        summary["battle_won"].fillna(False).to_numpy(),
        spec.max_return,
        has_success=spec.has_success,
        reference=reference_returns,
    )
    card = DatasetCard(
        schema_version=SCHEMA_VERSION,
        backend=spec.backend,  # type: ignore[arg-type]
        map=spec.map,
        n_agents=spec.n_agents,
        n_actions=spec.n_actions,
        obs_shape=spec.obs_shape,
        state_shape=spec.state_shape,
        episode_limit=spec.episode_limit,
        max_seq_len=spec.max_seq_len,
        action_layout=list(spec.action_layout),
        reward_scale=spec.reward_scale,
        max_return=spec.max_return,
        source=source,  # type: ignore[arg-type]
        tier=tier,
        quality=quality or {},
        behaviour_policy=behaviour_policy or {},
        generation=generation or {},
        code_version=code_version or {},
        stats=stats,
        fingerprint=fingerprint(digests),
        shards=names,
        action_space=spec.action_space(),
        has_avail_actions=not spec.is_box,
        has_agent_reward=has_agent_reward,
        has_success=spec.has_success,
        reference_returns=dict(reference_returns or {}),
    )
    write_card(directory, card)
    return card


def write_dataset(
    directory: str | Path,
    episodes: EpisodeBatch,
    spec: EnvSpec,
    *,
    shard_episodes: int = 1000,
    **card_fields: Any,
) -> DatasetCard:
    """Write a whole in-memory batch as a dataset (shards of ``shard_episodes``) and finalize it."""
    directory = Path(directory)
    if len(episodes) == 0:
        raise DatasetError(f"{directory}: refusing to write a dataset with no episodes")
    source = card_fields.get("source")
    if source in ("real", "synthetic") and not (episodes.source == source).all():
        raise DatasetError(f"{directory}: field source: episodes are not all {source!r} as the card will say")
    if episodes.is_box != spec.is_box:
        raise DatasetError(
            f"{directory}: field actions: episodes are {'box' if episodes.is_box else 'discrete'} "
            f"but the environment's action space is {spec.action_kind}"
        )
    episodes = episodes.sorted_by_id()
    for start in range(0, len(episodes), shard_episodes):
        write_shard(
            directory / SHARD_DIR, episodes.select(slice(start, start + shard_episodes)), success=spec.has_success
        )
    return finalize_dataset(directory, spec, **card_fields)

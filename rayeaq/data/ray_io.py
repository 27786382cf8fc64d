"""Ray Data view of a dataset (the only module of ``rayeaq.data`` that imports Ray).

``read_ray_dataset(dir)`` validates the card, then reads the card's shards with
``ray.data.read_parquet``; one row per episode, each tensor column reshaped to its per-episode shape
(``obs`` -> ``[T, N, Do]``, ...), so ``iter_batches`` yields the arrays of an :class:`EpisodeBatch`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rayeaq.data.batch import STEP_FIELDS
from rayeaq.data.card import read_card
from rayeaq.data.reader import shard_paths
from rayeaq.data.shards import field_shapes


def read_ray_dataset(directory: str | Path) -> Any:  # a ray.data.Dataset
    """A ``ray.data.Dataset`` of the episodes of one dataset directory."""
    import ray

    card = read_card(directory)
    shapes = field_shapes(card.max_seq_len, card.n_agents, card.obs_shape, card.state_shape, card.n_actions)
    paths = [str(p) for p in shard_paths(directory, card)]

    def reshape(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = dict(batch)
        for name in STEP_FIELDS:
            column = batch[name]
            flat = np.stack(list(column)) if column.dtype == object else column
            out[name] = flat.reshape((len(flat),) + shapes[name]).astype(STEP_FIELDS[name], copy=False)
        return out

    return ray.data.read_parquet(paths).map_batches(reshape, batch_format="numpy")

"""Ray Data view of a dataset (the only module of ``rayeaq.data`` that imports Ray).

``read_ray_dataset(dir)`` validates the card, then reads the card's shards with
``ray.data.read_parquet``; one row per episode, each tensor column reshaped to its per-episode shape
(``obs`` -> ``[T, N, Do]``, ...), so ``iter_batches`` yields the arrays of an :class:`EpisodeBatch`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rayeaq.data.batch import step_dtype
from rayeaq.data.card import read_card
from rayeaq.data.reader import shard_paths


def read_ray_dataset(directory: str | Path) -> Any:
    """A ``ray.data.Dataset`` of the episodes of one dataset directory."""
    import ray

    card = read_card(directory)
    shapes = card.field_shapes()
    paths = [str(p) for p in shard_paths(directory, card)]

    def reshape(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = dict(batch)
        for name, shape in shapes.items():
            column: Any = batch[name]  # object columns hold one array per row
            flat = np.stack(column) if column.dtype == object else column
            out[name] = flat.reshape((len(flat),) + shape).astype(step_dtype(name, len(shape)), copy=False)
        if not card.has_success:  # v2: null win flags read as False, as the reader does
            out["battle_won"] = np.array([bool(v) for v in batch["battle_won"]], dtype=bool)
        return out

    return ray.data.read_parquet(paths).map_batches(reshape, batch_format="numpy")

"""Read datasets (one, or a weighted mixture) into a validated :class:`EpisodeBatch`, or stream one shard by
shard (:func:`iter_dataset`) with memory bounded by a shard, not by the dataset."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rayeaq.core.errors import DatasetError
from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.card import SHARD_DIR, DatasetCard, read_card
from rayeaq.data.shards import fingerprint, read_digests, read_shard


@dataclass
class Dataset:
    """A loaded dataset: its card, its episodes (sorted by ``episode_id``) and where it came from."""

    path: Path
    card: DatasetCard
    episodes: EpisodeBatch


def shard_paths(directory: str | Path, card: DatasetCard) -> list[Path]:
    """The card's shards, each checked to exist; stray files (e.g. crashed temporaries) are ignored."""
    root = Path(directory) / SHARD_DIR
    paths = []
    for name in card.shards:
        path = root / name
        if not path.is_file():
            raise DatasetError(f"{path}: shard listed in the card is missing")
        paths.append(path)
    return paths


def load_dataset(directory: str | Path) -> Dataset:
    """Load and validate a dataset directory (card + every shard). Holds every episode in memory: a consumer
    that needs one shard at a time reads with :func:`iter_dataset`."""
    directory = Path(directory)
    card = read_card(directory)
    shapes = card.field_shapes()
    parts = [read_shard(path, shapes) for path in shard_paths(directory, card)]
    if not parts:
        raise DatasetError(f"{directory / 'card.json'}: field shards: dataset has no shards")
    episodes = EpisodeBatch.concatenate(parts).sorted_by_id()
    if len(episodes) != card.stats.episodes:
        raise DatasetError(f"{directory}: shards hold {len(episodes)} episodes but the card says {card.stats.episodes}")
    if np.unique(episodes.episode_id).size != len(episodes):
        raise DatasetError(f"{directory}: field episode_id: duplicate episode ids across shards")
    check_fingerprint(directory, card)
    return Dataset(path=directory, card=card, episodes=episodes)


def iter_dataset(directory: str | Path) -> Iterator[EpisodeBatch]:
    """The episodes of a dataset, one validated shard at a time (in the card's shard order; each batch sorted by
    ``episode_id``). Only the shard being yielded is held, so peak memory is that of the largest shard whatever the
    dataset's size. The card's fingerprint is checked first, from the shards' digest columns alone (no tensors), so
    a consumer never starts on shards that are not the card's."""
    directory = Path(directory)
    card = read_card(directory)
    shapes = card.field_shapes()
    check_fingerprint(directory, card)
    for path in shard_paths(directory, card):
        yield read_shard(path, shapes).sorted_by_id()


def check_fingerprint(directory: Path, card: DatasetCard) -> None:
    """The shards' content digests must give the card's fingerprint (a shard from another dataset, or a card
    copied next to other shards, is an error, not data)."""
    digests = [d for path in shard_paths(directory, card) for d in read_digests(path)]
    found = fingerprint(digests)
    if found != card.fingerprint:
        raise DatasetError(
            f"{directory / 'card.json'}: field fingerprint: the card says {card.fingerprint} but the "
            f"shards hold {found} (card and shards of different datasets, or shards edited)"
        )


def check_compatible(reference: Dataset, other: Dataset) -> None:
    """Datasets mixed together must come from the same backend, map and tensor sizes."""
    a, b = reference.card, other.card
    if (a.backend, a.map) != (b.backend, b.map):
        raise DatasetError(
            f"{other.path}: dataset is {b.backend}/{b.map} but {reference.path} is {a.backend}/{a.map}; "
            "a mixture must use one map"
        )
    if a.resolved_action_space() != b.resolved_action_space():
        raise DatasetError(
            f"{other.path}: action space {b.resolved_action_space()} differs from "
            f"{reference.path}'s {a.resolved_action_space()}"
        )
    if a.has_agent_reward != b.has_agent_reward:
        raise DatasetError(
            f"{other.path}: has_agent_reward={b.has_agent_reward} but {reference.path}'s is "
            f"{a.has_agent_reward}; a mixture needs the same tensors"
        )
    if a.sizes() != b.sizes():
        raise DatasetError(f"{other.path}: tensor sizes {b.sizes()} differ from {reference.path}'s {a.sizes()}")


def take_weighted(episodes: EpisodeBatch, weight: float, rng: np.random.Generator) -> EpisodeBatch:
    """``weight`` copies of the episodes: floor(weight) full copies plus a random remainder share."""
    if weight < 0:
        raise DatasetError(f"mixture weight must be >= 0, got {weight}")
    whole = int(np.floor(weight))
    n = len(episodes)
    index = [np.tile(np.arange(n), whole)]
    extra = round((weight - whole) * n)
    if extra:
        index.append(rng.choice(n, size=extra, replace=False))
    return episodes.select(np.concatenate(index).astype(np.int64))


def load_mixture(sources: list[tuple[str | Path, float]], seed: int = 0) -> tuple[EpisodeBatch, list[Dataset]]:
    """Load several datasets and mix them: each contributes ``weight`` times its episodes.

    A weight of 1 takes every episode once, 0.5 a random half, 2 every episode twice. Returns the
    mixed batch (episodes in source order) and the loaded datasets (for their cards).
    """
    if not sources:
        raise DatasetError("no dataset given")
    datasets = [load_dataset(path) for path, _ in sources]
    for other in datasets[1:]:
        check_compatible(datasets[0], other)
    rng = np.random.default_rng(seed)
    parts = [take_weighted(d.episodes, w, rng) for d, (_, w) in zip(datasets, sources, strict=False)]
    parts = [p for p in parts if len(p)]
    if not parts:
        raise DatasetError("the mixture is empty (all weights are 0)")
    return EpisodeBatch.concatenate(parts), datasets


def parse_dataset_arg(text: str) -> tuple[str, float]:
    """``DIR`` or ``DIR:WEIGHT`` (command line) -> (DIR, weight)."""
    path, sep, weight = text.rpartition(":")
    if sep and path and not Path(text).exists():
        try:
            return path, float(weight)
        except ValueError:
            raise DatasetError(f"--dataset {text!r}: weight {weight!r} is not a number") from None
    return text, 1.0

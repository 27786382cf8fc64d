"""Per-seed real datasets: paired seeds that also vary the real data.

With ``tune.seed_datasets = n`` (n ≥ 1) the sweep collects one pool of ``n × collect.episodes`` episodes per
(map, tier) — one behaviour policy, one calibration — and cuts it into ``n`` disjoint splits of
``collect.episodes`` episodes each, written as datasets of their own (``<map>/<tier>-split<k>of<n>``, a card
naming the pool's fingerprint and the episode range). A trial with seed ``s`` reads split ``s mod n``: every arm
with the same seed learns from the same real episodes, and different seeds from different ones. ``n = 0`` keeps
one dataset per tier shared by every seed.

Plain Python (no Ray): the driver calls :func:`write_splits` after collecting, before the trials start.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rayeaq.core.errors import DatasetError
from rayeaq.data.card import CARD_NAME, read_card
from rayeaq.data.reader import load_dataset
from rayeaq.data.writer import write_dataset
from rayeaq.stages.augment import spec_from_card


def split_name(tier: str, index: int, splits: int) -> str:
    """Directory name of split ``index`` of ``splits`` of a tier's pool."""
    return f"{tier}-split{index}of{splits}"


def trial_dataset(root: Path, map_name: str, tier: str, seed: int, splits: int) -> Path:
    """The real dataset a trial reads: the tier's pool (``splits = 0``) or split ``seed mod splits``."""
    if splits == 0:
        return root / map_name / tier
    return root / map_name / split_name(tier, seed % splits, splits)


def check_pool(pool: Path, per_split: int, splits: int) -> None:
    """An existing pool must hold ``splits × per_split`` episodes (one line otherwise)."""
    have = read_card(pool).stats.episodes
    if have < splits * per_split:
        raise DatasetError(
            f"{pool}: has {have} episodes; tune.seed_datasets={splits} x collect.episodes={per_split} needs "
            f"{splits * per_split} (delete the directory to collect it again, or lower tune.seed_datasets)"
        )


def write_splits(pool: Path, per_split: int, splits: int) -> list[Path]:
    """Write the missing splits of ``pool`` next to it; returns every split's directory.

    Split ``k`` holds the pool's episodes ``[k·per_split, (k+1)·per_split)`` in episode-id order. Each split is
    written into a temporary directory and renamed into place, so a killed run leaves no half-written split.
    """
    check_pool(pool, per_split, splits)
    out: list[Path] = []
    episodes = None
    for k in range(splits):
        target = pool.parent / split_name(pool.name, k, splits)
        out.append(target)
        if (target / CARD_NAME).is_file():
            continue
        if episodes is None:
            data = load_dataset(pool)
            episodes, card = data.episodes.sorted_by_id(), data.card
        tmp = pool.parent / f".{target.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        start, stop = k * per_split, (k + 1) * per_split
        write_dataset(
            tmp,
            episodes.select(slice(start, stop)),
            spec_from_card(card),
            source="real",
            tier=card.tier,
            quality={**card.quality, "split": {"of": card.fingerprint, "index": k, "splits": splits}},
            behaviour_policy=card.behaviour_policy,
            generation={"split_of": str(pool), "episodes": [start, stop]},
            code_version=card.code_version,
            reference_returns=card.reference_returns or None,
        )
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    return out

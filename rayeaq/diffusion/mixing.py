"""Real + synthetic mixtures: ``ratio`` synthetic episodes per real episode, read through the dataset reader."""

from __future__ import annotations

from pathlib import Path

from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.card import CARD_NAME
from rayeaq.data.reader import Dataset, load_dataset, load_mixture
from rayeaq.errors import DatasetError


def load_augmented(real_dir: str | Path, synthetic_dir: str | Path | None, ratio: float,
                   seed: int) -> tuple[EpisodeBatch, list[Dataset]]:
    """All real episodes plus ``ratio × len(real)`` synthetic ones (drawn by the reader's weighting).

    ``synthetic_dir`` None, or an ``augment`` output with no dataset (augmenter ``none``), or
    ``ratio = 0`` gives the real data alone. Episode ids of the synthetic part are offset past the
    real ones so the mixture has unique ids.
    """
    if ratio < 0:
        raise DatasetError(f"mixing ratio must be >= 0, got {ratio}")
    if synthetic_dir is None or ratio == 0 or not (Path(synthetic_dir) / CARD_NAME).is_file():
        real = load_dataset(real_dir)
        return real.episodes, [real]
    real_n = load_dataset(real_dir).card.stats.episodes
    syn_n = load_dataset(synthetic_dir).card.stats.episodes
    weight = ratio * real_n / syn_n
    if weight > 1.0 + 1e-9:
        raise DatasetError(
            f"{synthetic_dir}: holds {syn_n} synthetic episodes but ratio {ratio} × {real_n} real needs "
            f"{ratio * real_n:.0f}; generate more (augment.num_episodes) or lower the ratio"
        )
    batch, datasets = load_mixture([(real_dir, 1.0), (synthetic_dir, min(weight, 1.0))], seed=seed)
    batch.episode_id = batch.episode_id.copy()
    is_syn = batch.source == "synthetic"
    batch.episode_id[is_syn] += int(datasets[0].episodes.episode_id.max()) + 1
    return batch, datasets

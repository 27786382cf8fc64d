"""Real + synthetic mixtures: up to ``ratio`` synthetic episodes per real episode, read through the dataset reader."""

from __future__ import annotations

from pathlib import Path

from rayeaq.core.errors import DatasetError
from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.card import CARD_NAME, read_card
from rayeaq.data.reader import Dataset, load_dataset, load_mixture


def synthetic_weight(ratio: float, n_real: int, n_syn: int) -> tuple[float, float]:
    """(reader weight of the synthetic dataset, achieved synthetic-per-real ratio) for ``ratio`` per real episode.

    The weight ``ratio × n_real / n_syn`` is capped at 1: every synthetic episode is used at most once
    (a generator that kept few episodes is not copied many times over), so the achieved ratio
    ``weight × n_syn / n_real`` can fall short of ``ratio``.
    """
    if ratio < 0:
        raise DatasetError(f"mixing ratio must be >= 0, got {ratio}")
    if ratio == 0 or n_real <= 0 or n_syn <= 0:
        return 0.0, 0.0
    weight = min(1.0, ratio * n_real / n_syn)
    return weight, weight * n_syn / n_real


def budget_weight(budget: str, ratio: float, real_card, syn_card) -> tuple[float, dict[str, float]]:
    """(reader weight of the synthetic dataset, achieved ratios) under ``augment.budget``.

    ``episodes``: ``ratio`` synthetic episodes per real episode (:func:`synthetic_weight`);
    ``transitions``: ``ratio`` synthetic transitions per real transition, so that every arm adds the same
    amount of data whatever the length of its episodes. Each synthetic episode is used at most once, so
    an arm that made too little falls short (its achieved ratio says by how much). The achieved ratios
    are expectations (the reader draws a random ``weight`` share of the synthetic episodes).
    """
    rs, ss = real_card.stats, syn_card.stats
    if budget == "transitions":
        weight, _achieved_t = synthetic_weight(ratio, rs.transitions, ss.transitions)
    elif budget == "episodes":
        weight, _ = synthetic_weight(ratio, rs.episodes, ss.episodes)
    else:
        raise DatasetError(f"augment.budget: expected transitions or episodes, got {budget!r}")
    return weight, {
        "achieved_episode_ratio": weight * ss.episodes / max(rs.episodes, 1),
        "achieved_transition_ratio": weight * ss.transitions / max(rs.transitions, 1),
    }


def load_augmented(
    real_dir: str | Path, synthetic_dir: str | Path | None, ratio: float, seed: int, budget: str = "episodes"
) -> tuple[EpisodeBatch, list[Dataset]]:
    """All real episodes plus up to ``ratio × len(real)`` synthetic ones (drawn by the reader's weighting,
    each at most once: see :func:`synthetic_weight`).

    ``synthetic_dir`` None, or an ``augment`` output with no dataset (augmenter ``none``), or
    ``ratio = 0`` gives the real data alone. Episode ids of the synthetic part are offset past the
    real ones so the mixture has unique ids.
    """
    if ratio < 0:
        raise DatasetError(f"mixing ratio must be >= 0, got {ratio}")
    if synthetic_dir is None or ratio == 0 or not (Path(synthetic_dir) / CARD_NAME).is_file():
        real = load_dataset(real_dir)
        return real.episodes, [real]
    weight, _ = budget_weight(budget, ratio, read_card(real_dir), read_card(synthetic_dir))
    batch, datasets = load_mixture([(real_dir, 1.0), (synthetic_dir, weight)], seed=seed)
    batch.episode_id = batch.episode_id.copy()
    is_syn = batch.source == "synthetic"
    batch.episode_id[is_syn] += int(datasets[0].episodes.episode_id.max()) + 1
    return batch, datasets

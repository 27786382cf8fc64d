"""The augment stage: run the registered augmenter, measure fidelity, write the synthetic dataset.

The output directory is itself the dataset (``card.json``, ``shards/``, ``episodes.parquet``) plus
``fidelity.json`` and the run info; a rerun first removes the dataset files an earlier run left there.
``augmenter = none`` writes no episodes, only ``fidelity.json`` (``kept = 0``) and the run info;
:func:`rayeaq.augmenters.mixing.load_augmented` treats it as no data. What each augmenter keeps is its
own business (:mod:`rayeaq.augmenters`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from rayeaq.augmenters import AUGMENTERS, AugmentInputs
from rayeaq.augmenters.config import AugmentConfig
from rayeaq.augmenters.mixing import budget_weight
from rayeaq.core.errors import ConfigError, DatasetError
from rayeaq.core.ray_config import RayConfig
from rayeaq.core.resources import check_resources
from rayeaq.core.runinfo import code_version, derive_seed
from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.card import CARD_NAME, SHARD_DIR, SUMMARY_NAME, DatasetCard
from rayeaq.data.reader import load_dataset
from rayeaq.data.writer import write_dataset
from rayeaq.envs.spec import EnvSpec
from rayeaq.generators.eaq.config import DiffusionConfig
from rayeaq.generators.eaq.fidelity import fidelity_report

FIDELITY_FILE = "fidelity.json"


class AugmentRun(Protocol):
    """The run-config sections the augment stage reads (a :class:`rayeaq.run_config.RunConfig` is one)."""

    seed: int
    augment: AugmentConfig
    diffusion: DiffusionConfig  # q_weight: the guidance scale a return-conditioned generator is sampled at
    ray: RayConfig


def clear_output(out: Path, dataset_dir: str | Path) -> None:
    """Remove the synthetic dataset an earlier run left in ``out`` (card, shards, summary; nothing else)."""
    if out.resolve() == Path(dataset_dir).resolve():
        raise ConfigError(f"--out {out}: is the real dataset's directory; use another --out")
    if (out / CARD_NAME).is_file():
        try:
            source = json.loads((out / CARD_NAME).read_text(encoding="utf-8")).get("source")
        except (OSError, ValueError, AttributeError):
            source = None  # an unreadable card: an interrupted earlier run's leftover
        if source == "real":
            raise ConfigError(f"--out {out}: holds a real dataset; use another --out")
    if (out / SHARD_DIR).is_dir():
        shutil.rmtree(out / SHARD_DIR)
    for name in (CARD_NAME, SUMMARY_NAME):
        (out / name).unlink(missing_ok=True)


def spec_from_card(card: DatasetCard) -> EnvSpec:
    """The :class:`EnvSpec` a dataset card records (enemies = attack actions; a box action space kept)."""
    space = card.resolved_action_space()
    box = {"action_kind": "box", "action_low": space["low"], "action_high": space["high"]} if card.is_box else {}
    return EnvSpec(
        backend=card.backend,
        map=card.map,
        n_agents=card.n_agents,
        n_enemies=sum(1 for a in card.action_layout if a.startswith("attack")),
        n_actions=card.n_actions,
        obs_shape=card.obs_shape,
        state_shape=card.state_shape,
        episode_limit=card.episode_limit,
        action_layout=tuple(card.action_layout),
        max_return=card.max_return,
        reward_scale=card.reward_scale,
        has_success=card.has_success,
        **box,
    )


def _smax_available(card: DatasetCard) -> bool:
    """SMAX fidelity needs a dataset of the SMAX map's own sizes."""
    from rayeaq.envs.smax.maps import SMAX_UNITS, smax_spec

    if card.map not in SMAX_UNITS:
        return False
    spec = smax_spec(card.map, card.episode_limit)
    return (spec.n_agents, spec.obs_shape, spec.state_shape, spec.n_actions) == (
        card.n_agents,
        card.obs_shape,
        card.state_shape,
        card.n_actions,
    )


def _smax_fidelity(real: EpisodeBatch, synthetic: EpisodeBatch, card: DatasetCard, acfg: AugmentConfig, seed: int):
    from rayeaq.generators.eaq.sim_fidelity import sim_fidelity

    return sim_fidelity(
        real,
        synthetic,
        card.map,
        card.episode_limit,
        n_keys=acfg.sim_keys,
        max_transitions=acfg.sim_transitions,
        seed=seed,
    )


def _mpe_available(card: DatasetCard) -> bool:
    from rayeaq.envs.mpe.maps import MPE_MAPS

    m = MPE_MAPS.get(card.map)
    return m is not None and (m.n_agents, m.obs_shape, m.state_shape) == (
        card.n_agents,
        card.obs_shape,
        card.state_shape,
    )


def _mpe_fidelity(real: EpisodeBatch, synthetic: EpisodeBatch, card: DatasetCard, acfg: AugmentConfig, seed: int):
    from rayeaq.generators.eaq.mpe_fidelity import mpe_sim_fidelity

    return mpe_sim_fidelity(
        real, synthetic, card.map, card.episode_limit, max_transitions=acfg.sim_transitions, seed=seed
    )


SIM_FIDELITY: dict[str, tuple[Callable[[DatasetCard], bool], Callable[..., dict[str, Any]]]] = {
    "smax": (_smax_available, _smax_fidelity),
    "mpe": (_mpe_available, _mpe_fidelity),
}
"""Backends whose simulator measures synthetic episodes: ``backend -> (available(card), fidelity(real,
synthetic, card, augment config, seed))`` (SMAX: dynamics residual, consistency, memorisation; MPE: physics
residual, consistency)."""


def simulator_available(card: DatasetCard) -> bool:
    """Fidelity against the simulator needs a backend in :data:`SIM_FIDELITY` and a dataset of the map's sizes."""
    member = SIM_FIDELITY.get(card.backend)
    return member is not None and member[0](card)


def run_augment(
    cfg: AugmentRun, dataset_dir: str | Path, checkpoint: str | Path | None, out: str | Path
) -> dict[str, Any]:
    """Produce the synthetic dataset in ``out`` with the registered ``augment.augmenter`` (generators need a
    started Ray); returns the fidelity report."""
    acfg = cfg.augment
    out = Path(out)
    real = load_dataset(dataset_dir)
    if real.card.source != "real":
        raise DatasetError(f"{dataset_dir}: field source: augment reads a real dataset, got {real.card.source!r}")
    member = AUGMENTERS.get(acfg.augmenter)
    from rayeaq.stages.requests import augment_requests

    requests = augment_requests(cfg)
    if requests:  # the generator's sampling tasks (a started Ray); before the earlier output is cleared
        check_resources(requests, wait_s=cfg.ray.resource_wait_s)
    clear_output(out, dataset_dir)
    n = acfg.num_episodes if acfg.num_episodes is not None else max(1, round(acfg.ratio * len(real.episodes)))
    produced = member.produce(
        AugmentInputs(real, n, acfg, cfg.seed, Path(checkpoint) if checkpoint else None, cfg.diffusion.q_weight)
    )
    synthetic = produced.episodes
    generation: dict[str, Any] = {
        "augmenter": acfg.augmenter,
        "seed": cfg.seed,
        "source_dataset": real.card.fingerprint,
        "source_path": str(Path(dataset_dir).resolve()),
        "config": acfg.model_dump(mode="json"),
        **produced.generation,
    }
    report = fidelity_report(
        real.episodes,
        synthetic if synthetic is not None else real.episodes.select(slice(0, 0)),
        sampled=produced.sampled,
        legal_share=produced.legal_share,
        n_samples=acfg.fidelity_samples,
        seed=derive_seed(cfg.seed, "augment", "fidelity"),
    )
    requested = produced.sampled if produced.requested is None else produced.requested
    report.update(augmenter=acfg.augmenter, requested=requested, **produced.report)
    if synthetic is not None and len(synthetic) and acfg.sim_fidelity and simulator_available(real.card):
        fidelity = SIM_FIDELITY[real.card.backend][1]
        report["simulator"] = fidelity(
            real.episodes, synthetic, real.card, acfg, derive_seed(cfg.seed, "augment", "sim_fidelity")
        )
    if synthetic is not None:
        card = write_dataset(
            out,
            synthetic,
            spec_from_card(real.card),
            source="synthetic",
            tier=real.card.tier,
            behaviour_policy={"augmenter": acfg.augmenter},
            generation=generation,
            code_version=code_version(),
        )
        report["dataset_fingerprint"] = card.fingerprint
        weight, achieved = budget_weight(acfg.budget, acfg.ratio, real.card, card)
        report["budget"] = {
            "kind": acfg.budget,
            "ratio": acfg.ratio,
            "mixing_weight": weight,
            **achieved,
            "real_transitions": real.card.stats.transitions,
            "synthetic_transitions": card.stats.transitions,
        }
    out.mkdir(parents=True, exist_ok=True)
    (out / FIDELITY_FILE).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report

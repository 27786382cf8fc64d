"""What ``python -m rayeaq.augment`` does: run the chosen augmenter, filter, write the synthetic dataset.

The output directory is itself the dataset (``card.json``, ``shards/``, ``episodes.parquet``) plus
``fidelity.json`` and the run info; a rerun first removes the dataset files an earlier run left there.
``augmenter = none`` writes no episodes, only ``fidelity.json`` (``kept = 0``) and the run info;
:func:`rayeaq.diffusion.mixing.load_augmented` treats it as no data. Sampled episodes are kept only
when valid: at least one step, an available action for every agent on every step, a return within
the dataset's ``max_return`` and (``augment.drop_illegal``) no unavailable argmax action.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from rayeaq.augmenters.baselines import dom2_replicate, gaussian_noise, relabel
from rayeaq.core.errors import ConfigError, DatasetError, UserError
from rayeaq.core.runinfo import code_version, derive_seed
from rayeaq.data.card import CARD_NAME, SHARD_DIR, SUMMARY_NAME, DatasetCard
from rayeaq.data.reader import load_dataset
from rayeaq.data.writer import write_dataset
from rayeaq.envs.spec import EnvSpec
from rayeaq.generators.eaq.fidelity import fidelity_report
from rayeaq.generators.eaq.train import find_checkpoint, load_checkpoint

FIDELITY_FILE = "fidelity.json"
RETURN_TOLERANCE = 1e-3  # float32 sums of per-step rewards may pass max_return by rounding


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
    """The :class:`EnvSpec` a dataset card records (enemies = attack actions)."""
    return EnvSpec(backend=card.backend, map=card.map, n_agents=card.n_agents,
                   n_enemies=sum(1 for a in card.action_layout if a.startswith("attack")), n_actions=card.n_actions,
                   obs_shape=card.obs_shape, state_shape=card.state_shape, episode_limit=card.episode_limit,
                   action_layout=tuple(card.action_layout), max_return=card.max_return, reward_scale=card.reward_scale)


def check_generator(payload: dict, card: DatasetCard, augmenter: str, path: Path) -> None:
    """The checkpoint must match the augmenter (λ > 0 for eaq, λ = 0 for eaq_noq) and the dataset's sizes."""
    q_weight = float(payload["diffusion"]["q_weight"])
    if augmenter == "eaq" and q_weight <= 0:
        raise ConfigError(f"augment.augmenter: eaq needs a generator fitted with diffusion.q_weight > 0; {path} has 0 (use eaq_noq)")
    if augmenter == "eaq_noq" and q_weight != 0:
        raise ConfigError(f"augment.augmenter: eaq_noq needs a generator fitted with diffusion.q_weight = 0; {path} has {q_weight}")
    lay = payload["layout"]
    if (lay["n_agents"], lay["obs_dim"], lay["n_actions"], lay["state_dim"], lay["episode_limit"]) != (
            card.n_agents, card.obs_shape, card.n_actions, card.state_shape, card.episode_limit):
        raise DatasetError(f"{path}: generator was fitted on other sizes than the dataset {card.map} ({card.sizes()})")


def run_augment(cfg, dataset_dir: str | Path, checkpoint: str | Path | None, out: str | Path) -> dict[str, Any]:
    """Produce the synthetic dataset in ``out`` (needs Ray for eaq/eaq_noq); returns the fidelity report."""
    acfg = cfg.augment
    out = Path(out)
    real = load_dataset(dataset_dir)
    if real.card.source != "real":
        raise DatasetError(f"{dataset_dir}: field source: augment reads a real dataset, got {real.card.source!r}")
    clear_output(out, dataset_dir)
    n = acfg.num_episodes if acfg.num_episodes is not None else max(1, round(acfg.ratio * len(real.episodes)))
    generation: dict[str, Any] = {"augmenter": acfg.augmenter, "seed": cfg.seed, "source_dataset": real.card.fingerprint,
                                  "source_path": str(Path(dataset_dir).resolve()), "config": acfg.model_dump(mode="json")}
    legal_share: float | None = None
    extra: dict[str, Any] = {}
    if acfg.augmenter == "none":
        synthetic, sampled = None, 0
    elif acfg.augmenter == "dom2_replicate":
        synthetic = dom2_replicate(real.episodes, acfg.dom2_thresholds)
        sampled = len(synthetic)
        if sampled == 0:
            best = float(real.episodes.episode_return.max()) if len(real.episodes) else float("nan")
            raise ConfigError(f"augment.dom2_thresholds: no real episode's return exceeds any of {acfg.dom2_thresholds} "
                              f"(the dataset's maximum episode return is {best:.3g}); lower the thresholds")
        synthetic = relabel(synthetic, "dom2_replicate", synthetic.seed)
    elif acfg.augmenter == "gaussian_noise":
        rng = np.random.default_rng(derive_seed(cfg.seed, "augment", "gaussian_noise"))
        synthetic = gaussian_noise(real.episodes, n, acfg.noise_sigma, rng)
        sampled = n
        synthetic = relabel(synthetic, f"gaussian_noise(sigma={acfg.noise_sigma})", synthetic.seed)
    else:
        if checkpoint is None:
            raise UserError(f"augment.augmenter={acfg.augmenter} needs --checkpoint DIR (a rayeaq.fit output)")
        path = find_checkpoint(checkpoint)
        payload = load_checkpoint(path)
        check_generator(payload, real.card, acfg.augmenter, path)
        from rayeaq.generators.eaq.ray_sample import sample_with_ray

        sampled = math.ceil(n * acfg.oversample)
        result = sample_with_ray(path, sampled, cfg.seed, acfg)
        legal_share = float(result["legal"].sum() / max(int(result["agent_steps"].sum()), 1))
        # a return above the dataset's maximum is impossible in the game (SMAX: <= 2): invalid, like no action
        over = result["episodes"].episode_return > real.card.max_return + RETURN_TOLERANCE
        extra["dropped_over_max_return"] = int(over.sum())
        keep = result["valid"] & ~over & ((result["legal"] == result["agent_steps"]) if acfg.drop_illegal else True)
        index = np.flatnonzero(keep)[:n]
        synthetic = relabel(result["episodes"].select(index), acfg.augmenter, result["seed"][index])
        extra["predicted_qtot0_mean"] = float(result["qtot0"].mean())
        generation.update(checkpoint=str(path), generator_fingerprint=payload["fingerprint"],
                          generator_step=int(payload["step"]), q_weight=float(payload["diffusion"]["q_weight"]),
                          objective=payload["diffusion"]["objective"], generator_dataset=payload["dataset"]["fingerprint"])
    report = fidelity_report(real.episodes, synthetic if synthetic is not None else real.episodes.select(slice(0, 0)),
                             sampled=sampled, legal_share=legal_share, n_samples=acfg.fidelity_samples,
                             seed=derive_seed(cfg.seed, "augment", "fidelity"))
    report.update(augmenter=acfg.augmenter, requested=n if acfg.augmenter not in ("none", "dom2_replicate") else sampled, **extra)
    if synthetic is not None and len(synthetic) == 0:
        raise UserError(f"augment: all {sampled} sampled episodes were invalid ({extra.get('dropped_over_max_return', 0)} "
                        f"with a return above max_return {real.card.max_return:g}; fit longer, or set augment.drop_illegal=false)")
    if synthetic is not None:
        card = write_dataset(out, synthetic, spec_from_card(real.card), source="synthetic", tier=real.card.tier,
                             behaviour_policy={"augmenter": acfg.augmenter}, generation=generation,
                             code_version=code_version())
        report["dataset_fingerprint"] = card.fingerprint
    out.mkdir(parents=True, exist_ok=True)
    (out / FIDELITY_FILE).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report

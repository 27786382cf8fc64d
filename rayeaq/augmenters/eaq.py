"""The EAQ generator as augmenters: ``eaq`` samples a λ > 0 checkpoint, ``eaq_noq`` a λ = 0 one (EAQ⁻Q).

With ``diffusion.objective: return`` λ is the classifier-free guidance scale, applied when sampling: one fitted
generator serves both — ``eaq`` samples are guided towards ``return_target × max_return`` at this run's
``diffusion.q_weight``, ``eaq_noq`` samples are the same model's unconditional ones.

Sampling runs in Ray tasks (:mod:`rayeaq.generators.eaq.ray_sample`); which sampled episodes are kept
and why the others are dropped is :mod:`rayeaq.generators.eaq.filtering`'s (drops reported by reason).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from rayeaq.augmenters.baselines import relabel
from rayeaq.augmenters.registry import AUGMENTERS, AugmentInputs, Produced, augmenter
from rayeaq.core.errors import ConfigError, DatasetError, UserError
from rayeaq.data.card import DatasetCard
from rayeaq.generators.eaq.filtering import filter_samples
from rayeaq.generators.eaq.sim_fidelity import q_consistency

_NOT_READ = ("augment.noise_sigma", "augment.dom2_thresholds")


def sampling_guidance(payload: dict[str, Any], name: str, path: Path, guidance: float | None) -> float:
    """The λ the samples are drawn with, checked against the augmenter (λ > 0 for eaq, λ = 0 for eaq_noq).

    A return-conditioned generator is fitted once and λ is a sampling-time scale: eaq samples it at this run's
    ``diffusion.q_weight`` (``guidance``; the checkpoint's when None), eaq_noq at 0. For ``qtot``/``critic`` λ
    acted in training, so the checkpoint's own ``q_weight`` must fit the augmenter."""
    fitted = float(payload["diffusion"]["q_weight"])
    kind = AUGMENTERS.get(name).generator
    if payload["diffusion"]["objective"] == "return":
        lam = 0.0 if kind == "noq" else (fitted if guidance is None else float(guidance))
        if kind == "q" and lam <= 0:
            raise ConfigError(
                f"diffusion.q_weight: {name} samples {path} with guidance scale λ > 0; got {lam:g} (use eaq_noq)"
            )
        return lam
    if kind == "q" and fitted <= 0:
        raise ConfigError(
            f"augment.augmenter: {name} needs a generator fitted with diffusion.q_weight > 0; "
            f"{path} has 0 (use eaq_noq)"
        )
    if kind == "noq" and fitted != 0:
        raise ConfigError(
            f"augment.augmenter: {name} needs a generator fitted with diffusion.q_weight = 0; {path} has {fitted}"
        )
    return fitted


def check_generator(payload: dict[str, Any], card: DatasetCard, path: Path) -> None:
    """The checkpoint must have been fitted on the dataset's backend, map and sizes."""
    spec = payload.get("spec") or {}
    if (spec.get("backend"), spec.get("map")) != (card.backend, card.map):
        raise DatasetError(
            f"{path}: generator was fitted on {spec.get('backend')}/{spec.get('map')} episodes, "
            f"the dataset is {card.backend}/{card.map}"
        )
    lay = payload["layout"]
    if (lay["n_agents"], lay["obs_dim"], lay["n_actions"], lay["state_dim"], lay["episode_limit"]) != (
        card.n_agents,
        card.obs_shape,
        card.n_actions,
        card.state_shape,
        card.episode_limit,
    ):
        raise DatasetError(f"{path}: generator was fitted on other sizes than the dataset {card.map} ({card.sizes()})")


def sample_generator(inputs: AugmentInputs, name: str) -> Produced:
    """Sample ``oversample × requested`` episodes from the checkpoint, filter, keep up to ``requested``."""
    from rayeaq.generators.eaq.ray_sample import sample_with_ray
    from rayeaq.generators.eaq.train import find_checkpoint, load_checkpoint

    acfg, card = inputs.cfg, inputs.real.card
    if inputs.checkpoint is None:
        raise UserError(f"augment.augmenter={name} needs --checkpoint DIR (a rayeaq.fit output)")
    path = find_checkpoint(inputs.checkpoint)
    payload = load_checkpoint(path)
    check_generator(payload, card, path)
    lam = sampling_guidance(payload, name, path, inputs.guidance)
    sampled = math.ceil(inputs.requested * acfg.oversample)
    result = sample_with_ray(path, sampled, inputs.seed, acfg, guidance=lam)
    legal_share = float(result["legal"].sum() / max(int(result["agent_steps"].sum()), 1))
    keep, filtered = filter_samples(
        result["episodes"],
        no_action=result["no_action"],
        legal=result["legal"],
        agent_steps=result["agent_steps"],
        max_return=card.max_return,
        drop_illegal=acfg.drop_illegal,
        tolerance=acfg.return_tolerance,
        min_return=float(inputs.real.episodes.episode_return.min()),
    )
    index = np.flatnonzero(keep)[: inputs.requested]
    episodes = relabel(result["episodes"].select(index), name, result["seed"][index])
    if len(episodes) == 0:
        reasons = ", ".join(f"{n} {k}" for k, n in filtered["dropped"].items() if n)
        raise UserError(
            f"augment: all {sampled} sampled episodes were invalid ({reasons}); fit longer, or set "
            "augment.drop_illegal=false"
        )
    qtot = result["qtot"][index]
    return Produced(
        episodes,
        sampled,
        inputs.requested,
        legal_share,
        report={
            **filtered,
            "share_valid": float(keep.mean()),
            "predicted_qtot0_mean": float(qtot[:, 0].mean()),
            "q_consistency": q_consistency(qtot, episodes.reward, episodes.length),
        },
        generation={
            "checkpoint": str(path),
            "generator_fingerprint": payload["fingerprint"],
            "generator_step": int(payload["step"]),
            "q_weight": float(payload["diffusion"]["q_weight"]),
            "objective": payload["diffusion"]["objective"],
            "guidance": lam,  # the λ sampled with (objective return: this run's, not the checkpoint's)
            # objective = return: λ is the guidance scale towards return_target × max_return
            "return_target": payload["diffusion"].get("return_target"),
            "generator_dataset": payload["dataset"]["fingerprint"],
        },
    )


@augmenter("eaq", generator="q", ignores=_NOT_READ)
def produce_eaq(inputs: AugmentInputs) -> Produced:
    """EAQ: a generator fitted with the Q-total term (λ > 0)."""
    return sample_generator(inputs, "eaq")


@augmenter("eaq_noq", generator="noq", ignores=("diffusion.q_weight", *_NOT_READ))
def produce_eaq_noq(inputs: AugmentInputs) -> Produced:
    """EAQ⁻Q: the same generator fitted without the Q-total term (λ = 0)."""
    return sample_generator(inputs, "eaq_noq")

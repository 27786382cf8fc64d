"""The EAQ generator as augmenters: ``eaq`` samples a λ > 0 checkpoint, ``eaq_noq`` a λ = 0 one (EAQ⁻Q).

With ``diffusion.objective: return`` λ is the classifier-free guidance scale: ``eaq`` samples are guided
towards ``return_target × max_return``, ``eaq_noq`` samples are the same model's unconditional ones.

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


def check_generator(payload: dict[str, Any], card: DatasetCard, name: str, path: Path) -> None:
    """The checkpoint must match the augmenter (λ > 0 for eaq, λ = 0 for eaq_noq) and the dataset's sizes."""
    q_weight = float(payload["diffusion"]["q_weight"])
    kind = AUGMENTERS.get(name).generator
    if kind == "q" and q_weight <= 0:
        raise ConfigError(
            f"augment.augmenter: {name} needs a generator fitted with diffusion.q_weight > 0; "
            f"{path} has 0 (use eaq_noq)"
        )
    if kind == "noq" and q_weight != 0:
        raise ConfigError(
            f"augment.augmenter: {name} needs a generator fitted with diffusion.q_weight = 0; {path} has {q_weight}"
        )
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
    check_generator(payload, card, name, path)
    sampled = math.ceil(inputs.requested * acfg.oversample)
    result = sample_with_ray(path, sampled, inputs.seed, acfg)
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

"""The search space without Ray: check keys and values, expand the grid, build one trial's run config.

A *point* is one grid combination, a dict of dotted keys -> values. Points that differ only in keys
their augmenter ignores (λ and horizon for ``none``, ``dom2_replicate``, ``gaussian_noise``; λ for
``eaq_noq``) are merged, so the baselines are run once per seed and tier instead of once per λ.
Random dimensions (choice, uniform, loguniform, randint) are left to Tune's sampler.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable
from typing import Any

from rayeaq.augmenters import AUGMENTERS
from rayeaq.core.config import validate
from rayeaq.core.errors import ConfigError
from rayeaq.run_config import RunConfig
from rayeaq.stages.collect.config import Tier
from rayeaq.stages.collect.mpe_tiers import MPETier
from rayeaq.sweep.config import TuneConfig

TIER_KEY = "collect_tier"
FORBIDDEN_PREFIXES = ("tune", "ray", "collect", "name")
"""Sections a trial cannot vary: the sweep itself, the cluster, and the shared datasets."""
IGNORED_VALUE = "-"
"""Value of a grid key the point's augmenter ignores (never a valid run-config value)."""
RANDOM_KINDS = ("choice", "uniform", "loguniform", "randint")


def ignored_keys(augmenter: str) -> tuple[str, ...]:
    """Dotted prefixes the augmenter does not read (its registry entry); dropped from its grid points."""
    return AUGMENTERS.get(augmenter).ignores if augmenter in AUGMENTERS else ()


def _known_path(key: str) -> bool:
    """Whether ``key`` names a field of :class:`RunConfig` (through nested sections)."""
    model: Any = RunConfig
    for part in key.split("."):
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return False
        model = fields[part].annotation
    return True


def _candidates(domain: Any) -> list[Any]:
    """Concrete values to validate: the list of a grid/choice, the bounds of a range, or the value itself."""
    if isinstance(domain, dict):
        ((_, arg),) = domain.items()
        return list(arg)
    return [domain]


def check_space(base: dict[str, Any], tcfg: TuneConfig, source: str) -> None:
    """Raise :class:`ConfigError` (one line) for an unknown or forbidden key or a value the run config rejects."""
    if not tcfg.space:
        raise ConfigError(f"{source}: tune.space: expected at least one key to sweep")
    for key, domain in tcfg.space.items():
        where = f"{source}: tune.space.{key}"
        if key == TIER_KEY:
            tiers = list(dict.fromkeys(Tier.__args__ + MPETier.__args__))  # type: ignore[attr-defined]
            for value in _candidates(domain):
                if value not in tiers:
                    raise ConfigError(f"{where}: expected one of {tiers}, got {value!r}")
            continue
        if key.split(".")[0] in FORBIDDEN_PREFIXES:
            raise ConfigError(f"{where}: the {key.split('.')[0]} section cannot vary between trials")
        if not _known_path(key):
            raise ConfigError(
                f"{where}: unknown key (expected a dotted run-config key such as diffusion.q_weight, or {TIER_KEY})"
            )
        if (
            isinstance(domain, dict)
            and next(iter(domain)) == "grid_search"
            and tcfg.search_alg in ("optuna", "hyperopt")
        ):
            raise ConfigError(f"{where}: grid_search cannot be used with tune.search_alg={tcfg.search_alg}; use choice")
        for value in _candidates(domain):
            trial_config(base, {key: value}, source=where)
    for point in grid_points(tcfg):
        cfg = trial_config(base, trial_params({"point": point}), source=f"{source}: tune.space")
        if AUGMENTERS.get(cfg.augment.augmenter).generator == "q" and cfg.diffusion.q_weight <= 0:
            raise ConfigError(
                f"{source}: tune.space: augmenter {cfg.augment.augmenter} with diffusion.q_weight = 0 "
                f"is eaq_noq; sweep eaq_noq instead"
            )


def grid_points(tcfg: TuneConfig) -> list[dict[str, Any]]:
    """Grid combinations (fixed values included in every point), deduplicated per augmenter if asked."""
    fixed = {k: v for k, v in tcfg.space.items() if not isinstance(v, dict)}
    grids = {k: v["grid_search"] for k, v in tcfg.space.items() if isinstance(v, dict) and "grid_search" in v}
    points: list[dict[str, Any]] = []
    seen: set[str] = set()
    for combo in itertools.product(*grids.values()):
        point = {**fixed, **dict(zip(grids.keys(), combo, strict=True))}
        if tcfg.dedupe:
            point = relevant(point)
        fingerprint = repr(sorted(point.items(), key=lambda kv: kv[0]))
        if fingerprint not in seen:
            seen.add(fingerprint)
            points.append(point)
    return points


def relevant(point: dict[str, Any]) -> dict[str, Any]:
    """``point`` with the keys its augmenter ignores set to :data:`IGNORED_VALUE` (every point keeps every key,
    which Tune's console table needs); :func:`trial_params` drops them again."""
    augmenter = point.get("augment.augmenter")
    ignored = ignored_keys(augmenter) if isinstance(augmenter, str) else ()
    return {k: (IGNORED_VALUE if k != "augment.augmenter" and k.startswith(ignored) else v) for k, v in point.items()}


def trial_params(config: dict[str, Any]) -> dict[str, Any]:
    """A trial's parameters from Tune's config (the grid ``point`` and the sampled keys), ignored keys dropped."""
    merged = {**config.get("point", {}), **{k: v for k, v in config.items() if k != "point"}}
    return {k: v for k, v in merged.items() if not (isinstance(v, str) and v == IGNORED_VALUE)}


def random_dims(tcfg: TuneConfig) -> dict[str, tuple[str, list[Any]]]:
    """The dimensions Tune samples: key -> (kind, argument)."""
    return {
        k: next(iter(v.items())) for k, v in tcfg.space.items() if isinstance(v, dict) and next(iter(v)) in RANDOM_KINDS
    }


def trial_config(base: dict[str, Any], params: dict[str, Any], source: str = "trial") -> RunConfig:
    """The run config of one trial: ``base`` (a resolved RunConfig dump) with ``params`` laid over it.

    ``collect_tier`` becomes ``tune.collect_tier``; an ``eaq_noq`` trial gets ``diffusion.q_weight = 0``.
    """
    data = copy.deepcopy(base)
    overrides: dict[str, Any] = {}
    for key, value in params.items():
        overrides["tune.collect_tier" if key == TIER_KEY else key] = value
    name = overrides.get("augment.augmenter", data["augment"]["augmenter"])
    if name in AUGMENTERS and AUGMENTERS.get(name).generator == "noq":
        overrides["diffusion.q_weight"] = 0.0
    data = _set_all(data, overrides)
    return validate(RunConfig, data, source, set(overrides))


def _set_all(data: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    for key, value in values.items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return data


def label(params: dict[str, Any]) -> str:
    """Short, readable trial label, e.g. ``eaq_q0.1_h16_r0.5_s0``."""
    short = {
        "augment.augmenter": "",
        "diffusion.q_weight": "q",
        "diffusion.horizon": "h",
        "augment.ratio": "r",
        "seed": "s",
        "env.map": "",
        TIER_KEY: "",
    }
    parts = []
    params = trial_params({"point": params})
    for key in sorted(params, key=lambda k: (list(short).index(k) if k in short else len(short), k)):
        value = params[key]
        if isinstance(value, float):
            value = f"{value:.3g}"
        prefix = short.get(key, key.rsplit(".", 1)[-1] + "=")
        parts.append(f"{prefix}{value}")
    return "_".join(str(p) for p in parts).replace("/", "-")[:80]


def needed_datasets(base_cfg: RunConfig, points: Iterable[dict[str, Any]]) -> dict[str, set[str]]:
    """Map -> tiers the trials read (from the grid, or the base config when not varied)."""
    tcfg = base_cfg.tune
    maps_domain = tcfg.space.get("env.map")
    tiers_domain = tcfg.space.get(TIER_KEY)
    needed: dict[str, set[str]] = {}
    random_maps = _candidates(maps_domain) if isinstance(maps_domain, dict) and "choice" in maps_domain else None
    random_tiers = _candidates(tiers_domain) if isinstance(tiers_domain, dict) and "choice" in tiers_domain else None
    for point in points:
        maps = random_maps or [point.get("env.map", base_cfg.env.map)]
        tiers = random_tiers or [point.get(TIER_KEY, tcfg.collect_tier)]
        for m in maps:
            needed.setdefault(m, set()).update(tiers)
    return needed

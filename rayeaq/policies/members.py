"""The members of :data:`~rayeaq.policies.registry.POLICIES`: scripted policies by name, ``graded``,
``heuristic_mix``, ``random``, ``qmix_checkpoint`` and ``qmix_ladder``; on box-action (MPE) maps ``random``,
``expert`` and ``noisy_expert`` (:mod:`rayeaq.policies.mpe`)."""

from __future__ import annotations

import json
from pathlib import Path

from rayeaq.core.errors import ConfigError
from rayeaq.policies.config import PolicyConfig
from rayeaq.policies.registry import POLICIES, BehaviourPolicy, Candidate

# ε candidates tried when calibrating an ε-mixture (heuristic_mix, qmix_checkpoint) to a tier's win-rate band.
EPSILON_GRID: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)


def scripted(name: str, epsilon: float) -> Candidate:
    """The scripted member ``name`` played with noise ``epsilon``."""
    return Candidate(label=f"{name}(noise={epsilon:.3f})", runner="jax", epsilon=float(epsilon), script=name)


def _one_script(name: str):
    def candidates(cfg: PolicyConfig, epsilon: float | None, script: str | None) -> list[Candidate]:
        return [scripted(script or name, cfg.noise if epsilon is None else epsilon)]

    return candidates


# Scripted policies, strongest first on 3m; each is the function of that name in rayeaq.policies.scripts.
for _name in ("focus_team", "focus_weakest", "focus_nearest", "random_target", "spread_fire", "hold_fire", "retreat"):
    POLICIES.add(_name, BehaviourPolicy(_name, _one_script(_name), script=_name))


def _random(cfg: PolicyConfig, epsilon: float | None, script: str | None) -> list[Candidate]:
    return [Candidate(label="random", runner="jax", epsilon=0.0, script="random")]


POLICIES.add("random", BehaviourPolicy("random", _random, script="uniform", box_policy="random_uniform"))


def _box_only(name: str):
    def candidates(cfg: PolicyConfig, epsilon: float | None, script: str | None) -> list[Candidate]:
        raise ConfigError(f"collect.policy.kind: {name!r} acts on box-action (MPE) maps only (env.backend: mpe)")

    return candidates


# MPE (box actions): the scripted controller and its noisy ε-mixture, built by rayeaq.policies.mpe.
for _name in ("expert", "noisy_expert"):
    POLICIES.add(_name, BehaviourPolicy(_name, _box_only(_name), box_policy=_name))


def _graded(cfg: PolicyConfig, epsilon: float | None, script: str | None) -> list[Candidate]:
    noise = cfg.noise if epsilon is None else epsilon
    return [scripted(name, noise) for name in ([script] if script else cfg.ladder)]


POLICIES.add("graded", BehaviourPolicy("graded", _graded))


def _heuristic_mix(cfg: PolicyConfig, epsilon: float | None, script: str | None) -> list[Candidate]:
    name = script or f"focus_{cfg.target}"
    grid = EPSILON_GRID if epsilon is None else (epsilon,)
    return [
        Candidate(
            label="random" if e >= 1.0 else f"heuristic_mix(epsilon={e:.3f},target={cfg.target})",
            runner="jax",
            epsilon=float(e),
            script=name,
        )
        for e in grid
    ]


POLICIES.add("heuristic_mix", BehaviourPolicy("heuristic_mix", _heuristic_mix))


def _checkpoint_mix(cfg: PolicyConfig, epsilon: float | None, script: str | None) -> list[Candidate]:
    grid = EPSILON_GRID if epsilon is None else (epsilon,)
    return [
        Candidate(
            label=f"qmix_mix(epsilon={e:.3f},checkpoint={cfg.checkpoint})",
            runner="host",
            epsilon=float(e),
            checkpoint=str(cfg.checkpoint),
        )
        for e in grid
    ]


def _check_checkpoint(cfg: PolicyConfig) -> None:
    if cfg.checkpoint is None or not Path(cfg.checkpoint).is_dir():
        raise ConfigError(f"collect.policy.checkpoint: expected a QMIX checkpoint directory, got {cfg.checkpoint!r}")


POLICIES.add("qmix_checkpoint", BehaviourPolicy("qmix_checkpoint", _checkpoint_mix, validate=_check_checkpoint))


def ladder_checkpoints(run_dir: str | Path) -> list[tuple[dict, Path]]:
    """The checkpoints of an online QMIX run, in training order: ``(row of checkpoints.json, directory)``.

    Directories are resolved inside ``run_dir`` by name, so a moved or copied run still works."""
    root = Path(run_dir)
    rows = json.loads((root / "checkpoints.json").read_text(encoding="utf-8"))
    return [(row, root / Path(row["path"]).name) for row in rows]


def _ladder(cfg: PolicyConfig, epsilon: float | None, script: str | None) -> list[Candidate]:
    noise = cfg.noise if epsilon is None else epsilon
    return [
        Candidate(
            label=f"qmix_ladder(env_steps={row['env_steps']},noise={noise:.3f})",
            runner="host",
            epsilon=float(noise),
            checkpoint=str(path),
        )
        for row, path in ladder_checkpoints(str(cfg.online_run))
    ]


def _check_ladder(cfg: PolicyConfig) -> None:
    run = Path(str(cfg.online_run))
    if cfg.online_run is None or not (run / "checkpoints.json").is_file():
        raise ConfigError(
            f"collect.policy.online_run: expected a rayeaq.train_online run directory with checkpoints.json, "
            f"got {cfg.online_run!r}"
        )
    missing = [str(path) for _, path in ladder_checkpoints(run) if not path.is_dir()]
    if missing:
        raise ConfigError(f"collect.policy.online_run: {run}/checkpoints.json lists missing checkpoints {missing}")


POLICIES.add("qmix_ladder", BehaviourPolicy("qmix_ladder", _ladder, validate=_check_ladder))

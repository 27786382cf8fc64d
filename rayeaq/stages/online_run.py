"""A content-addressed online QMIX run (no Ray at import): its config, its key, where it lives, and
:func:`ensure_online_run`, which trains it once and finds it afterwards.

``rayeaq.train_online`` and the ``medium_replay`` collect tier (:mod:`rayeaq.stages.collect.medium_replay`) share
this cache: the same resolved config (without ``ray``, ``name`` and ``online.medium_replay_band``) gives the same
key, the same directory ``<root>/qmix_<map>_seed<seed>_<key>`` and so the same run, never trained twice.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import Field

from rayeaq.core.config import StrictModel
from rayeaq.core.errors import ConfigError
from rayeaq.core.ray_config import RayConfig
from rayeaq.envs.config import EnvConfig
from rayeaq.learners.qmix.config import CQLConfig, EvaluateConfig
from rayeaq.learners.qmix.online import OnlineConfig

ONLINE_ROOT = Path("results") / "online"
"""Where runs go by default (relative to the working directory), for ``train_online`` and the collect tier alike."""


class OnlineRunConfig(StrictModel):
    """Everything an online QMIX run reads."""

    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    """Root seed; episode, replay, evaluation and torch seeds are derived from it."""
    name: str | None = None
    """Optional run name (default output path)."""
    env: EnvConfig = EnvConfig()
    """The SMAX map and episode limit to train on."""
    evaluate: EvaluateConfig = EvaluateConfig(cql=CQLConfig(weight=0.0))
    """Learner settings (networks, lr, gamma, target_update_interval, batch_size, eval_envs); algorithm is qmix."""
    online: OnlineConfig = OnlineConfig()
    """Rollouts, replay buffer, ε schedule, evaluation cadence."""
    ray: RayConfig = RayConfig()
    """Local Ray or the cluster to join."""


def config_key(cfg: OnlineRunConfig) -> str:
    """12 hex digits of sha256 over the resolved config, without ``ray`` (where it runs), ``name`` and
    ``online.medium_replay_band`` (what is cut from the replay afterwards, not how the run trains)."""
    data = cfg.model_dump(mode="json", exclude={"ray": True, "name": True, "online": {"medium_replay_band"}})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def run_dir(cfg: OnlineRunConfig, root: str | Path = ONLINE_ROOT) -> Path:
    """The run's content-addressed directory under ``root`` (``cfg.name`` replaces the derived name)."""
    return Path(root) / (cfg.name or f"qmix_{cfg.env.map}_seed{cfg.seed}_{config_key(cfg)}")


def finished_run(out: Path, key: str) -> dict | None:
    """The summary of a finished run of the same config in ``out``; a finished run of another config is an error."""
    path = out / "summary.json"
    if not path.is_file():
        return None
    summary = json.loads(path.read_text(encoding="utf-8"))
    if summary.get("config_key") != key:
        raise ConfigError(
            f"{out} holds a finished online run of another config (key {summary.get('config_key')}, this one {key}); "
            "choose another --out or delete it"
        )
    return summary


def ensure_online_run(cfg: OnlineRunConfig, out: str | Path) -> tuple[dict[str, Any], bool]:
    """The summary of the finished run of ``cfg`` in ``out``, training it first unless it is there;
    returns ``(summary, reused)``. Joins the caller's Ray or starts one (``cfg.ray``) for the training."""
    from rayeaq.core.outlock import out_lock
    from rayeaq.core.ray_session import ray_session
    from rayeaq.core.runinfo import write_run_info

    out, key = Path(out), config_key(cfg)
    with out_lock(
        out, "train_online"
    ):  # a second command asking for the same run meanwhile: one line naming the holder
        summary = finished_run(out, key)
        if summary is not None:
            return summary, True
        write_run_info(out, cfg, "train_online", {"config_key": key})
        with ray_session(cfg.ray):
            from rayeaq.stages.ray_online import run_online

            return run_online(cfg, out, extra={"config_key": key}), False

"""``python -m rayeaq.train_online CONFIG [key=value ...] --out DIR``: online QMIX on RLlib over vmapped SMAX.

The QMIX learner of ``rayeaq.evaluate`` (networks, double-Q TD loss, target copies: the ``evaluate`` section)
trained online: ε-greedy rollouts with an annealed ε, an episode replay buffer, periodic greedy evaluation and a
checkpoint at every evaluation (``online`` section, see :class:`rayeaq.learners.qmix.online.OnlineConfig`).
Writes ``metrics.jsonl``, ``checkpoints.json`` (path, fingerprint, win rate, return of each checkpoint),
``checkpoint_NNNN/`` and ``summary.json``; prints a one-line summary.

Content-addressed: without ``--out`` the run goes to ``results/online/qmix_<map>_seed<seed>_<key>``, ``key`` a hash of
the resolved config (without ``ray`` and ``name``); a directory whose ``summary.json`` carries the same key is
reused, not trained again. So one command produces a checkpoint ladder (``collect.policy.kind=qmix_ladder``,
``collect.policy.online_run=DIR``) and the next one finds it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from pydantic import Field

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from rayeaq.cli import base_parser, prepare_process, run_cli
from rayeaq.core.config import StrictModel, load_config
from rayeaq.core.errors import ConfigError
from rayeaq.core.ray_config import RayConfig
from rayeaq.envs.config import EnvConfig
from rayeaq.learners.qmix.config import CQLConfig, EvaluateConfig
from rayeaq.learners.qmix.online import OnlineConfig


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


def _finished(out: Path, key: str) -> dict | None:
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


def _medium_replay(cfg: OnlineRunConfig, out: Path) -> str:
    """Write ``OUT/medium_replay`` unless a finished one of the same band is there; a one-line description."""
    from rayeaq.core.runinfo import code_version
    from rayeaq.data.card import read_card
    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.stages.online_replay import MEDIUM_REPLAY_DIR, write_medium_replay

    band = cast(tuple[float, float], cfg.online.medium_replay_band)
    path = out / MEDIUM_REPLAY_DIR
    if (path / "card.json").is_file() and read_card(path).quality.get("win_rate_band") == list(band):
        card = read_card(path)
    else:
        spec = smax_spec(cfg.env.map, cfg.env.resolved_episode_limit)
        card = write_medium_replay(out, spec, band, code_version())
    q = card.quality
    return (
        f"{card.stats.episodes} episodes up to {q['upto_checkpoint']} ({q['upto_env_steps']} env steps, greedy win "
        f"rate {q['own_win_rate']:.3f}), data win rate {card.stats.win_rate:.3f} -> {path}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    prepare_process()
    parser = base_parser("rayeaq.train_online", "Online QMIX on RLlib over vmapped SMAX.")
    args = parser.parse_args(argv)

    from rayeaq.core.ray_session import ray_session
    from rayeaq.core.runinfo import write_run_info
    from rayeaq.stages.ray_online import run_online

    cfg = load_config(OnlineRunConfig, args.config, args.overrides)
    key = config_key(cfg)
    name = cfg.name or f"qmix_{cfg.env.map}_seed{cfg.seed}_{key}"
    out = Path(args.out or Path("results") / "online" / name)
    s = _finished(out, key)
    reused = s is not None
    if s is None:
        write_run_info(out, cfg, "train_online", {"config_key": key})
        with ray_session(cfg.ray):
            s = run_online(cfg, out, extra={"config_key": key})
    if cfg.online.medium_replay_band is not None:
        s["medium_replay"] = _medium_replay(cfg, out)
    first, last, best = s["first"], s["last"], s["best"]
    print(
        f"train_online: {'reused ' if reused else ''}qmix {s['map']} seed {s['seed']}: {s['env_steps']} env steps, "
        f"{s['updates']} updates, "
        f"{s['wall_s']:.0f} s; greedy win rate {first['win_rate']:.3f} -> {last['win_rate']:.3f} "
        f"(best {best['win_rate']:.3f} at {best['env_steps']} steps); out {out}"
        + (f"; medium_replay {s['medium_replay']}" if "medium_replay" in s else "")
    )
    return 0


if __name__ == "__main__":
    run_cli(main)

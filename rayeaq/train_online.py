"""``python -m rayeaq.train_online CONFIG [key=value ...] --out DIR``: online QMIX on RLlib over vmapped SMAX.

The QMIX learner of ``rayeaq.evaluate`` (networks, double-Q TD loss, target copies: the ``evaluate`` section)
trained online: ε-greedy rollouts with an annealed ε, an episode replay buffer, periodic greedy evaluation and a
checkpoint at every evaluation (``online`` section, see :class:`rayeaq.learners.qmix.online.OnlineConfig`).
Writes ``metrics.jsonl``, ``checkpoints.json`` (path, fingerprint, win rate, return of each checkpoint),
``checkpoint_NNNN/`` and ``summary.json``; prints a one-line summary.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from rayeaq.cli import base_parser, run_cli
from rayeaq.core.config import StrictModel, load_config
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser("rayeaq.train_online", "Online QMIX on RLlib over vmapped SMAX.")
    args = parser.parse_args(argv)

    from rayeaq.core.ray_session import ray_session
    from rayeaq.core.runinfo import write_run_info
    from rayeaq.stages.ray_online import run_online

    cfg = load_config(OnlineRunConfig, args.config, args.overrides)
    out = Path(args.out or Path("results") / "online" / (cfg.name or f"qmix_{cfg.env.map}_seed{cfg.seed}"))
    write_run_info(out, cfg, "train_online")
    with ray_session(cfg.ray):
        s = run_online(cfg, out)
    first, last, best = s["first"], s["last"], s["best"]
    print(
        f"train_online: qmix {s['map']} seed {s['seed']}: {s['env_steps']} env steps, {s['updates']} updates, "
        f"{s['wall_s']:.0f} s; greedy win rate {first['win_rate']:.3f} -> {last['win_rate']:.3f} "
        f"(best {best['win_rate']:.3f} at {best['env_steps']} steps); out {out}"
    )
    return 0


if __name__ == "__main__":
    run_cli(main)

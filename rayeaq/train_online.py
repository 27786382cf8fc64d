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

import os
from collections.abc import Sequence
from pathlib import Path
from typing import cast

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from rayeaq.cli import base_parser, prepare_process, run_cli
from rayeaq.core.config import load_config
from rayeaq.core.errors import ConfigError
from rayeaq.stages.online_run import OnlineRunConfig, config_key, ensure_online_run, run_dir

__all__ = ["OnlineRunConfig", "config_key", "main"]


def _medium_replay(cfg: OnlineRunConfig, out: Path) -> str:
    """Write ``OUT/medium_replay`` unless a finished one of the same band is there; a one-line description (why
    not, when no checkpoint's greedy win rate lies in the band: collect's ``medium_replay`` tier then says so)."""
    from rayeaq.core.runinfo import code_version
    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.stages.online_replay import MEDIUM_REPLAY_DIR, ensure_medium_replay

    band = cast(tuple[float, float], cfg.online.medium_replay_band)
    path = out / MEDIUM_REPLAY_DIR
    try:
        card = ensure_medium_replay(out, smax_spec(cfg.env.map, cfg.env.resolved_episode_limit), band, code_version())
    except ConfigError as err:  # the training run itself is fine and kept: only the cut has no checkpoint to end at
        return f"not written ({err})"
    q = card.quality
    return (
        f"{card.stats.episodes} episodes up to {q['upto_checkpoint']} ({q['upto_env_steps']} env steps, greedy win "
        f"rate {q['own_win_rate']:.3f}), data win rate {card.stats.win_rate:.3f} -> {path}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    prepare_process()
    parser = base_parser("rayeaq.train_online", "Online QMIX on RLlib over vmapped SMAX.")
    args = parser.parse_args(argv)

    cfg = load_config(OnlineRunConfig, args.config, args.overrides)
    out = Path(args.out) if args.out else run_dir(cfg)
    s, reused = ensure_online_run(cfg, out)
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

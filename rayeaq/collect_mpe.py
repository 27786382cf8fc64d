"""``python -m rayeaq.collect_mpe CONFIG [key=value ...] [--out DIR]``: MPE datasets per tier (OMAR/D4RL naming).

Writes ``OUT/<tier>/`` schema-v2 datasets (random, medium_replay, medium, medium_expert, expert) whose cards carry
the map's reference returns and normalized scores. In-process (one jitted vmap+scan per chunk; no Ray needed: a
1 000-episode tier is a few seconds of stepping after compilation). Until the collect stage takes MPE, this is
its own command with its own config (:class:`MPECollectRun`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import field_validator

from rayeaq.cli import base_parser, run_cli
from rayeaq.core.config import StrictModel, load_config
from rayeaq.envs.config import EnvConfig
from rayeaq.stages.collect.mpe_tiers import MPECollectConfig


class MPECollectRun(StrictModel):
    """The sections ``python -m rayeaq.collect_mpe`` reads."""

    seed: int = 0
    """Root seed: every episode's seed is derived from it, the map, the tier and the episode id."""
    env: EnvConfig = EnvConfig(backend="mpe", map="omar_spread")
    """The MPE map (env.backend must be mpe; episodes are 25 steps)."""
    collect: MPECollectConfig = MPECollectConfig()
    """Tiers and the medium calibration."""

    @field_validator("env")
    @classmethod
    def _mpe(cls, value: EnvConfig) -> EnvConfig:
        if value.backend != "mpe":
            raise ValueError("expected backend mpe (SMAX/SC2 datasets come from python -m rayeaq.collect)")
        return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser("python -m rayeaq.collect_mpe", __doc__.splitlines()[0])
    args = parser.parse_args(argv)
    cfg = load_config(MPECollectRun, args.config, args.overrides)
    out = Path(args.out) if args.out else Path("results") / "datasets" / f"mpe_{cfg.env.map}_seed{cfg.seed}"

    from rayeaq.core.runinfo import code_version, write_run_info
    from rayeaq.stages.collect.mpe_tiers import collect_tiers

    start = time.perf_counter()
    cards = collect_tiers(cfg.env.map, cfg.collect, out, cfg.seed, code_version=code_version())
    write_run_info(out, cfg, "collect_mpe", {"dataset_fingerprints": {t: c.fingerprint for t, c in cards.items()}})
    for tier, card in cards.items():
        print(
            f"{tier}: {card.stats.episodes} episodes, mean return {card.stats.mean_return:.2f}, normalized score "
            f"{card.stats.normalized_score:.1f}, band_met={card.quality.get('band_met')} -> {out / tier}"
        )
    print(
        json.dumps(
            {
                "reference_returns": next(iter(cards.values())).reference_returns,
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    run_cli(main)

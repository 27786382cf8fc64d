"""Do the tiers mean what they say? Behaviour cloning on each tier, its greedy win rate next to the data's.

OG-MARL's tiers are recorded from policies of different skill, so imitating ``poor`` data must give a poor policy:
an ε-mixture of one heuristic fails this (BC denoises back to the heuristic). :func:`check_tiers` trains the
registered ``bc`` learner on every collected tier (``evaluate.*`` sets the budget) and writes ``tiers.json`` and
``tiers.md``. The shipped defaults must pass :func:`verdicts`: BC on ``poor`` at most the poor band's upper bound
+ :data:`POOR_SLACK`, BC on ``good`` at least the good band's lower bound.

Needs Ray initialised (:func:`rayeaq.core.ray_session.ray_session`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, Self

from rayeaq.core.ray_config import RayConfig
from rayeaq.data.card import read_card
from rayeaq.learners.qmix.config import EvaluateConfig
from rayeaq.stages.collect.config import CollectConfig

POOR_SLACK = 0.15
"""BC on poor data may beat the poor band's upper bound by this much (an imitator is not the data)."""


class CheckRun(Protocol):
    """The run-config sections the tier check reads (a :class:`rayeaq.run_config.RunConfig` is one)."""

    seed: int
    collect: CollectConfig
    evaluate: EvaluateConfig
    ray: RayConfig

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self: ...


def check_tiers(cfg: CheckRun, datasets: str | Path, out: str | Path) -> list[dict[str, Any]]:
    """BC on ``datasets/<tier>`` for every configured tier; returns and writes the table (one row per tier)."""
    from rayeaq.stages.evaluate import run_evaluation

    datasets, out = Path(datasets), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bc_cfg = cfg.model_copy(update={"evaluate": cfg.evaluate.model_copy(update={"algorithm": "bc"})})
    rows = []
    for tier in cfg.collect.tiers:
        card = read_card(datasets / tier)
        summary = run_evaluation(bc_cfg, [(str(datasets / tier), 1.0)], out / f"bc_{tier}")
        rows.append(
            {
                "tier": tier,
                "band": list(cfg.collect.tier_bands[tier].win_rate),
                "policy": card.behaviour_policy.get("name"),
                "own_win_rate": card.quality.get("own_win_rate"),
                "data_win_rate": card.stats.win_rate,
                "data_mean_return": card.stats.mean_return,
                "episodes": card.stats.episodes,
                "bc_win_rate": float(summary["win_rate"]),
                "bc_mean_return": float(summary["return_mean"]),
                "bc_episodes": int(summary["episodes"]),
                "bc_updates": int(summary["updates"]),
            }
        )
    table = {"rows": rows, "verdicts": verdicts(rows)}
    (out / "tiers.json").write_text(json.dumps(table, indent=2), encoding="utf-8")
    (out / "tiers.md").write_text(markdown(rows), encoding="utf-8")
    return rows


def verdicts(rows: list[dict[str, Any]]) -> dict[str, bool]:
    """``poor``: BC ≤ band high + :data:`POOR_SLACK`; ``good``: BC ≥ band low (only tiers present)."""
    checks = {}
    for row in rows:
        low, high = row["band"]
        if row["tier"] == "poor":
            checks["poor"] = row["bc_win_rate"] <= high + POOR_SLACK
        elif row["tier"] == "good":
            checks["good"] = row["bc_win_rate"] >= low
    return checks


def markdown(rows: list[dict[str, Any]]) -> str:
    """The table as Markdown (tier, band, behaviour policy, own / data / BC greedy win rate)."""
    header = (
        "| tier | band | behaviour policy | own win rate | data win rate (episodes) | BC greedy win rate "
        "(eval episodes, updates) |"
    )
    lines = [header, "|---|---|---|---|---|---|"]
    for r in rows:
        own = "–" if r["own_win_rate"] is None else f"{r['own_win_rate']:.3f}"
        lines.append(
            f"| {r['tier']} | [{r['band'][0]:.2f}, {r['band'][1]:.2f}] | {r['policy']} | {own} | "
            f"{r['data_win_rate']:.3f} ({r['episodes']}) | {r['bc_win_rate']:.3f} ({r['bc_episodes']}, "
            f"{r['bc_updates']}) |"
        )
    checks = verdicts(rows)
    if checks:
        lines.append("")
        lines.append("checks: " + ", ".join(f"{k} {'pass' if v else 'FAIL'}" for k, v in checks.items()))
    return "\n".join(lines) + "\n"

"""Which sampled episodes are kept, and why the others are dropped (numpy, no Ray).

Each dropped episode is charged to the first reason it meets, in this order:

* ``no_valid_step`` — decoded to zero steps;
* ``no_available_action`` — on some step an agent had no available action;
* ``illegal_action`` — (``drop_illegal`` only) an agent's unrestricted argmax action was unavailable;
* ``return_out_of_range`` — return above ``max_return + tolerance · span`` or below ``low − tolerance · span``,
  where ``low = min(0, min_return)`` (``min_return``: the real data's lowest return; MPE's rewards can be
  negative, SMAX's cannot) and ``span = max_return − low`` (SMAX: ``[−tol · max, max · (1 + tol)]`` as before);
* ``inconsistent_state`` — (when the caller passes a mask) the simulator disagrees with the episode.

A return in ``(max_return, max_return · (1 + tolerance)]`` is reward noise around the bound (a SMAX win
returns exactly ``max_return``): the episode is kept and its step rewards are scaled down so its return is
``max_return``. The report gives drop counts by reason and the return, length and win rate of the dropped
and kept episodes, so a filter biased against wins (or long episodes) shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rayeaq.data.batch import EpisodeBatch

REASONS = ("no_valid_step", "no_available_action", "illegal_action", "return_out_of_range", "inconsistent_state")


def _stats(batch: EpisodeBatch, mask: np.ndarray) -> dict[str, float | int]:
    n = int(mask.sum())
    if n == 0:
        return {"episodes": 0}
    return {
        "episodes": n,
        "return_mean": float(batch.episode_return[mask].mean()),
        "length_mean": float(batch.length[mask].mean()),
        "win_rate": float(batch.battle_won[mask].mean()),
    }


def filter_samples(
    episodes: EpisodeBatch,
    *,
    no_action: np.ndarray,
    legal: np.ndarray,
    agent_steps: np.ndarray,
    max_return: float,
    drop_illegal: bool,
    tolerance: float,
    inconsistent: np.ndarray | None = None,
    min_return: float = 0.0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``(keep [B] bool, report)``; rewards of kept episodes just above ``max_return`` are scaled in place
    (when ``max_return`` > 0)."""
    b = len(episodes)
    ret = episodes.episode_return
    low = min(0.0, min_return)
    span = max(max_return - low, 1e-6)
    checks = {
        "no_valid_step": episodes.length <= 0,
        "no_available_action": np.asarray(no_action, bool),
        "illegal_action": (legal < agent_steps) if drop_illegal else np.zeros(b, bool),
        "return_out_of_range": (ret > max_return + tolerance * span) | (ret < low - tolerance * span),
        "inconsistent_state": np.asarray(inconsistent, bool) if inconsistent is not None else np.zeros(b, bool),
    }
    reason = np.full(b, -1)
    for i, name in enumerate(REASONS):
        reason = np.where((reason < 0) & checks[name], i, reason)
    keep = reason < 0
    over = keep & (ret > max_return) & (max_return > 0)
    if over.any():
        factor = (max_return / ret[over]).astype(np.float32)
        episodes.reward[over] *= factor[:, None]
        episodes.episode_return[over] = (episodes.reward[over] * episodes.filled[over]).sum(axis=1)
    report = {
        "dropped": {name: int((reason == i).sum()) for i, name in enumerate(REASONS)},
        "clamped_to_max_return": int(over.sum()),
        "dropped_stats": _stats(episodes, ~keep),
        "kept_stats": _stats(episodes, keep),
    }
    return keep, report

"""What a sweep holds on the cluster: ``k`` concurrent trials' placement groups plus one fit's Train workers.

A trial's placement group (``tune.resources`` for its own process, the augment sampling tasks, the remote
learners and rollout actors: :func:`rayeaq.sweep.ray_tune.trial_bundles`) is held for the whole trial; its
Ray Train workers schedule outside it. So ``k`` running trials plus one trial's Train workers must fit,
where ``k`` is how many trials Tune can run at once (``tune.max_concurrent_trials``, the number of trials,
and how many placement groups the cluster holds). Otherwise every running trial waits for Train workers that
never start: the starvation hang of ``NOTES-ray-smax.md``.
"""

from __future__ import annotations

import math
from typing import Any

from rayeaq.core.resources import ClusterView, Request, totals
from rayeaq.stages.requests import augment_requests, evaluate_requests, fit_requests


def trial_requests(cfg, count: int = 1) -> list[Request]:
    """``count`` trials' placement groups (each request scaled by ``count``) of the trial config ``cfg``."""
    r = cfg.tune.resources
    own = Request("tune.resources", {"CPU": r.cpu, **({"GPU": r.gpu} if r.gpu else {})}, 1, "trial process")
    parts = [own] + augment_requests(cfg) + evaluate_requests(cfg)
    return [
        Request(
            p.key if count == 1 else f"{p.key} (x tune.max_concurrent_trials={count})",
            p.resources,
            p.count * count,
            p.what,
        )
        for p in parts
    ]


def concurrent_trials(cfg, n_trials: int, view: ClusterView) -> int:
    """How many trials Tune runs at once: the configured limit, the trial count, what the cluster holds."""
    need: dict[str, float] = {}
    for req in trial_requests(cfg):
        for name, amount in req.resources.items():
            need[name] = need.get(name, 0.0) + amount * req.count
    have = totals(view.at_most().nodes)
    fits = min((math.floor(have.get(n, 0.0) / a + 1e-9) for n, a in need.items() if a > 0), default=n_trials)
    return max(1, min(cfg.tune.max_concurrent_trials, n_trials, fits))


def sweep_requests(trial_cfgs: list[Any], n_trials: int, view: ClusterView) -> list[list[Request]]:
    """One request list per distinct trial config: ``k`` trials' groups held plus one fit's Train workers."""
    out = []
    for cfg in trial_cfgs:
        k = concurrent_trials(cfg, n_trials, view)
        out.append(trial_requests(cfg, k) + fit_requests(cfg))
    return out

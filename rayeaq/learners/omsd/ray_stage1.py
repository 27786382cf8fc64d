"""Ray adapter: omsd's stage-1 units (the IQL critic, one score model per agent) as parallel Ray tasks.

Each unit is :func:`rayeaq.learners.omsd.stages.run_stage1_unit` in its own task (``evaluate.cpus_per_learner``
CPUs, torch threads 1); at most ``parallel`` run at once; the transitions go into the object store once.
"""

from __future__ import annotations

from typing import Any

import ray
import torch

from rayeaq.learners.omsd.config import OmsdConfig
from rayeaq.learners.omsd.stages import Data, run_stage1_unit


def _unit(cfg: OmsdConfig, data: Data, unit: str, seed: int) -> dict[str, torch.Tensor]:
    torch.set_num_threads(1)
    return run_stage1_unit(cfg, data, unit, seed)


def fit_units_ray(
    cfg: OmsdConfig, data: Data, units: list[str], seed: int, parallel: int, cpus: float
) -> dict[str, dict[str, Any]]:
    """``{unit: state_dict}`` of every unit, trained in Ray tasks named ``omsd:stage1:<unit>``."""
    task = ray.remote(_unit)
    data_ref = ray.put(data)
    pending: dict[Any, str] = {}
    results: dict[str, dict[str, Any]] = {}
    queue = list(units)
    while queue or pending:
        while queue and len(pending) < parallel:
            unit = queue.pop(0)
            ref = task.options(num_cpus=cpus, name=f"omsd:stage1:{unit}").remote(cfg, data_ref, unit, seed)
            pending[ref] = unit
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            results[pending.pop(ref)] = ray.get(ref)
    return results

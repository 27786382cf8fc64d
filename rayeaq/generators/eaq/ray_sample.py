"""Ray adapter for sampling: the requested windows are split over ``augment.workers`` Ray tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rayeaq.core.runinfo import derive_seed
from rayeaq.data.batch import EpisodeBatch


def sample_chunk(checkpoint: str, n: int, seed: int, acfg: dict) -> dict:
    """One task: load the generator, sample ``n`` windows, decode (plain torch; also callable without Ray)."""
    import torch

    from rayeaq.augmenters.config import AugmentConfig
    from rayeaq.generators.eaq.sample import Generator
    from rayeaq.generators.eaq.train import load_checkpoint

    cfg = AugmentConfig.model_validate(acfg)
    torch.set_num_threads(1)
    gen = Generator(load_checkpoint(checkpoint), use_ema=cfg.use_ema)
    decoded, qtot = gen.sample(
        n, cfg.sampler, cfg.sampling_steps, seed, cfg.batch_size, cfg.done_threshold, cfg.timestep_spacing
    )
    return {
        "episodes": decoded.episodes,
        "legal": decoded.legal_steps,
        "agent_steps": decoded.agent_steps,
        "valid": decoded.valid,
        "no_action": decoded.no_action,
        "qtot": qtot.astype(np.float32),
        "seed": np.full(n, seed, np.int64),
    }


def sample_with_ray(checkpoint: str | Path, n: int, root_seed: int, acfg) -> dict:
    """Spread ``n`` windows over ``acfg.workers`` tasks of ``acfg.cpus_per_worker`` CPUs; concatenated results."""
    import ray

    task = ray.remote(sample_chunk)  # Ray 2.60: .options(...) returns a wrapper without .options
    tasks = min(acfg.workers, n)
    sizes = [n // tasks + (1 if i < n % tasks else 0) for i in range(tasks)]
    refs = [
        task.options(num_cpus=acfg.cpus_per_worker, name=f"augment:sample:{i}").remote(
            str(checkpoint), size, derive_seed(root_seed, "augment", "sample", i), acfg.model_dump(mode="json")
        )
        for i, size in enumerate(sizes)
    ]
    parts = ray.get(refs)
    out: dict[str, Any] = {
        key: np.concatenate([p[key] for p in parts])
        for key in ("legal", "agent_steps", "valid", "no_action", "qtot", "seed")
    }
    out["episodes"] = EpisodeBatch.concatenate([p["episodes"] for p in parts])
    return out

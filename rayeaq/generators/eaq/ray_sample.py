"""Ray adapter for sampling: the requested windows in chunks of ``augment.batch_size``, run by at most
``augment.workers`` Ray tasks at a time (the samples do not depend on the number of tasks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rayeaq.core.runinfo import derive_seed
from rayeaq.data.batch import EpisodeBatch


def sample_chunk(checkpoint: str, n: int, seed: int, acfg: dict, guidance: float | None = None) -> dict:
    """One task: load the generator, sample ``n`` windows, decode (plain torch; also callable without Ray).
    ``guidance``: the scale of a return-conditioned generator (None: the checkpoint's ``q_weight``)."""
    import torch

    from rayeaq.augmenters.config import AugmentConfig
    from rayeaq.generators.eaq.sample import Generator
    from rayeaq.generators.eaq.train import load_checkpoint

    cfg = AugmentConfig.model_validate(acfg)
    torch.set_num_threads(1)
    gen = Generator(load_checkpoint(checkpoint), use_ema=cfg.use_ema)
    decoded, qtot = gen.sample(
        n, cfg.sampler, cfg.sampling_steps, seed, cfg.batch_size, cfg.done_threshold, cfg.timestep_spacing, guidance
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


def chunk_sizes(n: int, batch_size: int) -> list[int]:
    """``n`` windows as chunks of ``batch_size`` (the last one smaller): the unit of work and of seeding, so the
    samples do not depend on how many tasks run them."""
    return [min(batch_size, n - start) for start in range(0, n, batch_size)]


def sample_with_ray(
    checkpoint: str | Path, n: int, root_seed: int, acfg, progress: bool = True, guidance: float | None = None
) -> dict:
    """Sample ``n`` windows in chunks of ``acfg.batch_size``, at most ``acfg.workers`` tasks of
    ``acfg.cpus_per_worker`` CPUs at a time; concatenated results in chunk order.

    Chunk ``i`` is seeded by ``derive_seed(root_seed, "augment", "sample", i)``: the same samples for any
    ``augment.workers``. A progress bar (on a terminal) counts sampled windows.
    """
    import ray
    from tqdm import tqdm

    task = ray.remote(sample_chunk)
    sizes = chunk_sizes(n, acfg.batch_size)
    spec = acfg.model_dump(mode="json")
    pending = list(enumerate(sizes))
    running: dict[Any, int] = {}
    parts: dict[int, dict] = {}
    with tqdm(total=n, desc="augment: sampling", unit="ep", leave=False, disable=None if progress else True) as bar:
        while pending or running:
            while pending and len(running) < acfg.workers:
                i, size = pending.pop(0)
                seed = derive_seed(root_seed, "augment", "sample", i)
                running[
                    task.options(num_cpus=acfg.cpus_per_worker, name=f"augment:sample:{i}").remote(
                        str(checkpoint), size, seed, spec, guidance
                    )
                ] = i
            done, _ = ray.wait(list(running), num_returns=1)
            i = running.pop(done[0])
            parts[i] = ray.get(done[0])
            bar.update(sizes[i])
    ordered = [parts[i] for i in range(len(sizes))]
    out: dict[str, Any] = {
        key: np.concatenate([p[key] for p in ordered])
        for key in ("legal", "agent_steps", "valid", "no_action", "qtot", "seed")
    }
    out["episodes"] = EpisodeBatch.concatenate([p["episodes"] for p in ordered])
    return out

"""Fit once, augment many: content-addressed generators and synthetic datasets shared by a sweep's trials.

A generator is identified by what determines it — the real dataset's fingerprint, the ``diffusion`` section,
the ``fit`` section without its bookkeeping keys, and the seed — so trials that differ only in what happens
after the fit (``augment.ratio``, evaluator settings, ...) share one. A synthetic dataset is identified by its
generator (or the real dataset for generator-free augmenters), the ``augment`` section without the mixing
ratio, and the seed.

Concurrency: the first trial to reach a key takes an exclusive lock (``fcntl.flock`` on ``KEY.lock``, released
by the kernel if the process dies) and builds into ``KEY/``; the others block on the lock and then find the
finished entry (its ``DONE.json`` marker). A build killed half-way leaves no marker: the next trial to reach
the key builds again, and a fit resumes from the checkpoints it left (``rayeaq.fit``'s own resume).
On a cluster the cache directory must be on a file system every node shares (``tune.generator_dir``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

DONE_FILE = "DONE.json"

FIT_BOOKKEEPING = ("checkpoint_every", "report_every", "keep_checkpoints", "cpus_per_worker", "torch_threads")
"""``fit`` keys that change where and how often a fit reports, not the generator it produces."""
AUGMENT_NOT_CONTENT = ("ratio", "workers", "cpus_per_worker", "fidelity_samples")
"""``augment`` keys that change how the synthetic data is mixed or spread over workers, not the data."""


def content_key(kind: str, **parts: Any) -> str:
    """A short stable hash of ``parts`` (JSON with sorted keys), prefixed with ``kind``."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


SAMPLING_ONLY = {"return": ("q_weight",)}
"""``diffusion`` keys that act only when sampling, per objective: a return-conditioned generator is fitted once
and sampled at any guidance scale λ (so ``eaq`` and ``eaq_noq`` trials share one fit)."""


def generator_key(dataset_fingerprint: str, diffusion: Mapping[str, Any], fit: Mapping[str, Any], seed: int) -> str:
    """The identity of a fitted generator: what its training reads (not what only sampling reads)."""
    fit_content = {k: v for k, v in fit.items() if k not in FIT_BOOKKEEPING}
    sampling_only = SAMPLING_ONLY.get(str(diffusion.get("objective")), ())
    trained = {k: v for k, v in diffusion.items() if k not in sampling_only}
    return content_key("gen", dataset=dataset_fingerprint, diffusion=trained, fit=fit_content, seed=seed)


def synthetic_key(source_key: str, augment: Mapping[str, Any], seed: int) -> str:
    """The identity of a synthetic dataset made from ``source_key`` (a generator key or a dataset fingerprint)."""
    content = {k: v for k, v in augment.items() if k not in AUGMENT_NOT_CONTENT}
    return content_key("syn", source=source_key, augment=content, seed=seed)


def cached(
    root: Path, key: str, build: Callable[[Path], Any], record: Callable[[], Mapping[str, Any]] | None = None
) -> tuple[Path, bool]:
    """``root/key`` built once: returns ``(directory, built_now)``.

    ``build(directory)`` runs under the key's lock when the entry is not finished; it may find a partial earlier
    attempt in ``directory`` and resume it. ``record()`` (called after the build) is written into the
    ``DONE.json`` marker.
    """
    root.mkdir(parents=True, exist_ok=True)
    directory = root / key
    with open(root / f"{key}.lock", "a+", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # waits while another trial builds this entry
        try:
            if (directory / DONE_FILE).is_file():
                return directory, False
            directory.mkdir(parents=True, exist_ok=True)
            build(directory)
            tmp = directory / f".{DONE_FILE}.tmp-{os.getpid()}"
            tmp.write_text(
                json.dumps({"key": key, **dict(record() if record else {})}, indent=2, default=str), encoding="utf-8"
            )
            os.replace(tmp, directory / DONE_FILE)
            return directory, True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

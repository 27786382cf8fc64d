"""The replay of an online QMIX run as datasets (no Ray): every ε-greedy training episode in the order played, and
OG-MARL's ``medium_replay`` — the episodes a training run played before its medium checkpoint.

:class:`ReplayRecorder` writes each iteration's episodes as one Parquet shard under ``RUN/replay/shards`` while
the run trains (``online.record_replay``); :func:`write_medium_replay` picks the first checkpoint whose greedy win
rate lies in a band (``online.medium_replay_band``) and finalises the shards played before it as a dataset with
tier ``medium_replay``, whose card names that checkpoint, its fingerprint and its win rate.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from rayeaq.core.errors import ConfigError
from rayeaq.data.card import SHARD_DIR, DatasetCard, read_card
from rayeaq.data.shards import shard_name, write_shard
from rayeaq.data.writer import finalize_dataset
from rayeaq.envs.spec import EnvSpec

REPLAY_DIR = "replay"
"""Sub-directory of an online run holding the shards of its training episodes."""
MEDIUM_REPLAY_DIR = "medium_replay"
"""Sub-directory of an online run holding its medium_replay dataset."""


class ReplayRecorder:
    """Writes the training episodes of an online run, one shard per iteration, episode ids in the order played."""

    def __init__(self, run_dir: str | Path, spec: EnvSpec) -> None:
        self.shard_dir = Path(run_dir) / REPLAY_DIR / SHARD_DIR
        self.spec = spec
        self.episodes = 0

    def add(self, buffer: Any, seeds: np.ndarray, label: str) -> None:
        """One iteration's complete episodes (an assembler buffer ``[n, T, ...]``) played by policy ``label``."""
        n = len(seeds)
        ids = np.arange(self.episodes, self.episodes + n, dtype=np.int64)
        batch = buffer.to_batch(ids, seeds, label)
        write_shard(self.shard_dir, batch, shard_name(self.episodes), success=self.spec.has_success)
        self.episodes += n


def medium_checkpoint(
    rows: list[dict[str, Any]], band: tuple[float, float], band_key: str = "online.medium_replay_band"
) -> dict[str, Any]:
    """The first trained checkpoint (in training order) whose greedy win rate lies in ``band`` = [low, high]
    (``band_key``: the config key the band came from, for the error)."""
    low, high = band
    for row in rows:
        if row["train_episodes"] > 0 and low <= row["win_rate"] <= high:
            return row
    rates = ", ".join(f"{r['win_rate']:.3f}" for r in rows)
    raise ConfigError(f"{band_key}: no checkpoint's greedy win rate is in {list(band)} (they are {rates})")


def write_medium_replay(
    run_dir: str | Path,
    spec: EnvSpec,
    band: tuple[float, float],
    code_version: dict | None = None,
    band_key: str = "online.medium_replay_band",
) -> DatasetCard:
    """``RUN/medium_replay``: the replay shards played before the medium checkpoint, finalised as a dataset."""
    run = Path(run_dir)
    rows = json.loads((run / "checkpoints.json").read_text(encoding="utf-8"))
    medium = medium_checkpoint(rows, band, band_key)
    source = run / REPLAY_DIR / SHARD_DIR
    out = run / MEDIUM_REPLAY_DIR
    if out.exists():
        shutil.rmtree(out)
    (out / SHARD_DIR).mkdir(parents=True)
    for shard in sorted(source.glob("shard-*.parquet")):
        first = int(shard.name.removeprefix("shard-").removesuffix(".parquet"))
        if first < medium["train_episodes"]:  # iterations end where evaluations start: whole shards
            try:
                os.link(shard, out / SHARD_DIR / shard.name)  # shards are immutable: share, do not copy
            except OSError:
                shutil.copy2(shard, out / SHARD_DIR / shard.name)
    return finalize_dataset(
        out,
        spec,
        source="real",
        tier="medium_replay",
        quality={
            "tier": "medium_replay",
            "win_rate_band": list(band),
            "upto_checkpoint": Path(medium["path"]).name,
            "upto_env_steps": medium["env_steps"],
            "own_win_rate": medium["win_rate"],
        },
        behaviour_policy={
            "kind": "qmix_online_replay",
            "name": f"qmix_online(upto_env_steps={medium['env_steps']})",
            "provenance": {"online_run": str(run), "checkpoint_fingerprint": medium["fingerprint"]},
            "own_win_rate": medium["win_rate"],
        },
        generation={"online_run": str(run), "episodes": medium["train_episodes"]},
        code_version=code_version or {},
    )


def ensure_medium_replay(
    run_dir: str | Path,
    spec: EnvSpec,
    band: tuple[float, float],
    code_version: dict | None = None,
    band_key: str = "online.medium_replay_band",
) -> DatasetCard:
    """The card of ``RUN/medium_replay`` for ``band``: the finished one if it was cut with the same band, else
    written now (:func:`write_medium_replay`)."""
    path = Path(run_dir) / MEDIUM_REPLAY_DIR
    if (path / "card.json").is_file():
        card = read_card(path)
        if card.quality.get("win_rate_band") == list(band):
            return card
    return write_medium_replay(run_dir, spec, band, code_version, band_key)

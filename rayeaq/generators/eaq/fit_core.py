"""What ``python -m rayeaq.fit`` does around the training loop (no Ray): inputs, layout, normaliser, export."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

from rayeaq.core.errors import ConfigError, DatasetError
from rayeaq.core.runinfo import RUN_FILE
from rayeaq.data.reader import Dataset, load_dataset
from rayeaq.generators.eaq.layout import Layout, Normalizer
from rayeaq.generators.eaq.train import CHECKPOINT_FILE, fit_normalizer, load_checkpoint


def load_real_dataset(path: str | Path) -> Dataset:
    """The dataset a generator is fitted on; synthetic data is refused (the normaliser sees real data only)."""
    dataset = load_dataset(path)
    if dataset.card.source != "real":
        raise DatasetError(
            f"{path}: field source: the generator is fitted on real data only, got {dataset.card.source!r}"
        )
    return dataset


def fit_inputs(cfg, dataset: Dataset) -> dict[str, Any]:
    """Layout, normaliser (fitted on the real episodes) and provenance shipped to every Train worker."""
    d = cfg.diffusion
    layout = Layout.for_dataset(dataset.card, d.horizon, d.include_state, d.include_avail)
    norm: Normalizer = fit_normalizer(dataset.episodes, layout, d.window_stride)
    card = dataset.card
    return {
        "layout": layout.to_dict(),
        "normalizer": norm.to_dict(),
        "spec": {
            "backend": card.backend,
            "map": card.map,
            "max_return": card.max_return,
            "episode_limit": card.episode_limit,
            "action_layout": list(card.action_layout),
        },
        "dataset": {
            "path": str(Path(dataset.path).resolve()),
            "fingerprint": card.fingerprint,
            "episodes": card.stats.episodes,
            "tier": card.tier,
        },
    }


def check_out_dir(out: str | Path, cfg, inputs: dict[str, Any]) -> None:
    """A rerun into ``out`` resumes the fit there, so it must be of the same dataset and ``diffusion`` section."""
    path = Path(out) / RUN_FILE
    if not path.is_file():
        return
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    if not isinstance(record, dict) or record.get("stage") != "fit":
        return
    old_dataset = record.get("dataset") if isinstance(record.get("dataset"), dict) else {}
    same_data = old_dataset.get("fingerprint") == inputs["dataset"]["fingerprint"]
    same_config = (record.get("config") or {}).get("diffusion") == cfg.diffusion.model_dump(mode="json")
    if not (same_data and same_config):
        what = "dataset" if not same_data else "diffusion config"
        raise ConfigError(f"{out} holds a fit of another {what}; use another --out")


def export_checkpoint(source_dir: str | Path, out: Path) -> dict[str, Any]:
    """Copy the final ``generator.pt`` to ``OUT/checkpoint/`` and its loss history to ``OUT/losses.csv``."""
    target = out / "checkpoint"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(source_dir) / CHECKPOINT_FILE, target / f".{CHECKPOINT_FILE}.tmp")
    (target / f".{CHECKPOINT_FILE}.tmp").replace(target / CHECKPOINT_FILE)
    payload = load_checkpoint(target)
    history = payload["history"]
    if history:
        with open(out / "losses.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(history[-1]))
            writer.writeheader()
            writer.writerows(history)
    return {
        "step": int(payload["step"]),
        "fingerprint": payload["fingerprint"],
        "checkpoint": str(target / CHECKPOINT_FILE),
        "final": history[-1] if history else {},
        "resumed_from": payload["resumed_from"],
    }

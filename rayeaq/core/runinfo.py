"""Self-describing run directories: resolved config, code version, seeds, inputs' fingerprints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

import rayeaq
from rayeaq.core.output import writing

RUN_FILE = "run.json"
CONFIG_FILE = "config.resolved.yaml"


@lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """Package version plus the git commit and whether the tree had uncommitted changes."""
    info: dict[str, Any] = {"package": rayeaq.__version__, "git_commit": None, "git_dirty": None}
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        info["git_commit"], info["git_dirty"] = commit, bool(dirty)
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def derive_seed(root: int, *path: str | int) -> int:
    """A 31-bit seed derived from ``root`` and a path of names/indices (stable across runs/machines)."""
    words = [root] + [_word(p) for p in path]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint32)[0] >> 1)


def _word(part: str | int) -> int:
    if isinstance(part, int):
        return part
    return int.from_bytes(part.encode("utf-8")[:16].ljust(16, b"\0"), "little") % (2**63)


class Dumpable(Protocol):
    """A config that dumps itself to plain data (every pydantic model; the stages' section Protocols)."""

    def model_dump(self, *, mode: str = ...) -> dict[str, Any]: ...


def write_run_info(out_dir: str | Path, config: Dumpable, stage: str, extra: dict[str, Any] | None = None) -> Path:
    """Write ``config.resolved.yaml`` and ``run.json`` (stage, argv, seed, code version, extras)."""
    import yaml

    out = Path(out_dir)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    resolved = config.model_dump(mode="json")
    tmp_config = out / f".{CONFIG_FILE}.tmp"
    with writing(out / CONFIG_FILE, tmp_config):
        tmp_config.write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
        os.replace(tmp_config, out / CONFIG_FILE)
    record = {
        "stage": stage,
        "argv": sys.argv,
        "seed": resolved.get("seed"),
        "code_version": code_version(),
        "python": sys.version.split()[0],
        "pid": os.getpid(),
        "config": resolved,
    }
    record.update(extra or {})
    previous = _read_record(out)
    if previous.get("resumes"):  # the history of accepted changes survives every rewrite
        record["resumes"] = previous["resumes"]
    return _write_record(out, record)


def record_resume(
    out_dir: str | Path, changes: dict[str, tuple[Any, Any]], allow_change: list[str] | tuple = ()
) -> None:
    """Append a resume with its accepted config changes to ``run.json``'s ``resumes`` list."""
    out = Path(out_dir)
    record = _read_record(out)
    entry = {
        "argv": sys.argv,
        "pid": os.getpid(),
        "code_version": code_version(),
        "allow_change": list(allow_change),
        "changed": {k: {"old": old, "new": new} for k, (old, new) in changes.items()},
    }
    record["resumes"] = list(record.get("resumes") or []) + [entry]
    _write_record(out, record)


def _read_record(out: Path) -> dict[str, Any]:
    try:
        record = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_record(out: Path, record: dict[str, Any]) -> Path:
    tmp = out / f".{RUN_FILE}.tmp"
    with writing(out / RUN_FILE, tmp):
        tmp.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, out / RUN_FILE)
    return out / RUN_FILE

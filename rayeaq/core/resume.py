"""A resume never mixes experiments: compare the stored run with the new one before continuing it.

A run directory holds ``config.resolved.yaml`` and ``run.json`` (:mod:`rayeaq.core.runinfo`). Before a
command continues the work in such a directory it calls :func:`check_resume` with the new resolved config:

- the same config and code version: resume;
- otherwise a one-line :class:`ConfigError` listing the changed keys (``fit.steps 100 -> 200``), unless every
  changed key matches an ``allow_change`` pattern (``tune.max_concurrent_trials``, ``ray.*``; a bare section
  name ``ray`` covers its keys). The accepted changes are returned; :func:`rayeaq.core.runinfo.record_resume`
  appends them to ``run.json`` (``resumes``).

Keys compared: every leaf of the resolved config (or of the listed ``sections``), ``code_version.package`` and
``code_version.git_commit`` (uncommitted edits are recorded in ``run.json``, not compared), and the stage's
``inputs`` (e.g. ``dataset.fingerprint``) against the same dotted keys in the stored ``run.json``.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rayeaq.core.errors import ConfigError
from rayeaq.core.runinfo import CONFIG_FILE, RUN_FILE, code_version

ABSENT = "<absent>"
"""Stands for a key that one side lacks."""
CODE_KEYS = ("package", "git_commit")
"""The parts of the code version a resume compares."""


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (lists and scalars are leaves)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (old, new) for every leaf that differs (:data:`ABSENT` where one side lacks it)."""
    a, b = flatten(old), flatten(new)
    return {
        k: (a.get(k, ABSENT), b.get(k, ABSENT)) for k in sorted(set(a) | set(b)) if a.get(k, ABSENT) != b.get(k, ABSENT)
    }


def allowed(key: str, patterns: Iterable[str]) -> bool:
    """Whether ``key`` matches a glob pattern (``ray.*``) or lies under a named section (``ray``)."""
    return any(key == p or key.startswith(p + ".") or fnmatch.fnmatchcase(key, p) for p in patterns)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def format_changes(changes: Mapping[str, tuple[Any, Any]]) -> str:
    """``a.b 1 -> 2, c absent -> 3`` on one line."""
    return ", ".join(f"{k} {_short(old)} -> {_short(new)}" for k, (old, new) in changes.items())


def stored_state(
    out_dir: str | Path, sections: Sequence[str] | None = None, inputs: Sequence[str] = ()
) -> dict[str, Any] | None:
    """The stored run's comparable state (flat), or None when ``out_dir`` holds no run."""
    import yaml

    out = Path(out_dir)
    if not (out / CONFIG_FILE).is_file():
        return None
    try:
        config = yaml.safe_load((out / CONFIG_FILE).read_text(encoding="utf-8")) or {}
        record = json.loads((out / RUN_FILE).read_text(encoding="utf-8")) if (out / RUN_FILE).is_file() else {}
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise ConfigError(
            f"{out / CONFIG_FILE}: cannot read the stored run to compare with ({err}); use another --out"
        ) from None
    if not isinstance(config, dict) or not isinstance(record, dict):
        raise ConfigError(f"{out / CONFIG_FILE}: expected a mapping; use another --out")
    flat_record = flatten(record)
    return _state(config, record.get("code_version") or {}, {k: flat_record.get(k, ABSENT) for k in inputs}, sections)


def _state(
    config: Mapping[str, Any], code: Mapping[str, Any], inputs: Mapping[str, Any], sections: Sequence[str] | None
) -> dict[str, Any]:
    flat = flatten(config)
    if sections is not None:
        flat = {k: v for k, v in flat.items() if allowed(k, sections)}
    flat.update({f"code_version.{k}": code.get(k) for k in CODE_KEYS})
    flat.update(inputs)
    return flat


def check_resume(
    out_dir: str | Path,
    config: Mapping[str, Any],
    allow_change: Sequence[str] = (),
    *,
    sections: Sequence[str] | None = None,
    inputs: Mapping[str, Any] | None = None,
    what: str = "run",
    required: bool = False,
) -> dict[str, tuple[Any, Any]] | None:
    """Compare ``out_dir``'s stored run with ``config`` (a resolved config dump); returns the accepted changes.

    None when ``out_dir`` holds no run (a fresh start; a :class:`ConfigError` instead when ``required``);
    ``{}`` when nothing changed. Raises a one-line :class:`ConfigError` listing the changed keys that no
    ``allow_change`` pattern covers.
    """
    inputs = dict(inputs or {})
    old = stored_state(out_dir, sections, list(inputs))
    if old is None:
        if required:
            raise ConfigError(
                f"{out_dir}: no {CONFIG_FILE} to compare the resumed {what} with; "
                "resume only a directory this tool wrote, or start afresh with another --out"
            )
        return None
    new = _state(config, code_version(), inputs, sections)
    changes = changed_keys(old, new)
    refused = {k: v for k, v in changes.items() if not allowed(k, allow_change)}
    if refused:
        keys = " ".join(refused)
        raise ConfigError(
            f"{out_dir} holds a {what} of another experiment, changed: {format_changes(refused)}; "
            f"rerun with the stored config ({Path(out_dir) / CONFIG_FILE}), use another --out, "
            f"or accept the change with --allow-change {keys}"
        )
    return changes

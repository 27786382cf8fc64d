"""Typed-config machinery: strict pydantic models, YAML loading, dotted overrides, one-line errors.

Every section of a run config is a :class:`StrictModel`: unknown keys, wrong types and values out of
range are errors. :func:`load_config` turns a YAML file plus ``key.path=value`` overrides into a
validated model, or raises :class:`ConfigError` whose message is one line naming the file (or the
command line), the key path and what was expected.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from rayeaq.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every config section: no unknown keys, validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"diffusion.horizon=32"`` -> (["diffusion", "horizon"], 32); the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"command line: override {text!r} is not of the form key.path=value")
    key, raw = text.split("=", 1)
    path = [part for part in key.strip().split(".")]
    if not all(path):
        raise ConfigError(f"command line: override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return path, value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> tuple[dict[str, Any], set[str]]:
    """Return a copy of ``data`` with the overrides applied and the set of overridden dotted keys."""
    data = copy.deepcopy(data)
    touched: set[str] = set()
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"command line: override {text!r}: {'.'.join(path[:-1])} is not a section")
            node = child
        node[path[-1]] = value
        touched.add(".".join(path))
    return data, touched


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a non-mapping is a :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections, got {type(data).__name__}")
    return data


def _describe_error(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected', '')}, got {err.get('input')!r}"
    expected = {
        "int_parsing": "an integer",
        "int_type": "an integer",
        "int_from_float": "an integer",
        "float_parsing": "a number",
        "float_type": "a number",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "string_type": "a string",
        "list_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "tuple_type": "a list",
    }.get(kind)
    if expected is not None:
        return f"expected {expected}, got {err.get('input')!r}"
    message = str(err.get("msg", "invalid value"))
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return f"{message} (got {err.get('input')!r})"


def format_validation_error(error: ValidationError, source: str, overridden: set[str]) -> str:
    """One line: ``SOURCE: key.path: what was expected[; and N more]``."""
    errors = error.errors()
    first = errors[0]
    loc = ".".join(str(part) for part in first["loc"]) or "<top level>"
    where = "command line" if any(loc == k or loc.startswith(k + ".") for k in overridden) else source
    line = f"{where}: {loc}: {_describe_error(first)}"
    if len(errors) > 1:
        line += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return line


def validate(model: type[M], data: dict[str, Any], source: str, overridden: set[str] | None = None) -> M:
    """Validate ``data`` into ``model``; raise :class:`ConfigError` with a one-line message."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source, overridden or set())) from None


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` laid over ``base``, merging nested mappings key by key."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(model: type[M], path: str | Path | None, overrides: Sequence[str] = ()) -> M:
    """Defaults, then the YAML at ``path`` (if any), then the overrides; validated.

    Mappings merge key by key, so ``collect.tier_bands.poor.epsilon=0.3`` changes one value and
    keeps the rest of the defaults.
    """
    data = deep_merge(model().model_dump(mode="python"), read_yaml(path) if path is not None else {})
    data, touched = apply_overrides(data, overrides)
    return validate(model, data, str(path) if path is not None else "defaults", touched)

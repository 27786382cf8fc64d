"""Import SMAX without ``import jaxmarl``.

``import jaxmarl`` loads every environment, probes optional packages, prints to stdout and costs
~0.5 GB. SMAX needs six files; registering empty parent packages first lets Python import just
those (~0.25 GB, ~0.7 s). If the full package is already imported, it is used as is.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

from rayeaq.core.errors import EnvUnavailableError


def _ensure_namespace(name: str, path: Path) -> None:
    if name in sys.modules:
        return
    module = types.ModuleType(name)
    module.__path__ = [str(path)]  # a package whose __init__ is never run
    sys.modules[name] = module


def load_smax() -> types.ModuleType:
    """Return the ``jaxmarl.environments.smax`` module (JAX on CPU unless JAX_PLATFORMS says otherwise)."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    _enable_compilation_cache()
    if "jaxmarl.environments.smax" in sys.modules:
        return sys.modules["jaxmarl.environments.smax"]
    spec = importlib.util.find_spec("jaxmarl")
    if spec is None or spec.origin is None:
        raise EnvUnavailableError("the SMAX backend needs the `jaxmarl` package: pip install 'jaxmarl>=0.2,<0.3'")
    root = Path(spec.origin).parent
    _ensure_namespace("jaxmarl", root)
    _ensure_namespace("jaxmarl.environments", root / "environments")
    import jaxmarl.environments.smax as smax

    return smax


def _enable_compilation_cache() -> None:
    """Persist XLA compilations across processes: each collector actor would otherwise spend
    ~10 s compiling the same scan. ``RAYEAQ_JAX_CACHE=off`` disables it."""
    directory = os.environ.get("RAYEAQ_JAX_CACHE", str(Path.home() / ".cache" / "rayeaq" / "jax"))
    if directory == "off":
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

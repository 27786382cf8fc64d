"""Import JaxMARL's MPE files without ``import jaxmarl`` (as :mod:`rayeaq.envs.smax.imports` does for SMAX).

``jaxmarl.environments.mpe.__init__`` imports a matplotlib visualiser and every scenario; we need three
files (``mpe/simple.py``, ``mpe/simple_spread.py``, ``mpe/simple_tag.py``) plus ``multi_agent_env.py`` and
``spaces.py``. Empty parent packages registered in ``sys.modules`` first let Python import just those.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import types
from pathlib import Path

from rayeaq.core.errors import EnvUnavailableError
from rayeaq.envs.smax.imports import _enable_compilation_cache, _ensure_namespace


def load_mpe() -> tuple[types.ModuleType, types.ModuleType, types.ModuleType]:
    """``(simple, simple_spread, simple_tag)`` modules of ``jaxmarl.environments.mpe`` (JAX on CPU by default)."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    _enable_compilation_cache()
    spec = importlib.util.find_spec("jaxmarl")
    if spec is None or spec.origin is None:
        raise EnvUnavailableError("the MPE backend needs the `jaxmarl` package: pip install 'jaxmarl>=0.2,<0.3'")
    root = Path(spec.origin).parent
    _ensure_namespace("jaxmarl", root)
    _ensure_namespace("jaxmarl.environments", root / "environments")
    _ensure_namespace("jaxmarl.environments.mpe", root / "environments" / "mpe")
    names = ("simple", "simple_spread", "simple_tag")
    simple, spread, tag = (importlib.import_module(f"jaxmarl.environments.mpe.{n}") for n in names)
    return simple, spread, tag

"""Import JaxMARL's MPE files without ``import jaxmarl`` (as :mod:`rayeaq.envs.smax.imports` does for SMAX).

``jaxmarl.environments.mpe.__init__`` imports a matplotlib visualiser and every scenario; we need three
files (``mpe/simple.py``, ``mpe/simple_spread.py``, ``mpe/simple_tag.py``) plus ``multi_agent_env.py`` and
``spaces.py``. Empty parent packages registered in ``sys.modules`` first let Python import just those.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types
from pathlib import Path

from rayeaq.core.errors import EnvUnavailableError
from rayeaq.envs.smax.imports import _enable_compilation_cache


def _jaxmarl_root() -> Path | None:
    """jaxmarl's directory, also when a stub package (ours or the SMAX loader's, which has no spec) is imported."""
    module = sys.modules.get("jaxmarl")
    if module is not None:
        return Path(next(iter(module.__path__)))
    spec = importlib.util.find_spec("jaxmarl")
    return None if spec is None or spec.origin is None else Path(spec.origin).parent


def _ensure_namespace(name: str, path: Path) -> None:
    """An empty package ``name`` at ``path`` whose ``__init__`` never runs, with a spec whose origin is the real
    ``__init__.py`` (so ``importlib.util.find_spec`` keeps working for the SMAX loader in the same process)."""
    if name in sys.modules:
        return
    module = types.ModuleType(name)
    module.__path__ = [str(path)]
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, origin=str(path / "__init__.py"), is_package=True)
    module.__spec__.submodule_search_locations = [str(path)]
    sys.modules[name] = module


def load_mpe() -> tuple[types.ModuleType, types.ModuleType, types.ModuleType]:
    """``(simple, simple_spread, simple_tag)`` modules of ``jaxmarl.environments.mpe`` (JAX on CPU by default)."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    _enable_compilation_cache()
    root = _jaxmarl_root()
    if root is None:
        raise EnvUnavailableError("the MPE backend needs the `jaxmarl` package: pip install 'jaxmarl>=0.2,<0.3'")
    _ensure_namespace("jaxmarl", root)
    _ensure_namespace("jaxmarl.environments", root / "environments")
    _ensure_namespace("jaxmarl.environments.mpe", root / "environments" / "mpe")
    names = ("simple", "simple_spread", "simple_tag")
    simple, spread, tag = (importlib.import_module(f"jaxmarl.environments.mpe.{n}") for n in names)
    return simple, spread, tag

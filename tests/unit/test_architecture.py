"""The package's shape: every import points down the layers of docs/ARCHITECTURE.md, module-level imports form
no cycle, and everything outside ``ray_*.py`` adapters (and the few modules named below) imports without Ray."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("rayeaq.core", "rayeaq")),
    ("data+envs", ("rayeaq.data", "rayeaq.envs")),
    ("methods", ("rayeaq.policies", "rayeaq.generators", "rayeaq.augmenters", "rayeaq.learners")),
    ("stages", ("rayeaq.stages", "rayeaq.sweep.config")),
    ("composition root", ("rayeaq.run_config",)),
    ("sweep", ("rayeaq.sweep",)),
    ("analysis", ("analysis",)),
    (
        "commands",
        (
            "rayeaq.cli",
            "rayeaq.collect",
            "rayeaq.fit",
            "rayeaq.augment",
            "rayeaq.evaluate",
            "rayeaq.tune",
            "rayeaq.report",
            "rayeaq.train_online",
            "rayeaq.data.__main__",
            "rayeaq.envs.sc2.check",
            "rayeaq.collect_mpe",
        ),
    ),
]
"""Bottom to top; a module belongs to the layer of its longest matching prefix."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    best, best_len = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    return best


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """The project modules ``path`` imports (``from a.b import c`` counts ``a.b.c`` when that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] in ("rayeaq", "analysis") and m in MODULES} - {module_name(path)}


SOURCES = sorted(p for d in ("rayeaq", "analysis") for p in (REPO / d).rglob("*.py") if "notebooks" not in p.parts)
MODULES = {module_name(p) for p in SOURCES}


def test_every_module_has_a_layer():
    assert [m for m in MODULES if layer_of(m) < 0] == []


def test_imports_point_down_the_layers():
    upward = []
    for path in SOURCES:
        here = module_name(path)
        for target in imports(path):
            if layer_of(target) > layer_of(here):
                upward.append(f"{here} ({LAYERS[layer_of(here)][0]}) -> {target} ({LAYERS[layer_of(target)][0]})")
    assert upward == [], "\n".join(upward)


def test_module_level_imports_have_no_cycle():
    graph = {module_name(p): imports(p, top_level_only=True) for p in SOURCES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


RAY_MODULES = ("rayeaq.core.ray_session", "rayeaq.core.dashboard")
"""Modules that are Ray by purpose without the ``ray_`` prefix (the session, the dashboard helper)."""


def test_everything_but_the_ray_adapters_imports_without_ray():
    """Every module outside ``ray_*.py`` imports with ``ray`` made unimportable (a fresh interpreter)."""
    names = sorted(
        m
        for m, p in zip(map(module_name, SOURCES), SOURCES, strict=True)
        if not p.name.startswith("ray_") and m not in RAY_MODULES and not m.startswith("analysis")
    )
    script = (
        "import importlib, sys\n"
        "class _NoRay:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ray' or name.startswith('ray.'):\n"
        "            raise ImportError('ray is not importable in this test')\n"
        "sys.meta_path.insert(0, _NoRay())\n"
        "bad = []\n"
        f"for name in {names!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as err:\n"
        "        bad.append(f'{name}: {err}')\n"
        "print('\\n'.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env={**__import__("os").environ, "JAX_PLATFORMS": "cpu"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == ""

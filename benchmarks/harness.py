"""Measurement rules shared by the benchmarks: warm-up apart, repeats with min / median / max, the two sides of a
ratio interleaved, and the machine printed with every result.

Every benchmark script builds a :class:`Report`, adds :class:`Figure` s (a measured figure and, where it is a
ratio, the reference it is divided by) and prints it; ``--json PATH`` also writes it for ``run_all.py``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "jax", "ray", "jaxmarl", "numpy", "pyarrow", "diffusers", "torchrl")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What a figure depends on: CPU model and count, load average now, thread settings, package versions."""
    versions = {}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    threads = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS") if k in os.environ}
    return {
        "date": datetime.date.today().isoformat(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "threads": threads,
        "packages": versions,
    }


@dataclass
class Stats:
    """Repeated measurements of one rate (units per second)."""

    values: list[float]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def text(self, unit: str) -> str:
        return f"{self.median:12,.1f} {unit} (min {self.min:,.1f}, max {self.max:,.1f}, n={len(self.values)})"


def rate(work: Callable[[], float], repeats: int, warmup: int = 1) -> tuple[Stats, float]:
    """``work()`` returns units done; returns (units/s over ``repeats`` timed calls, warm-up seconds)."""
    start = time.perf_counter()
    for _ in range(warmup):
        work()
    warm = time.perf_counter() - start
    values = []
    for _ in range(repeats):
        start = time.perf_counter()
        units = work()
        values.append(units / (time.perf_counter() - start))
    return Stats(values), warm


def paired(a: Callable[[], float], b: Callable[[], float], repeats: int, warmup: int = 1) -> tuple[Stats, Stats]:
    """Both sides of a ratio measured interleaved (a, b, a, b, ...), so that load changes hit both alike."""
    for _ in range(warmup):
        a()
        b()
    va, vb = [], []
    for _ in range(repeats):
        for work, out in ((a, va), (b, vb)):
            start = time.perf_counter()
            units = work()
            out.append(units / (time.perf_counter() - start))
    return Stats(va), Stats(vb)


def interleaved(works: list[Callable[[], float]], repeats: int, warmup: int = 1) -> list[Stats]:
    """:func:`paired` for any number of sides: each round runs every side once, in turn."""
    for _ in range(warmup):
        for work in works:
            work()
    values: list[list[float]] = [[] for _ in works]
    for _ in range(repeats):
        for work, out in zip(works, values, strict=True):
            start = time.perf_counter()
            units = work()
            out.append(units / (time.perf_counter() - start))
    return [Stats(v) for v in values]


@dataclass
class Process:
    """One command run as a process: its outcome, wall time and peak memory."""

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    peak_tree_rss: int
    """Peak over time of the summed RSS of the process and all its descendants (Ray's raylet, GCS and workers
    included), bytes; shared pages are counted once per process, so this is an upper bound."""
    peak_process_rss: int
    """Peak RSS of the largest single process of the tree, bytes."""


def run_process(
    args: list[str], cwd: str | Path | None = None, env: dict | None = None, every_s: float = 0.1
) -> Process:
    """Run ``args``, sampling the RSS of its process tree every ``every_s`` seconds (psutil)."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"tree": 0, "one": 0}

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                rss = []
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        rss.append(p.memory_info().rss)
                peak["tree"] = max(peak["tree"], sum(rss))
                peak["one"] = max([peak["one"], *rss])
            time.sleep(every_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    sampler.join()
    return Process(proc.returncode, out, err, wall, peak["tree"], peak["one"])


@dataclass
class Figure:
    name: str
    stats: Stats
    unit: str
    reference: str | None = None
    """Name of the figure this one is compared with (its ratio is printed)."""
    note: str = ""


@dataclass
class Report:
    """A benchmark's figures with the machine they were measured on."""

    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=machine)

    def add(self, name: str, stats: Stats, unit: str, reference: str | None = None, note: str = "") -> None:
        self.figures.append(Figure(name, stats, unit, reference, note))

    def ratio(self, name: str) -> float | None:
        figure = next(f for f in self.figures if f.name == name)
        if figure.reference is None:
            return None
        ref = next(f for f in self.figures if f.name == figure.reference)
        return figure.stats.median / ref.stats.median

    def text(self) -> str:
        m = self.machine
        lines = [
            f"## {self.title}",
            f"{m['date']} | {m['cpu']} x{m['cpus']} | load {m['load_average']} | "
            + ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
        ]
        width = max(len(f.name) for f in self.figures) if self.figures else 10
        for f in self.figures:
            ratio = self.ratio(f.name)
            extra = f"  = {ratio:.2f}x {f.reference}" if ratio is not None else ""
            lines.append(f"{f.name.ljust(width)}  {f.stats.text(f.unit)}{extra}{('  ' + f.note) if f.note else ''}")
        lines.extend(self.notes)
        return "\n".join(lines)

    def save(self, path: str | Path) -> None:
        data = {
            "title": self.title,
            "machine": self.machine,
            "notes": self.notes,
            "text": self.text(),
            "figures": [{**asdict(f), "stats": f.stats.values, "ratio": self.ratio(f.name)} for f in self.figures],
        }
        Path(path).write_text(json.dumps(data, indent=2), encoding="utf-8")

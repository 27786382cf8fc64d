"""Run every benchmark and rewrite the figures in ``benchmarks/RESULTS.md`` in one step.

    python benchmarks/run_all.py [--quick] [--only collect qmix ...]

Each benchmark script runs as its own process (``--json`` output, ``--quick`` for a sanity pass in minutes);
its printed report replaces the block between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` in
RESULTS.md (appended when the block does not exist yet), with the machine, load and date it ran on. The prose
around the blocks (what the figures mean) is kept.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("collect", "collect_startup", "memory", "diffusion", "qmix", "sweep")
"""Scripts in ``benchmarks/`` that accept ``--json PATH`` and ``--quick``."""


def block(name: str, text: str) -> str:
    return f"<!-- bench:{name} -->\n```\n{text.strip()}\n```\n<!-- /bench:{name} -->"


def rewrite(results: Path, name: str, text: str) -> None:
    content = results.read_text(encoding="utf-8") if results.is_file() else "# Benchmark results\n"
    pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
    new = block(name, text)
    content = pattern.sub(lambda _: new, content) if pattern.search(content) else content.rstrip() + "\n\n" + new + "\n"
    results.write_text(content, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats: a sanity pass")
    parser.add_argument("--only", nargs="*", default=list(BENCHMARKS), choices=BENCHMARKS)
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args()
    failed = []
    for name in args.only:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"{name}.json"
            command = [sys.executable, str(HERE / f"{name}.py"), "--json", str(out)] + (
                ["--quick"] if args.quick else []
            )
            print(f"run_all: {' '.join(command[1:])}", flush=True)
            proc = subprocess.run(command, text=True, capture_output=True)
            sys.stdout.write(proc.stdout)
            if proc.returncode != 0 or not out.is_file():
                failed.append(name)
                sys.stderr.write(proc.stderr[-3000:])
                continue
            report = json.loads(out.read_text(encoding="utf-8"))
            rewrite(Path(args.results), name, report["text"])
    if failed:
        print(f"run_all: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

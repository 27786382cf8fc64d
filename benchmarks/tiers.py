"""Do the quality tiers mean what they say? Collect the tiers, train BC on each, compare win rates.

The same check as ``python -m rayeaq.collect CONFIG --out DIR --check-tiers``; this script can also check tiers
collected before (``--datasets``) without collecting.

    python benchmarks/tiers.py tune_configs/collect_3m.yaml --out results/tiers/3m [key=value ...]
    ... evaluate.updates=3000 evaluate.final_eval_episodes=320     (the budget of each BC run)
    ... --datasets results/datasets/3m                             (check tiers collected before; no collection)

Writes ``OUT/datasets/<tier>`` (unless ``--datasets``), ``OUT/check/bc_<tier>/`` and ``OUT/check/tiers.{json,md}``,
prints the table and exits 1 when a check fails (BC on poor above the poor band + 0.15, BC on good below the
good band). The BC budget is the config's ``evaluate`` section (its defaults when absent; ``algorithm`` is forced to bc).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def main(argv: list[str] | None = None) -> int:
    from rayeaq.core.ray_session import ray_session
    from rayeaq.run_config import load_run_config
    from rayeaq.stages.collect.check import check_tiers, markdown, verdicts
    from rayeaq.stages.collect.driver import collect_all

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--datasets", type=Path, default=None, help="tiers collected before (skip collection)")
    args = parser.parse_intermixed_args(argv)
    cfg = load_run_config(args.config, args.overrides)
    start = time.perf_counter()
    with ray_session(cfg.ray):
        datasets = args.datasets
        if datasets is None:
            datasets = args.out / "datasets"
            collect_all(cfg, datasets)
        collected = time.perf_counter()
        rows = check_tiers(cfg, datasets, args.out / "check")
    print(markdown(rows), end="")
    print(f"collect {collected - start:.0f} s, BC {time.perf_counter() - collected:.0f} s -> {args.out / 'check'}")
    return 0 if all(verdicts(rows).values()) else 1


if __name__ == "__main__":
    sys.exit(main())

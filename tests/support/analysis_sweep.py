"""A real tiny ``rayeaq.tune`` sweep shared by the analysis tests (tests/e2e/test_analysis_loader.py, test_report.py).

The quickstart config with budgets cut to the bone: SMAX 3m medium tier, augmenters none / eaq / eaq_noq,
seeds 0 and 1 (6 trials), synthetic shards kept for the t-SNE. It runs once per test session through the
sweep's own CLI entry point (``rayeaq.tune.main``) inside the session's Ray (the ``ray_local`` fixture);
both test modules call :func:`tiny_sweep`, which memoises the directory.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "tune_configs" / "quickstart.yaml"


AUGMENTERS = ("none", "eaq", "eaq_noq")
SEEDS = (0, 1)
HORIZON = 8
"""The generator's horizon in the tiny sweep (a 10-step fit keeps its samples valid over 8 rows)."""
UPDATES, EVAL_INTERVAL = 20, 10
TINY = [
    f"tune.space={{augment.augmenter: {{grid_search: [{', '.join(AUGMENTERS)}]}}, "
    f"seed: {{grid_search: [{', '.join(map(str, SEEDS))}]}}}}",
    "tune.keep_synthetic=true",
    "collect.episodes=48",
    "collect.shard_episodes=48",
    "collect.envs_per_worker=32",
    "collect.tier_bands.medium.epsilon=0.1",  # fixed ε: no calibration
    f"diffusion.horizon={HORIZON}",
    "diffusion.q_weight=0.1",  # the tests expect λ = 0.1 (not the quickstart's guidance scale)
    "diffusion.n_diffusion_steps=10",
    "fit.steps=10",
    "fit.report_every=5",
    "fit.checkpoint_every=10",
    "augment.sampling_steps=3",
    "augment.fidelity_samples=50",
    "augment.batch_size=64",
    f"evaluate.updates={UPDATES}",
    f"evaluate.eval_interval={EVAL_INTERVAL}",
    "evaluate.eval_episodes=8",
    "evaluate.final_eval_episodes=16",
    "evaluate.eval_envs=8",
    "evaluate.batch_size=8",
    "evaluate.checkpoint=false",
]

_made: dict[str, Path] = {}


def tiny_sweep(tmp_path_factory) -> Path:
    """The results directory of the tiny sweep (run on first call; needs Ray initialised by ``ray_local``)."""
    if "dir" not in _made:
        from rayeaq.tune import main

        out = tmp_path_factory.mktemp("analysis_sweep") / "sweep"
        code = main([str(CONFIG), "--out", str(out), *TINY])
        if code != 0:
            import csv

            with (out / "summary.csv").open(newline="") as f:
                errors = [f"{r['trial']}: {r['error']}" for r in csv.DictReader(f) if r["status"] != "TERMINATED"]
            raise AssertionError(f"the tiny sweep exited with {code}; failed trials: {errors}")
        _made["dir"] = out
    return _made["dir"]

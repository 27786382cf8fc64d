"""An OG-MARL vault through the whole pipeline, as a user without StarCraft II runs it: ``rayeaq.data
import-vault`` -> ``rayeaq.fit`` -> ``rayeaq.augment`` -> ``rayeaq.evaluate``. The vault is built with flashbax's
own API from real SMAX 3m episodes; its dataset says ``backend: sc2`` (OG-MARL's SMAC), so evaluation has no
simulator here: one line says so and the offline metrics (held-out TD loss and BC accuracy) are reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flashbax")

from rayeaq.data.reader import load_dataset
from support.og_marl import build_vault, og_marl_rows

REPO = Path(__file__).resolve().parents[2]
LIMIT = 20
TINY_FIT = [
    "diffusion.layout=paper",  # state layout needs SMAX to compute the derived channels; sc2 data has none
    "diffusion.horizon=16",
    "diffusion.dim=8",
    "diffusion.dim_mults=[1,2]",
    "diffusion.groups=4",
    "diffusion.n_diffusion_steps=10",
    "fit.steps=20",
    "fit.batch_size=8",
    "fit.report_every=10",
    "fit.checkpoint_every=20",
    "fit.workers=1",
    "fit.cpus_per_worker=0.9",
]
TINY_EVALUATE = [
    "evaluate.updates=20",
    "evaluate.batch_size=8",
    "evaluate.hidden_dim=16",
    "evaluate.eval_interval=10",
    "evaluate.checkpoint=false",
]


def _run(env: dict[str, str], module: str, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=600, env=env, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_an_imported_vault_goes_through_fit_augment_and_evaluate(tmp_path):
    from rayeaq.envs.smax.env import SMAXEnv
    from rayeaq.stages.collect.smac_loop import play

    env = SMAXEnv("3m", LIMIT)
    ids = np.arange(24)
    batch = play(env, env.spec, 500 + ids, 0.3).to_batch(ids, 500 + ids, "vault-maker")
    vault = build_vault(og_marl_rows(batch), tmp_path / "vaults", uid="Medium")
    run_env = {**os.environ, "SC2PATH": str(tmp_path / "no-game")}
    data = tmp_path / "imported"
    _run(run_env, "rayeaq.data", "import-vault", str(vault), "--map", "3m", "--tier", "medium", "--out", str(data),
         "--episode-limit", str(LIMIT))  # fmt: skip
    imported = load_dataset(data)
    assert imported.card.backend == "sc2" and imported.card.generation["origin"] == "og-marl"
    assert len(imported.episodes) == 24

    config = "tune_configs/fit_3m.yaml"
    _run(run_env, "rayeaq.fit", config, *TINY_FIT, "--dataset", str(data), "--out", str(tmp_path / "fit"))
    _run(run_env, "rayeaq.augment", config, *TINY_FIT, "--dataset", str(data), "--checkpoint", str(tmp_path / "fit"),
         "--out", str(tmp_path / "aug"), "augment.augmenter=eaq", "augment.drop_illegal=false",
         "augment.num_episodes=24", "augment.workers=1", "augment.sampling_steps=4")  # fmt: skip
    synthetic = load_dataset(tmp_path / "aug")
    assert synthetic.card.backend == "sc2" and synthetic.card.source == "synthetic" and len(synthetic.episodes) > 0

    proc = _run(run_env, "rayeaq.evaluate", "tune_configs/evaluate_3m.yaml", *TINY_EVALUATE, "--dataset", str(data),
                "--dataset", f"{tmp_path / 'aug'}:1", "--out", str(tmp_path / "eval"))  # fmt: skip
    said = [line for line in proc.stdout.splitlines() if "greedy episodes skipped" in line]
    assert len(said) == 1 and "SC2PATH" in said[0] and str(tmp_path / "no-game") in said[0]
    assert "offline only" in proc.stdout.strip().splitlines()[-1]
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["offline_only"] and "SC2PATH" in summary["simulator_missing"] and "win_rate" not in summary
    assert 0.0 <= summary["heldout_bc_accuracy"] <= 1.0 and np.isfinite(summary["heldout_td_loss"])
    assert summary["heldout_episodes"] >= 1 and summary["dataset_episodes"] > len(imported.episodes) * 0.8
    rows = [json.loads(line) for line in (tmp_path / "eval" / "metrics.jsonl").read_text().splitlines()]
    assert [r["updates"] for r in rows] == [10, 20] and all("heldout_bc_accuracy" in r for r in rows)
    assert not (tmp_path / "eval" / "marl_eval.json").exists()

"""``env.backend=sc2`` end to end through the commands, as a user with the game runs them, with the real SMAX
simulator standing in for StarCraft II (``tests/support/smac_standin``: ``smac.env.StarCraft2Env`` over SMAX,
SMAC's API and conventions). Everything of ours runs — the sc2 backend, ``SC2Env``, the SMAC-API collector
actors, tier calibration, shards, the card, greedy rollouts in a rollout actor — except the game itself.
Without the game: collection is a one-line error naming SC2PATH (exit 2) and evaluation reports offline metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rayeaq.data.reader import load_dataset
from rayeaq.stages.collect.core import episode_seeds

REPO = Path(__file__).resolve().parents[2]
STANDIN = REPO / "tests" / "support" / "smac_standin"
SEED, LIMIT, EPISODES = 5, 60, 16

COLLECT = f"""
seed: {SEED}
env: {{backend: sc2, map: 3m}}
collect:
  episodes: {EPISODES}
  tiers: [medium]
  tier_bands: {{medium: {{win_rate: [0.2, 0.5]}}}}
  policy: {{kind: heuristic_mix}}
  calibration_episodes: 8
  cpus_per_worker: 0.5
  shard_episodes: 4
ray: {{num_cpus: 4}}
"""
EVALUATE = """
seed: 3
evaluate:
  algorithm: qmix
  updates: 20
  batch_size: 8
  hidden_dim: 16
  eval_interval: 10
  eval_episodes: 2
  final_eval_episodes: 2
  rollout_workers: 1
  checkpoint: false
ray: {num_cpus: 4}
"""


def _env(sc2path: Path, standin: bool = True) -> dict[str, str]:
    paths = [str(STANDIN)] if standin else []
    paths += [str(REPO), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "SC2PATH": str(sc2path), "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def _run(env: dict[str, str], module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=600, env=env, cwd=REPO
    )


@pytest.fixture(scope="module")
def game(tmp_path_factory) -> Path:
    """An SC2PATH that passes the game check (``Versions/``); the stand-in plays the battles."""
    path = tmp_path_factory.mktemp("StarCraftII")
    (path / "Versions").mkdir()
    return path


@pytest.mark.slow
def test_collect_sc2_with_one_and_two_workers_then_evaluate_greedily(game, tmp_path):
    config = tmp_path / "collect.yaml"
    config.write_text(COLLECT)
    cards = {}
    for workers in (1, 2):
        proc = _run(
            _env(game),
            "rayeaq.collect",
            str(config),
            f"collect.workers={workers}",
            "--out",
            str(tmp_path / f"w{workers}"),
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.strip().splitlines()[-1].startswith(f"collected {EPISODES} episodes")
        cards[workers] = json.loads((tmp_path / f"w{workers}" / "medium" / "card.json").read_text())
    card = cards[1]
    assert card["fingerprint"] == cards[2]["fingerprint"]  # the same episodes whatever the number of actors
    assert card["backend"] == "sc2" and card["max_return"] == 20.0 and card["reward_scale"].startswith("smac:")
    # tier calibration ran on the actors: the ε-mixture's own win rate falls as ε grows; the tier is in its band
    table = json.loads((tmp_path / "w1" / "medium" / "calibration.json").read_text())["table"]
    wins = [row["win_rate"] for row in table]
    assert wins[0] > wins[-1] and wins[0] >= 0.5 and wins[-1] == 0.0
    assert card["quality"]["band_met"] and 0.2 <= card["quality"]["own_win_rate"] <= 0.5

    ep = load_dataset(tmp_path / "w1" / "medium").episodes
    assert ep.episode_id.tolist() == list(range(EPISODES))
    np.testing.assert_array_equal(ep.seed, episode_seeds(SEED, "medium", np.arange(EPISODES)))
    assert ep.obs.shape[1] == LIMIT + 1 and ep.state.shape[-1] == 48 and ep.avail_actions.shape[-1] == 9
    rows = np.arange(ep.max_seq_len)[None, :]
    np.testing.assert_array_equal(ep.filled, rows < ep.length[:, None])
    taken = np.take_along_axis(ep.avail_actions, ep.actions[..., None], axis=-1)[..., 0]
    assert taken[ep.filled].all()  # every action taken was legal for its agent (SMAC's layout: 0 = no-op)
    last = ep.length - 1
    ends = ep.terminated[np.arange(len(ep)), last]
    assert ep.terminated.sum() == ends.sum()  # terminated only on an episode's last step
    assert (ends == (ep.length < LIMIT)).all()  # a battle outcome before the limit; never on the time limit
    assert ep.avail_actions[np.arange(len(ep)), ep.length].any(axis=-1).all()  # the terminal row is observed
    # battle_won, independently: every enemy's health (SMAC state: allies 3 x 4, then enemies 3 x 3) is 0
    enemy_health = ep.state[np.arange(len(ep)), ep.length][:, [12, 15, 18]]
    np.testing.assert_array_equal(ep.battle_won, (enemy_health == 0).all(axis=1) & ends)
    np.testing.assert_allclose(ep.episode_return, (ep.reward * ep.filled).sum(axis=1), rtol=1e-6)
    assert 0 < ep.battle_won.mean() < 1

    evaluate = tmp_path / "evaluate.yaml"
    evaluate.write_text(EVALUATE)
    proc = _run(_env(game), "rayeaq.evaluate", str(evaluate), "--dataset", str(tmp_path / "w1" / "medium"), "--out",
                str(tmp_path / "eval"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["episodes"] == 2 and 0.0 <= summary["win_rate"] <= 1.0 and summary["return_mean"] > 0
    assert 1 <= summary["episode_length_mean"] <= LIMIT and "simulator_missing" not in summary
    assert (tmp_path / "eval" / "marl_eval.json").is_file()


def test_collect_sc2_without_the_game_is_one_line_naming_sc2path(tmp_path):
    config = tmp_path / "collect.yaml"
    config.write_text(COLLECT)
    proc = _run(_env(tmp_path / "nowhere", standin=False), "rayeaq.collect", str(config), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert "\n" not in line and "SC2PATH" in line and str(tmp_path / "nowhere") in line and "pip install" in line
    assert not (tmp_path / "o").exists()  # nothing written
    graded = _run(
        _env(tmp_path / "nowhere", standin=False),
        "rayeaq.collect",
        str(config),
        "collect.policy.kind=graded",
        "--out",
        str(tmp_path / "o"),
    )
    assert graded.returncode == 2 and "SMAC's API" in graded.stderr and "\n" not in graded.stderr.strip()

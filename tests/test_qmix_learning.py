"""Learning on real SMAX data: offline QMIX(+CQL) beats the random policy, BC gets near the dataset's own level.

Measured (2-core CPU shared with other test runs, seed 0, 600-episode good-tier 3m fixture, dataset win
rate ~0.6, random policy: 0 % wins, return 0.18 of 2.0): see the comments next to each assertion.
"""

from __future__ import annotations

import json

import pytest

from rayeaq.run_config import load_run_config

RANDOM_WIN_RATE = 0.0  # uniform legal actions on 3m: 0 % wins in 128 episodes, mean return 0.176
RANDOM_RETURN = 0.176


def _run(tmp_path, dataset, *overrides):
    from rayeaq.stages.evaluate import run_evaluation

    cfg = load_run_config(
        "tune_configs/evaluate_3m.yaml",
        [
            "evaluate.eval_interval=100000",
            "evaluate.final_eval_episodes=64",
            "evaluate.checkpoint=false",
            *overrides,
        ],
    )
    return run_evaluation(cfg, [(str(dataset), 1.0)], tmp_path)


@pytest.mark.slow
def test_offline_qmix_cql_beats_random_and_bc_nears_the_dataset(ray_local, real_3m_dataset, tmp_path):
    card = json.loads((real_3m_dataset / "card.json").read_text())
    data_win = card["stats"]["win_rate"]

    qmix = _run(tmp_path / "qmix", real_3m_dataset, "evaluate.updates=1000", "evaluate.cql_weight=1.0")
    print("qmix+cql", qmix)
    # Measured on this fixture: win rate 0.625, return 1.55 (64 episodes, 1000 updates); on a 1000-episode
    # good set 0.69-0.72 / 1.61-1.66 (1000-2000 updates); random: 0.0 / 0.18. Thresholds with a wide margin.
    # (Plain QMIX, cql_weight=0, reached only 0.9 % wins / return 0.28 after 3000 updates on that set:
    # the heuristic data has one action per state, so the max in the target extrapolates.)
    assert qmix["win_rate"] >= RANDOM_WIN_RATE + 0.3
    assert qmix["return_mean"] >= RANDOM_RETURN + 0.6
    assert qmix["dataset_win_rate"] == pytest.approx(data_win)

    bc = _run(tmp_path / "bc", real_3m_dataset, "evaluate.updates=500", "evaluate.algorithm=bc")
    print("bc", bc)
    # Measured on this fixture: BC 0.578 vs the dataset's 0.622 (normalized return 0.745 vs 0.779); on the
    # 1000-episode set 0.59-0.66 vs 0.64. Near = within 0.2 win rate / 0.15 normalized return of the data.
    assert bc["win_rate"] >= data_win - 0.2
    assert bc["normalized_return"] >= bc["dataset_normalized_return"] - 0.15

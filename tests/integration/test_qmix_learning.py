"""Learning on real SMAX data: offline QMIX(+CQL) beats the random policy, BC gets near the dataset's own level,
and on a good + poor mixture of two scripted policies the default learner beats BC (TD learning, not imitation).

Measured (2-core CPU shared with other test runs, seed 0, 600-episode good-tier 3m fixture, dataset win
rate ~0.6, random policy: 0 % wins, return 0.18 of 2.0): see the comments next to each assertion.
"""

from __future__ import annotations

import json

import pytest

from rayeaq.run_config import load_run_config

RANDOM_WIN_RATE = 0.0  # uniform legal actions on 3m: 0 % wins in 128 episodes, mean return 0.176
RANDOM_RETURN = 0.176


def _run(tmp_path, dataset, *overrides, sources=None, report=None):
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
    return run_evaluation(cfg, sources or [(str(dataset), 1.0)], tmp_path, report=report)


@pytest.mark.slow
def test_offline_qmix_cql_beats_random_and_bc_nears_the_dataset(ray_local, real_3m_dataset, tmp_path):
    card = json.loads((real_3m_dataset / "card.json").read_text())
    data_win = card["stats"]["win_rate"]

    qmix = _run(tmp_path / "qmix", real_3m_dataset, "evaluate.updates=1000", "evaluate.cql.weight=1.0")
    print("qmix+cql", qmix)
    # Measured on this fixture: win rate 0.625, return 1.55 (64 episodes, 1000 updates, reward scale 1); with
    # reward_scale auto (= 10, since issue 12) 0.500 [Wilson 0.381, 0.619], return 1.39; on a 1000-episode
    # good set 0.69-0.72 / 1.61-1.66 (1000-2000 updates); random: 0.0 / 0.18. Thresholds with a wide margin.
    # (Plain QMIX, cql.weight=0, reached only 0.9 % wins / return 0.28 after 3000 updates on that set:
    # the heuristic data has one action per state, so the max in the target extrapolates.) The defaults since
    # issue 12 (joint term + TD(lambda = 0.8)): 0.484 [0.366, 0.604], return 1.36; agent term + TD(0.8): 0.375.
    assert qmix["win_rate"] >= RANDOM_WIN_RATE + 0.2
    assert qmix["return_mean"] >= RANDOM_RETURN + 0.6
    assert qmix["dataset_win_rate"] == pytest.approx(data_win)

    bc = _run(tmp_path / "bc", real_3m_dataset, "evaluate.updates=500", "evaluate.algorithm=bc")
    print("bc", bc)
    # Measured on this fixture: BC 0.578 vs the dataset's 0.622 (normalized return 0.745 vs 0.779); on the
    # 1000-episode set 0.59-0.66 vs 0.64. Near = within 0.2 win rate / 0.15 normalized return of the data.
    assert bc["win_rate"] >= data_win - 0.2
    assert bc["normalized_return"] >= bc["dataset_normalized_return"] - 0.15


@pytest.fixture(scope="module")
def good_and_retreat(tmp_path_factory):
    """focus_team and retreat on 3m, noise 0.05, 300 episodes each (root seeds not used when tuning the defaults)."""
    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.policies.config import PolicyConfig
    from rayeaq.policies.members import scripted
    from rayeaq.stages.collect.config import CollectConfig
    from rayeaq.stages.collect.core import collect_local

    root = tmp_path_factory.mktemp("good_and_retreat")
    for name, seed in (("focus_team", 2027), ("retreat", 2028)):
        cfg = CollectConfig(episodes=300, tiers=[], policy=PolicyConfig(kind=name, noise=0.05))
        collect_local(
            smax_spec("3m"), root / name, 300, root_seed=seed, tier=name, cfg=cfg, candidate=scripted(name, 0.05)
        )
    return root / "focus_team", root / "retreat"


@pytest.mark.slow
def test_the_default_learner_beats_bc_on_a_good_plus_poor_mixture(ray_local, good_and_retreat, tmp_path):
    """Good data (focus_team, ~0.5 wins) is a quarter of the mixture, the rest retreats (0 wins, return 0).

    BC imitates the mixture's majority and retreats; an offline RL learner must carry the good episodes' returns
    back to the first steps, where the two policies part (approach or retreat), so it fails without TD."""
    good, poor = good_and_retreat
    sources = [(str(good), 1.0), (str(poor), 3.0)]
    rows: list[dict] = []
    default = _run(tmp_path / "default", None, "seed=5", "evaluate.updates=1000", sources=sources, report=rows.append)
    bc = _run(tmp_path / "bc", None, "seed=5", "evaluate.updates=500", "evaluate.algorithm=bc", sources=sources)
    print("default", default, "\nbc", bc)
    # Measured on the benchmark's data (seeds 0-2, 128 episodes): default 0.461-0.516 wins, return 1.33-1.43
    # (agent term + TD(0.8): 0.125-0.477); BC 0 wins, return 0 on every seed (benchmarks/RESULTS.md, issue 12).
    # Here (seed 5, 64 episodes): default 0.438 [0.323, 0.559], return 1.33 [1.18, 1.48]; BC 0.000, return 0.00
    # (the agent term + TD(0.8) gave 0.328 here). Returns (of 2.0) must be apart by a
    # clear margin; win rates vary much more over seeds, so only a smaller margin there.
    assert default["return_ci95_low"] > bc["return_ci95_high"] + 0.4
    assert default["win_rate"] >= bc["win_rate"] + 0.05
    learner_rows = [r for r in rows if "win_rate" not in r]  # the learner's losses, reported between evaluations
    assert [r["updates"] for r in learner_rows] == list(range(100, 1000, 100))
    assert all("td_loss" in r for r in learner_rows) and "win_rate" in rows[-1]

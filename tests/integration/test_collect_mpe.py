"""``python -m rayeaq.collect`` on ``env.backend: mpe``: the OMAR/D4RL tiers of ``collect.mpe`` land in their
normalized-score places (random ≈ 0, expert ≈ 100, medium in its band or ``band_met: false``), every card records
the reference returns, and a discrete-action kind is refused on MPE with one line; MPE policies are registry members."""

from __future__ import annotations

import json

import pytest

from rayeaq.data.card import read_card


def test_mpe_policies_are_registry_members():
    from rayeaq.core.errors import ConfigError
    from rayeaq.policies import POLICIES, box_policy_names, load_box_policy

    assert set(box_policy_names()) == {"random", "expert", "noisy_expert"}
    assert callable(load_box_policy("noisy_expert", "omar_spread", sigma=0.1))
    with pytest.raises(ConfigError, match="discrete actions"):
        load_box_policy("focus_team", "omar_spread")
    with pytest.raises(ConfigError, match="box-action"):
        POLICIES.get("expert").candidates(None, None, None)  # type: ignore[arg-type]


@pytest.mark.slow
def test_collect_stage_writes_the_omar_tiers(tmp_path, capsys):
    from rayeaq.collect import main

    out = tmp_path / "mpe"
    code = main(
        [
            "tune_configs/collect_mpe.yaml",
            "collect.episodes=64",
            "collect.calibration_episodes=64",
            "collect.mpe.tiers=[random, medium, expert]",
            "collect.mpe.calibration_steps=6",
            "collect.mpe.chunk=64",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert "win rate n/a" in capsys.readouterr().out
    cards = {tier: read_card(out / tier) for tier in ("random", "medium", "expert")}
    score = {tier: card.stats.normalized_score for tier, card in cards.items()}
    assert abs(score["random"]) < 15 and abs(score["expert"] - 100) < 10, score
    medium = cards["medium"].quality
    assert medium["band_met"] == (40 <= score["medium"] <= 60), (score, medium)  # judged on the written data
    assert isinstance(medium["calibration_band_met"], bool) and medium["calibrated_score"] is not None
    assert cards["random"].quality["band_met"] is None and cards["expert"].quality["band_met"] is None
    assert all(c.reference_returns == cards["random"].reference_returns for c in cards.values())
    assert cards["expert"].action_space == {"kind": "box", "dim": 2, "low": -1.0, "high": 1.0}
    run = json.loads((out / "run.json").read_text())
    assert set(run["dataset_fingerprints"]) == {"random", "medium", "expert"}


def test_medium_band_met_is_judged_on_the_written_data():
    """A medium tier whose calibration met the band but whose written episodes score 38.4 says band_met False."""
    import numpy as np

    from rayeaq.stages.collect.mpe_tiers import written_band_met
    from support.box_episodes import box_batch

    reference = {"random": 0.0, "expert": 100.0}
    batch = box_batch(4)
    for target, met in ((38.4, False), (40.0, True), (55.0, True), (60.5, False)):
        batch.episode_return[:] = np.float32(target)
        assert written_band_met("medium", batch, (40.0, 60.0), reference) is met, target
    assert written_band_met("expert", batch, (40.0, 60.0), reference) is None

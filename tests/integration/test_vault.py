"""OG-MARL vaults: a vault built with flashbax's own buffer + Vault API from real SMAX episodes (played
through SMAC's API) is imported with identical arrays, exported back so flashbax reads identical arrays,
and a vault of another layout is a one-line error naming the missing field."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("flashbax")

from rayeaq.core.errors import DatasetError
from rayeaq.data.reader import load_dataset
from rayeaq.data.vault import export_vault, import_vault
from support.og_marl import build_vault as _build_vault
from support.og_marl import og_marl_rows as _og_marl_rows

N_EPISODES = 8
LIMIT = 12


@pytest.fixture(scope="module")
def smax_episodes():
    """Real SMAX 3m episodes (ε = 0.5 heuristic mixture, a 12-step limit so some are truncated) played through
    SMAC's API, with their spec."""
    from rayeaq.envs.smax.env import SMAXEnv
    from rayeaq.stages.collect.smac_loop import play

    env = SMAXEnv("3m", LIMIT)
    ids = np.arange(N_EPISODES)
    seeds = 1000 + ids
    batch = play(env, env.spec, seeds, 0.5).to_batch(ids, seeds, "test")
    ended = batch.terminated.any(axis=1)
    assert ended.any() and (~ended).any()  # both battle outcomes and time-limit truncations are covered
    return batch, env.spec


def _read(vault_dir, uid):
    from flashbax.vault import Vault

    with contextlib.redirect_stdout(io.StringIO()):
        exp = Vault(vault_name=vault_dir.name, rel_dir=str(vault_dir.parent), vault_uid=uid).read().experience
    return {
        "observations": exp["observations"],
        "actions": exp["actions"],
        "rewards": exp["rewards"],
        "terminals": exp["terminals"],
        "truncations": exp["truncations"],
        "state": exp["infos"]["state"],
        "legals": exp["infos"]["legals"],
    }


def test_import_gives_identical_arrays_and_export_reads_back_identical(smax_episodes, tmp_path):
    batch, _ = smax_episodes
    rows = _og_marl_rows(batch)
    vault_dir = _build_vault(rows, tmp_path / "vaults")
    card = import_vault(vault_dir, "3m", "medium", tmp_path / "imported", episode_limit=LIMIT)
    assert card.backend == "sc2" and card.map == "3m" and card.tier == "medium"
    assert card.generation["origin"] == "og-marl" and card.generation["vault_uid"] == "Medium"
    assert card.max_return == 20.0 and card.reward_scale.startswith("og-marl")
    ep = load_dataset(tmp_path / "imported").episodes
    assert len(ep) == N_EPISODES and card.stats.transitions == rows["observations"].shape[0]
    # import -> identical arrays, row by row, and the same episode boundaries and terminal flags
    np.testing.assert_array_equal(ep.length, batch.length)
    keep = ep.filled
    np.testing.assert_array_equal(ep.obs[keep], rows["observations"])
    np.testing.assert_array_equal(ep.state[keep], rows["state"])
    np.testing.assert_array_equal(ep.actions[keep], rows["actions"])
    np.testing.assert_array_equal(ep.avail_actions[keep], rows["legals"] > 0)
    np.testing.assert_array_equal(ep.reward[keep], rows["rewards"][:, 0])
    np.testing.assert_array_equal(ep.terminated, batch.terminated)
    np.testing.assert_array_equal(ep.episode_return, batch.episode_return)
    # export -> flashbax reads back the vault's own arrays
    target = export_vault(tmp_path / "imported", tmp_path / "exported")
    assert target == (tmp_path / "exported" / "3m.vlt" / "Medium").resolve()
    back = _read(target.parent, "Medium")
    for name, values in rows.items():
        np.testing.assert_array_equal(np.asarray(back[name])[0], values, err_msg=name)


def test_export_of_a_collected_dataset_round_trips(smax_episodes, tmp_path):
    from rayeaq.data.writer import write_dataset

    batch, spec = smax_episodes
    write_dataset(tmp_path / "ours", batch, spec, shard_episodes=3, source="real", tier="poor")
    target = export_vault(tmp_path / "ours", tmp_path / "vaults")
    back = _read(target.parent, target.name)
    rows = _og_marl_rows(batch)
    for name, values in rows.items():
        np.testing.assert_array_equal(np.asarray(back[name])[0], values, err_msg=name)
    import_vault(target.parent, "3m", "poor", tmp_path / "again", episode_limit=LIMIT)
    again = load_dataset(tmp_path / "again").episodes
    keep = batch.filled
    for name in ("obs", "state", "avail_actions", "actions", "reward", "terminated", "filled", "length"):
        np.testing.assert_array_equal(
            getattr(again, name)[keep] if name != "length" else again.length,
            getattr(batch, name)[keep] if name != "length" else batch.length,
            err_msg=name,
        )
    # the vault has no terminal observation: row `length` repeats the last step (as the card says)
    k = np.arange(len(batch))
    np.testing.assert_array_equal(again.obs[k, again.length], again.obs[k, again.length - 1])


def test_a_vault_of_another_layout_is_a_one_line_error_naming_the_missing_field(smax_episodes, tmp_path):
    batch, _ = smax_episodes
    vault_dir = _build_vault(_og_marl_rows(batch), tmp_path / "vaults", drop="legals")
    with pytest.raises(DatasetError, match=r"field infos\.legals: missing") as err:
        import_vault(vault_dir, "3m", "medium", tmp_path / "out")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_cli_import_and_its_exit_2_on_a_bad_vault(smax_episodes, tmp_path):
    batch, _ = smax_episodes
    vault_dir = _build_vault(_og_marl_rows(batch), tmp_path / "vaults")
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "rayeaq.data",
            "import-vault",
            str(vault_dir),
            "--map",
            "3m",
            "--tier",
            "medium",
            "--out",
            str(tmp_path / "cli"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert f"imported {N_EPISODES} episodes" in ok.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "rayeaq.data",
            "import-vault",
            str(tmp_path / "missing"),
            "--map",
            "3m",
            "--tier",
            "medium",
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "vault directory not found" in bad.stderr

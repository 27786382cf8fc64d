"""OG-MARL vaults (flashbax ``Vault``) <-> our datasets.

An OG-MARL SMAC vault (``<rel_dir>/<name>.vlt/<uid>/``, one uid per quality: ``Good``, ``Medium``,
``Poor``) holds one flat time axis of transitions, every leaf ``[1, T_total, ...]``:

- ``observations [1, T, N, Do]``, ``actions [1, T, N]`` (int), ``rewards [1, T, N]`` (the team reward,
  repeated per agent), ``terminals [1, T, N]``, ``truncations [1, T, N]``;
- ``infos.state [1, T, Ds]``, ``infos.legals [1, T, N, A]`` (available actions).

An episode ends at the row where every agent's terminal or truncation flag is set. The vault has no
observation after the last step, so on import row ``length`` (our terminal observation) repeats the
last step's observation, state and legals; the card says so (``generation.terminal_row``). A vault
has no win flag: ``battle_won`` is ``infos.won``/``infos.battle_won`` where present, else an episode
that terminated (not truncated) with a return of at least ``win_return`` (SMAC's scale: a win's bonus
brings the return to 20; a loss stays below ~18 on every SMAC map). Needs ``pip install -e ".[ogmarl]"``.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any, cast

import numpy as np

from rayeaq.core.errors import DatasetError, UserError
from rayeaq.data.batch import EpisodeBatch
from rayeaq.data.card import DatasetCard
from rayeaq.envs.spec import EnvSpec

# field name in the vault -> trailing rank after [1, T] (for the layout check)
VAULT_FIELDS: dict[str, int] = {
    "observations": 2,
    "actions": 1,
    "rewards": 1,
    "terminals": 1,
    "truncations": 1,
    "infos.state": 1,
    "infos.legals": 2,
}
SMAC_ACTIONS = ("no_op", "stop", "move_north", "move_south", "move_east", "move_west")
SMAC_REWARD_SCALE = "og-marl smac_v1: SMAC's shaped damage/kill/win reward scaled so an episode's return is at most 20"
SMAC_WIN_RETURN = 19.0
TERMINAL_ROW = "copy of the last step's observation, state and legals (a vault stores no terminal observation)"
INSTALL = 'pip install -e ".[ogmarl]" (flashbax)'


def _flashbax() -> Any:
    try:
        from flashbax.vault import Vault
    except ImportError:
        raise UserError(f"OG-MARL vaults need flashbax, which is not installed: {INSTALL}") from None
    return Vault


def _quiet() -> contextlib.redirect_stdout[io.StringIO]:
    """flashbax prints progress to stdout; keep a CLI's stdout for its own summary."""
    return contextlib.redirect_stdout(io.StringIO())


# ---- locating a vault -------------------------------------------------------------------------
def resolve_vault(path: str | Path, uid: str | None = None, tier: str | None = None) -> tuple[Path, str, str]:
    """``(rel_dir, vault_name, uid)`` for a vault directory (``X.vlt``, choosing ``uid``, else the uid
    named like ``tier`` (case-insensitive), else its only uid) or for a uid directory itself."""
    path = Path(path).expanduser().resolve()
    if (path / "metadata.json").is_file():
        return path.parent.parent, path.parent.name, path.name
    if not path.is_dir():
        raise DatasetError(f"{path}: vault directory not found")
    uids = sorted(p.name for p in path.iterdir() if (p / "metadata.json").is_file())
    if not uids:
        raise DatasetError(f"{path}: not a flashbax vault (no <uid>/metadata.json inside)")
    if uid is None and tier is not None:
        uid = next((u for u in uids if u.lower() == tier.lower()), None)
    if uid is None and len(uids) == 1:
        uid = uids[0]
    if uid is None or uid not in uids:
        raise DatasetError(f"{path}: choose a vault uid with --uid (found {', '.join(uids)})")
    return path.parent, path.name, uid


def _check_layout(where: Path, structure: dict) -> None:
    """One-line :class:`DatasetError` naming the first missing or misshapen OG-MARL field."""
    for name, rank in VAULT_FIELDS.items():
        node: Any = structure
        for part in name.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            raise DatasetError(
                f"{where}: field {name}: missing (an OG-MARL SMAC vault has {', '.join(VAULT_FIELDS)}; found "
                f"{', '.join(_leaf_names(structure))})"
            )
        shape = tuple(int(v) for v in str(node).strip("()").split(",") if v.strip())
        if len(shape) != 2 + rank:
            raise DatasetError(f"{where}: field {name}: shape {list(shape)}, expected [1, T] + {rank} more axes")


def _leaf_names(tree: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in tree.items():
        out += _leaf_names(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"]
    return out


def read_vault(path: str | Path, uid: str | None = None, tier: str | None = None) -> tuple[dict[str, np.ndarray], str]:
    """The vault's leaves as numpy arrays without the leading ``[1]`` axis, keyed by dotted name; and its uid."""
    rel_dir, name, uid = resolve_vault(path, uid, tier)
    where = rel_dir / name / uid
    structure = json.loads((where / "metadata.json").read_text()).get("structure_shape", {})
    _check_layout(where, structure)
    vault_cls = _flashbax()
    with _quiet():
        experience = vault_cls(vault_name=name, rel_dir=str(rel_dir), vault_uid=uid).read().experience
    flat = {}
    for key in VAULT_FIELDS:
        node = experience
        for part in key.split("."):
            node = node[part]
        flat[key] = np.asarray(node)[0]
    infos = experience.get("infos", {})
    for won_key in ("battle_won", "won"):
        if won_key in infos:
            flat["infos.won"] = np.asarray(infos[won_key])[0]
            break
    return flat, uid


# ---- import -----------------------------------------------------------------------------------
def vault_to_episodes(
    flat: dict[str, np.ndarray], episode_limit: int, where: str, win_return: float = SMAC_WIN_RETURN
) -> tuple[EpisodeBatch, int]:
    """Split a vault's flat time axis into padded episodes (``T = episode_limit + 1`` rows); returns
    the batch and the number of trailing rows of an unfinished episode that were dropped."""
    obs, legals = flat["observations"], flat["infos.legals"]
    total, n_agents = obs.shape[0], obs.shape[1]
    rewards = flat["rewards"].reshape(total, -1)
    if not np.array_equal(rewards, np.repeat(rewards[:, :1], rewards.shape[1], axis=1)):
        raise DatasetError(f"{where}: field rewards: agents' rewards differ; expected one shared team reward")
    term = cast(np.ndarray, flat["terminals"].reshape(total, -1).astype(bool).all(axis=1))
    trunc = cast(np.ndarray, flat["truncations"].reshape(total, -1).astype(bool).all(axis=1))
    ends = np.flatnonzero(term | trunc)
    if len(ends) == 0:
        raise DatasetError(
            f"{where}: field terminals: no episode ends (no row where all agents are terminal or truncated)"
        )
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    if lengths.max() > episode_limit:
        raise DatasetError(
            f"{where}: an episode has {int(lengths.max())} steps, more than the episode limit {episode_limit}"
        )
    n, t_max = len(ends), episode_limit + 1
    out = {
        "obs": np.zeros((n, t_max, n_agents, obs.shape[2]), np.float32),
        "state": np.zeros((n, t_max, flat["infos.state"].shape[1]), np.float32),
        "avail_actions": np.zeros((n, t_max, n_agents, legals.shape[2]), bool),
        "actions": np.zeros((n, t_max, n_agents), np.int64),
        "reward": np.zeros((n, t_max), np.float32),
        "terminated": np.zeros((n, t_max), bool),
        "filled": np.zeros((n, t_max), bool),
    }
    won = np.zeros(n, bool)
    for k, (a, length) in enumerate(zip(starts, lengths, strict=True)):
        rows = slice(a, a + length)
        out["obs"][k, :length], out["state"][k, :length] = obs[rows], flat["infos.state"][rows]
        out["avail_actions"][k, :length] = legals[rows] > 0
        out["actions"][k, :length] = flat["actions"][rows].reshape(length, n_agents)
        out["reward"][k, :length], out["filled"][k, :length] = rewards[rows, 0], True
        for name in ("obs", "state", "avail_actions"):
            out[name][k, length] = out[name][k, length - 1]
        end = a + length - 1
        out["terminated"][k, length - 1] = term[end] and not trunc[end]
        if "infos.won" in flat:
            won[k] = bool(np.asarray(flat["infos.won"][end]).any())
        else:
            won[k] = out["terminated"][k, length - 1] and out["reward"][k].sum() >= win_return
    returns = (out["reward"] * out["filled"]).sum(axis=1).astype(np.float32)
    batch = EpisodeBatch(
        **out,
        episode_id=np.arange(n, dtype=np.int64),
        length=lengths.astype(np.int64),
        episode_return=returns,
        battle_won=won,
        seed=np.full(n, -1, np.int64),
        source=np.array(["real"] * n, dtype=object),
        behaviour_policy=np.array(["og-marl"] * n, dtype=object),
    )
    return batch, int(total - (ends[-1] + 1))


def import_vault(
    path: str | Path,
    map_name: str,
    tier: str,
    out: str | Path,
    *,
    uid: str | None = None,
    episode_limit: int | None = None,
    win_return: float = SMAC_WIN_RETURN,
    shard_episodes: int = 1000,
) -> DatasetCard:
    """Read an OG-MARL SMAC vault and write it as our dataset (backend ``sc2``) with a card."""
    from rayeaq.core.runinfo import code_version
    from rayeaq.data.writer import write_dataset
    from rayeaq.envs.smax.maps import MAX_RETURN, default_episode_limit

    flat, uid = read_vault(path, uid, tier)
    total = flat["observations"].shape[0]
    limit = episode_limit or default_episode_limit(map_name)
    term_or_trunc = flat["terminals"].reshape(total, -1).astype(bool).all(axis=1) | flat["truncations"].reshape(
        total, -1
    ).astype(bool).all(axis=1)
    ends = np.flatnonzero(term_or_trunc)
    if episode_limit is None and len(ends):  # a vault recorded with a longer limit than SMAC's default
        limit = max(limit, int(np.diff(np.concatenate([[-1], ends])).max()))
    batch, dropped = vault_to_episodes(flat, limit, str(path), win_return)
    n_actions = batch.n_actions
    spec = EnvSpec(
        backend="sc2",
        map=map_name,
        n_agents=batch.n_agents,
        n_enemies=n_actions - len(SMAC_ACTIONS),
        n_actions=n_actions,
        obs_shape=batch.obs_dim,
        state_shape=batch.state_dim,
        episode_limit=limit,
        action_layout=SMAC_ACTIONS + tuple(f"attack_{j}" for j in range(n_actions - len(SMAC_ACTIONS))),
        max_return=MAX_RETURN["sc2"],
        reward_scale=SMAC_REWARD_SCALE,
    )
    return write_dataset(
        out,
        batch,
        spec,
        shard_episodes=shard_episodes,
        source="real",
        tier=tier.lower(),
        quality={"tier": tier.lower(), "origin": "og-marl", "vault_uid": uid},
        behaviour_policy={"name": "og-marl", "origin": "og-marl", "vault_uid": uid},
        generation={
            "origin": "og-marl",
            "vault": str(Path(path).expanduser().resolve()),
            "vault_uid": uid,
            "transitions_in_vault": int(total),
            "unfinished_rows_dropped": dropped,
            "terminal_row": TERMINAL_ROW,
            "battle_won": "infos.won" if "infos.won" in flat else f"terminated and return >= {win_return}",
        },
        code_version=code_version(),
    )


# ---- export -----------------------------------------------------------------------------------
def episodes_to_vault(batch: EpisodeBatch) -> dict[str, Any]:
    """Our padded episodes -> OG-MARL's experience tree, every leaf ``[1, T_total, ...]`` (the filled rows
    of each episode in episode-id order; the terminal observation row is not part of a vault)."""
    batch = batch.sorted_by_id()
    keep = batch.filled
    n_agents = batch.n_agents
    length = batch.length
    last = np.zeros_like(keep)
    last[np.arange(len(batch)), length - 1] = True
    terminal = batch.terminated & last
    truncated = last & ~batch.terminated

    def per_agent(x: np.ndarray) -> np.ndarray:
        return np.repeat(x[keep][:, None], n_agents, axis=1)[None]

    legals = batch.avail_actions
    assert legals is not None  # a vault holds discrete actions and their masks
    return {
        "observations": batch.obs[keep][None].astype(np.float32),
        "actions": batch.actions[keep][None].astype(np.int32),
        "rewards": per_agent(batch.reward).astype(np.float32),
        "terminals": per_agent(terminal).astype(np.float32),
        "truncations": per_agent(truncated).astype(np.float32),
        "infos": {
            "state": batch.state[keep][None].astype(np.float32),
            "legals": legals[keep][None].astype(np.float32),
        },
    }


def export_vault(
    dataset_dir: str | Path, out_dir: str | Path, vault_name: str | None = None, uid: str | None = None
) -> Path:
    """Write a dataset as a flashbax vault ``out_dir/<vault_name>/<uid>``; returns that directory."""
    import jax.numpy as jnp

    from rayeaq.data.reader import load_dataset

    vault_cls = _flashbax()
    from flashbax.buffers.trajectory_buffer import TrajectoryBufferState

    dataset = load_dataset(dataset_dir)
    card = dataset.card
    vault_name = vault_name or f"{card.map}.vlt"
    uid = uid or (card.tier or "data").capitalize()
    target = Path(out_dir).expanduser().resolve() / vault_name / uid
    if target.exists():
        raise DatasetError(f"{target}: already exists; choose another --out, --name or --uid")
    experience = episodes_to_vault(dataset.episodes)
    total = experience["observations"].shape[1]
    import jax

    state = TrajectoryBufferState(
        experience=jax.tree_util.tree_map(jnp.asarray, experience),
        current_index=jnp.asarray(total),
        is_full=jnp.asarray(False),
    )
    metadata = {
        "source": "rayeaq",
        "backend": card.backend,
        "map": card.map,
        "tier": card.tier,
        "fingerprint": card.fingerprint,
        "reward_scale": card.reward_scale,
    }
    with _quiet():
        vault = vault_cls(
            vault_name=vault_name,
            experience_structure=state.experience,
            rel_dir=str(target.parent.parent),
            vault_uid=uid,
            metadata=metadata,
        )
        written = vault.write(state, source_interval=(0, total))
    if written != total:
        raise DatasetError(f"{target}: wrote {written} of {total} transitions")
    return target

"""OG-MARL vaults for tests: our episodes in OG-MARL's row layout (written out by hand, independent of
``rayeaq.data.vault``) and a vault built from them with flashbax's own buffer and ``Vault`` API."""

from __future__ import annotations

import contextlib
import io

import numpy as np


def og_marl_rows(batch):
    """The OG-MARL layout written out by hand in the test (independent of rayeaq.data.vault): one row per
    step, episodes back to back, per-agent copies of reward/terminal/truncation."""
    rows = {k: [] for k in ("observations", "actions", "rewards", "terminals", "truncations", "state", "legals")}
    n = batch.n_agents
    for k in range(len(batch)):
        length = int(batch.length[k])
        for t in range(length):
            last = t == length - 1
            rows["observations"].append(batch.obs[k, t])
            rows["actions"].append(batch.actions[k, t].astype(np.int32))
            rows["rewards"].append(np.full(n, batch.reward[k, t], np.float32))
            rows["terminals"].append(np.full(n, last and batch.terminated[k, t], np.float32))
            rows["truncations"].append(np.full(n, last and not batch.terminated[k, t], np.float32))
            rows["state"].append(batch.state[k, t])
            rows["legals"].append(batch.avail_actions[k, t].astype(np.float32))
    return {k: np.stack(v) for k, v in rows.items()}


def build_vault(rows, rel_dir, name="3m.vlt", uid="Medium", drop=None):
    """A vault made with flashbax's flat buffer (add a sequence) and ``Vault.write``, as OG-MARL does."""
    import flashbax as fbx
    import jax.numpy as jnp
    from flashbax.vault import Vault

    tree = {
        "observations": rows["observations"],
        "actions": rows["actions"],
        "rewards": rows["rewards"],
        "terminals": rows["terminals"],
        "truncations": rows["truncations"],
        "infos": {"state": rows["state"], "legals": rows["legals"]},
    }
    if drop:
        del tree["infos"][drop]
    total = rows["observations"].shape[0]
    buffer = fbx.make_flat_buffer(
        max_length=total + 1, min_length=1, sample_batch_size=1, add_sequences=True, add_batch_size=1
    )
    import jax

    state = buffer.init(jax.tree_util.tree_map(lambda x: jnp.asarray(x[0]), tree))
    state = buffer.add(state, jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], tree))
    with contextlib.redirect_stdout(io.StringIO()):
        vault = Vault(vault_name=name, experience_structure=state.experience, rel_dir=str(rel_dir), vault_uid=uid)
        assert vault.write(state) == total
    return rel_dir / name

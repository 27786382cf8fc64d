"""``smac.env.StarCraft2Env`` for CI, where StarCraft II cannot run: the real SMAX simulator
(:class:`rayeaq.envs.smax.env.SMAXEnv`) behind SMAC's constructor, methods and conventions.

Put ``tests/support/smac_standin`` on ``PYTHONPATH`` (and ``SC2PATH`` at a directory holding ``Versions/``) and
``env.backend=sc2`` runs every line of rayeaq's sc2 path — ``SC2Env``, the SMAC-API collector actors, the
greedy rollouts — except the game itself. What it copies from oxwhirl SMAC (``smac/env/starcraft2/starcraft2.py``):

- the constructor's keyword arguments (an unknown one is a ``TypeError``, as there; the episode limit comes from
  the map table and is an attribute, not an argument) and the attributes rayeaq reads (``shield_bits_ally``,
  ``unit_type_bits``, ``agents``/``enemies`` with ``.health``, ``episode_limit``);
- ``reset()`` without a seed, returning ``(obs, state)``; the "game" starts on the first ``reset``;
- the action layout: 0 no-op (the only action of a dead agent), 1 stop, 2..5 move north/south/east/west,
  6 + j attack enemy j;
- the state layout: allies ``[health, cooldown, x, y]``, enemies ``[health, x, y]`` (no shields or unit-type
  bits on marine maps), then the last actions one-hot when ``state_last_action``;
- ``step`` -> ``(reward, terminated, info)``: the reward on SMAC's scale (episode return at most 20: SMAX's
  reward × 10), ``terminated`` also on the time limit, ``info["episode_limit"]`` only with ``continuing_episode``.

Every battle starts from the same unit positions, as on a SMAC map; unlike the game there is no random number
generator seeded per process, so a stand-in episode depends only on the actions taken.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

SMAC_ARGUMENTS = frozenset(
    [
        "map_name",
        "step_mul",
        "move_amount",
        "difficulty",
        "game_version",
        "seed",
        "continuing_episode",
        "obs_all_health",
        "obs_own_health",
        "obs_last_action",
        "obs_pathing_grid",
        "obs_terrain_height",
        "obs_instead_of_state",
        "obs_timestep_number",
        "state_last_action",
        "state_timestep_number",
        "reward_sparse",
        "reward_only_positive",
        "reward_death_value",
        "reward_win",
        "reward_defeat",
        "reward_negative_scale",
        "reward_scale",
        "reward_scale_rate",
        "replay_dir",
        "replay_prefix",
        "window_size_x",
        "window_size_y",
        "heuristic_ai",
        "heuristic_rest",
        "debug",
    ]
)
START_SEED = 0  # the SMAX reset of every battle: fixed start positions, like a SMAC map
SMAC_FROM_SMAX_MOVES = (4, 0, 2, 1, 3)  # SMAC stop, north, south, east, west -> SMAX action index
SMAX_REWARD_TO_SMAC = 10.0  # SMAX episode return <= 2, SMAC's <= 20


class StarCraft2Env:
    """SMAC's ``StarCraft2Env`` interface over one SMAX battle (see the module docstring)."""

    def __init__(self, map_name: str = "8m", **options) -> None:
        unknown = sorted(set(options) - SMAC_ARGUMENTS)
        if unknown:
            raise TypeError(f"StarCraft2Env.__init__() got an unexpected keyword argument {unknown[0]!r}")
        from rayeaq.envs.smax.maps import SMAX_UNITS, default_episode_limit, smax_spec

        self.map_name = map_name
        self.n_agents, self.n_enemies = SMAX_UNITS[map_name]
        self.episode_limit = default_episode_limit(map_name)
        self.n_actions = 6 + self.n_enemies
        self.continuing_episode = bool(options.get("continuing_episode", False))
        self.state_last_action = bool(options.get("state_last_action", True))
        self._seed = options.get("seed")
        self.shield_bits_ally = self.shield_bits_enemy = self.unit_type_bits = 0
        self._obs_size = smax_spec(map_name).obs_shape
        self._smax = None  # the "game": built on the first reset, like SMAC's _launch
        self.agents: dict[int, SimpleNamespace] = {}
        self.enemies: dict[int, SimpleNamespace] = {}
        self.last_action = np.zeros((self.n_agents, self.n_actions))

    # ---- sizes --------------------------------------------------------------------------------
    def get_obs_size(self) -> int:
        return self._obs_size

    def get_state_size(self) -> int:
        size = 4 * self.n_agents + 3 * self.n_enemies
        return size + (self.n_agents * self.n_actions if self.state_last_action else 0)

    def get_total_actions(self) -> int:
        return self.n_actions

    def get_env_info(self) -> dict:
        return {
            "state_shape": self.get_state_size(),
            "obs_shape": self.get_obs_size(),
            "n_actions": self.n_actions,
            "n_agents": self.n_agents,
            "episode_limit": self.episode_limit,
            "agent_features": ["health", "energy/cooldown", "rel_x", "rel_y"],
            "enemy_features": ["health", "rel_x", "rel_y"],
        }

    # ---- episodes -----------------------------------------------------------------------------
    def reset(self):
        from rayeaq.envs.smax.env import SMAXEnv

        if self._smax is None or self._smax.episode_limit != self.episode_limit:
            self._smax = SMAXEnv(self.map_name, self.episode_limit)
        self._smax.reset(seed=START_SEED)
        self.last_action = np.zeros((self.n_agents, self.n_actions))
        self._update_units()
        return self.get_obs(), self.get_state()

    def step(self, actions):
        assert self._smax is not None, "reset() first"
        actions = [int(a) for a in actions]
        avail = np.asarray(self.get_avail_actions(), bool)
        for agent, action in enumerate(actions):
            assert avail[agent, action], f"Agent {agent} cannot perform action {action}"
        self.last_action = np.eye(self.n_actions)[np.array(actions)]
        smax_actions = [4 if a == 0 else (SMAC_FROM_SMAX_MOVES[a - 1] if a < 6 else a - 1) for a in actions]
        reward, battle_over, smax_info = self._smax.step(smax_actions)
        self._update_units()
        info = {
            "battle_won": bool(smax_info.get("battle_won", False)),
            "dead_allies": sum(u.health == 0 for u in self.agents.values()),
            "dead_enemies": sum(u.health == 0 for u in self.enemies.values()),
        }
        timeout = bool(smax_info.get("episode_limit", False))
        if timeout and self.continuing_episode:
            info["episode_limit"] = True
        return float(reward) * SMAX_REWARD_TO_SMAC, bool(battle_over) or timeout, info

    # ---- observations -------------------------------------------------------------------------
    def get_obs(self) -> list[np.ndarray]:
        assert self._smax is not None, "reset() first"
        return [np.asarray(o, np.float32) for o in self._smax.get_obs()]

    def get_state(self) -> np.ndarray:
        blocks = self._unit_blocks()  # [N + E, 4]: health, x, y, cooldown
        allies = blocks[: self.n_agents][:, [0, 3, 1, 2]]
        enemies = blocks[self.n_agents :][:, [0, 1, 2]]
        parts = [allies.ravel(), enemies.ravel()]
        if self.state_last_action:
            parts.append(self.last_action.ravel())
        return np.concatenate(parts).astype(np.float32)

    def get_avail_agent_actions(self, agent_id: int) -> list[int]:
        return self.get_avail_actions()[agent_id]

    def get_avail_actions(self) -> list[list[int]]:
        assert self._smax is not None, "reset() first"
        smax = np.asarray(self._smax.get_avail_actions(), bool)
        out = np.zeros((self.n_agents, self.n_actions), np.int64)
        for agent in range(self.n_agents):
            if self.agents[agent].health > 0:
                out[agent, 1:6] = smax[agent, list(SMAC_FROM_SMAX_MOVES)]
                out[agent, 6:] = smax[agent, 5:]
            else:
                out[agent, 0] = 1  # only no-op when dead
        return out.tolist()

    def close(self) -> None:
        if self._smax is not None:
            self._smax.close()

    def seed(self):
        return self._seed

    # ---- internals ----------------------------------------------------------------------------
    def _unit_blocks(self) -> np.ndarray:
        """SMAX's world state -> one ``[health, x, y, cooldown]`` row per unit (allies first; dead: zeros)."""
        assert self._smax is not None, "reset() first"
        world = np.asarray(self._smax.get_state(), np.float32)
        units = self.n_agents + self.n_enemies
        stride = (world.shape[0] - 2 * units) // units
        return world[: units * stride].reshape(units, stride)[:, :4]

    def _update_units(self) -> None:
        health = self._unit_blocks()[:, 0]
        self.agents = {i: SimpleNamespace(health=float(health[i])) for i in range(self.n_agents)}
        self.enemies = {j: SimpleNamespace(health=float(health[self.n_agents + j])) for j in range(self.n_enemies)}

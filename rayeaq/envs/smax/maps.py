"""Map registry: which maps each backend has and their SMAC episode limits (no JAX import)."""

from __future__ import annotations

# SMAC's episode limits for the maps SMAC and SMAX share. SMAX's own default is 100 on every map.
SMAC_EPISODE_LIMITS: dict[str, int] = {
    "3m": 60,
    "8m": 120,
    "25m": 150,
    "2s3z": 120,
    "3s5z": 150,
    "5m_vs_6m": 70,
    "10m_vs_11m": 150,
    "27m_vs_30m": 180,
    "3s5z_vs_3s6z": 170,
    "3s_vs_5z": 250,
    "6h_vs_8z": 150,
}

# The scenarios jaxmarl 0.2.0 registers for SMAX with (allies, enemies); tests check this table
# against jaxmarl's own so sizes can be known without importing JAX.
SMAX_UNITS: dict[str, tuple[int, int]] = {
    "3m": (3, 3),
    "2s3z": (5, 5),
    "25m": (25, 25),
    "3s5z": (8, 8),
    "8m": (8, 8),
    "5m_vs_6m": (5, 6),
    "10m_vs_11m": (10, 11),
    "27m_vs_30m": (27, 30),
    "3s5z_vs_3s6z": (8, 9),
    "3s_vs_5z": (3, 5),
    "6h_vs_8z": (6, 8),
    "smacv2_5_units": (5, 5),
    "smacv2_10_units": (10, 10),
    "smacv2_20_units": (20, 20),
}
SMAX_MAPS: tuple[str, ...] = tuple(SMAX_UNITS)

# SMAX feature sizes (jaxmarl 0.2.0, unit_list observations, 6 unit types).
SMAX_UNIT_TYPES = 6
SMAX_UNIT_FEATURES = 7 + SMAX_UNIT_TYPES  # health, dx, dy, last move x/y, last target, cooldown, type bits
SMAX_OWN_FEATURES = 4 + SMAX_UNIT_TYPES  # health, x, y, cooldown, type bits
SMAX_MOVE_ACTIONS = 5  # north, east, south, west, stop

SMAX_DEFAULT_EPISODE_LIMIT = 100

# Maximum episode return per backend: SMAX rewards the fraction of enemy health removed plus 1 on a
# win (at most 2.0); SMAC's shaped reward is scaled to at most 20.
MAX_RETURN: dict[str, float] = {"smax": 2.0, "sc2": 20.0}


def default_episode_limit(map_name: str) -> int:
    """SMAC's cap where SMAC has the map, otherwise SMAX's default of 100."""
    return SMAC_EPISODE_LIMITS.get(map_name, SMAX_DEFAULT_EPISODE_LIMIT)


def smax_spec(map_name: str, episode_limit: int | None = None):
    """The :class:`EnvSpec` of a SMAX map, computed without importing JAX."""
    from rayeaq.envs.spec import EnvSpec

    allies, enemies = SMAX_UNITS[map_name]
    return EnvSpec(
        backend="smax",
        map=map_name,
        n_agents=allies,
        n_enemies=enemies,
        n_actions=SMAX_MOVE_ACTIONS + enemies,
        obs_shape=SMAX_UNIT_FEATURES * (allies - 1 + enemies) + SMAX_OWN_FEATURES,
        state_shape=(SMAX_OWN_FEATURES + 2) * (allies + enemies),
        episode_limit=episode_limit if episode_limit is not None else default_episode_limit(map_name),
        action_layout=("move_north", "move_east", "move_south", "move_west", "stop")
        + tuple(f"attack_{j}" for j in range(enemies)),
        max_return=MAX_RETURN["smax"],
        reward_scale="smax: fraction of enemy health removed per step + 1.0 on a win; episode return <= 2.0",
    )


def list_maps_table() -> str:
    """Text table of the SMAX maps: agents, enemies, obs/state sizes, actions, episode limit."""
    rows = [("map", "agents", "enemies", "obs", "state", "actions", "limit")]
    for name in SMAX_MAPS:
        s = smax_spec(name)
        rows.append((name, s.n_agents, s.n_enemies, s.obs_shape, s.state_shape, s.n_actions, s.episode_limit))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append("backend smax (default).")
    return "\n".join(lines)

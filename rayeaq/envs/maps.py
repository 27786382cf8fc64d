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

# The scenarios jaxmarl 0.2.0 registers for SMAX (tests check this list against jaxmarl's own).
SMAX_MAPS: tuple[str, ...] = (
    "3m",
    "2s3z",
    "25m",
    "3s5z",
    "8m",
    "5m_vs_6m",
    "10m_vs_11m",
    "27m_vs_30m",
    "3s5z_vs_3s6z",
    "3s_vs_5z",
    "6h_vs_8z",
    "smacv2_5_units",
    "smacv2_10_units",
    "smacv2_20_units",
)

SMAX_DEFAULT_EPISODE_LIMIT = 100

# Maximum episode return per backend: SMAX rewards the fraction of enemy health removed plus 1 on a
# win (at most 2.0); SMAC's shaped reward is scaled to at most 20.
MAX_RETURN: dict[str, float] = {"smax": 2.0, "sc2": 20.0}


def default_episode_limit(map_name: str) -> int:
    """SMAC's cap where SMAC has the map, otherwise SMAX's default of 100."""
    return SMAC_EPISODE_LIMITS.get(map_name, SMAX_DEFAULT_EPISODE_LIMIT)

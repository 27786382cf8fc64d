"""MPE maps: sizes, action spaces and episode limits, known without importing JAX.

| map | agents (learning) | simulator | actions | reward (team = mean over learning agents) |
|---|---|---|---|---|
| ``spread`` | 3 | JaxMARL ``SimpleSpreadMPE`` = PettingZoo/mpe2 ``simple_spread_v3`` (continuous) | box 5 in [0, 1] | ½·(−Σ_l min_a d(a, l)) + ½·(−1 per collision of the agent) |
| ``omar_spread`` | 3 | OMAR's ``simple_spread`` (velocity-then-position integration) | box 2 in [−1, 1] | Σ_l min(1/min_a d(a, l), 10) − 5 per collision of the agent |
| ``tag`` | 3 predators | JaxMARL ``SimpleTagMPE`` + a scripted prey (ours, not the papers' pretrained one) | box 5 in [0, 1] | +10 per predator–prey contact (every predator) |

Global state ``[Ds]`` = positions of every entity (agents, scripted prey, landmarks) ``[E, 2]`` then the
velocities of every simulated agent ``[N_total, 2]``, flattened: the whole physical state (landmarks do not move).
"""

from __future__ import annotations

from dataclasses import dataclass

MPE_EPISODE_LIMIT = 25
"""Every MPE map: exactly 25 steps (OMAR, DOM2, PettingZoo's ``max_cycles``); JaxMARL's own done comes on the 26th."""


@dataclass(frozen=True)
class MPEMap:
    """Static description of one MPE map."""

    n_agents: int
    """Learning agents (the dataset's N)."""
    n_scripted: int
    """Simulated agents driven by a scripted policy inside the environment (tag: the prey)."""
    n_landmarks: int
    """Landmarks (spread) or obstacles (tag)."""
    obs_shape: int
    """Per-agent observation size (the learning agents')."""
    action_dim: int
    """Continuous action dimensions per agent."""
    action_low: float
    """Lower bound of each action dimension."""
    action_high: float
    """Upper bound of each action dimension."""
    action_layout: tuple[str, ...]
    """Names of the action dimensions."""
    max_return: float
    """Upper bound of an episode's team return (0 for spread: its reward is never positive)."""
    reward_scale: str
    """The reward in words."""

    @property
    def n_total(self) -> int:
        return self.n_agents + self.n_scripted

    @property
    def state_shape(self) -> int:
        return 2 * (self.n_total + self.n_landmarks) + 2 * self.n_total


PZ_LAYOUT = ("no_action", "move_left", "move_right", "move_down", "move_up")
MPE_MAPS: dict[str, MPEMap] = {
    "spread": MPEMap(
        3,
        0,
        3,
        18,
        5,
        0.0,
        1.0,
        PZ_LAYOUT,
        0.0,
        "mpe spread (PettingZoo simple_spread_v3, local_ratio 0.5): per step, mean over agents of "
        "0.5*(-sum of landmark min distances) + 0.5*(-1 per collision); never positive",
    ),
    "omar_spread": MPEMap(
        3,
        0,
        3,
        18,
        2,
        -1.0,
        1.0,
        ("force_x", "force_y"),
        750.0,
        "mpe omar_spread (OMAR): per step, mean over agents of sum_l min(1/d_l, 10) "
        "- 5 per collision; episode return <= 25*3*10 = 750",
    ),
    "tag": MPEMap(
        3,
        1,
        2,
        16,
        5,
        0.0,
        1.0,
        PZ_LAYOUT,
        750.0,
        "mpe tag (PettingZoo simple_tag_v3, scripted prey): per step +10 per predator-prey contact "
        "(shared by every predator); episode return <= 25*3*10 = 750",
    ),
}


def default_episode_limit(map_name: str) -> int:
    """25 on every MPE map."""
    return MPE_EPISODE_LIMIT


def mpe_spec(map_name: str, episode_limit: int | None = None):
    """The :class:`~rayeaq.envs.spec.EnvSpec` of an MPE map (no JAX import)."""
    from rayeaq.envs.spec import EnvSpec

    m = MPE_MAPS[map_name]
    return EnvSpec(
        backend="mpe",
        map=map_name,
        n_agents=m.n_agents,
        n_enemies=m.n_scripted,
        n_actions=m.action_dim,
        obs_shape=m.obs_shape,
        state_shape=m.state_shape,
        episode_limit=episode_limit if episode_limit is not None else MPE_EPISODE_LIMIT,
        action_layout=m.action_layout,
        max_return=m.max_return,
        reward_scale=m.reward_scale,
        action_kind="box",
        action_low=m.action_low,
        action_high=m.action_high,
        has_success=False,
        n_agents_total=m.n_total,
    )


def list_maps_table() -> str:
    """Text table of the MPE maps for ``--list-maps``."""
    rows: list[tuple[object, ...]] = [("map", "agents", "scripted", "landmarks", "obs", "state", "actions", "limit")]
    for name, m in MPE_MAPS.items():
        box = f"box{m.action_dim}[{m.action_low:g},{m.action_high:g}]"
        rows.append((name, m.n_agents, m.n_scripted, m.n_landmarks, m.obs_shape, m.state_shape, box, MPE_EPISODE_LIMIT))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append(
        "backend mpe (JaxMARL MPE; continuous actions; tag's prey is scripted, not the papers' pretrained prey)."
    )
    return "\n".join(lines)

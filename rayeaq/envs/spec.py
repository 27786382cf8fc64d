"""Static description of an environment: sizes, action layout, reward scale (no simulator needed)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class EnvSpec:
    """What a dataset records about the environment that produced it.

    ``action_layout[i]`` names action ``i`` (``box``: action dimension ``i``) (SMAX: move_north, move_east, move_south, move_west,
    stop, attack_0 ...; SMAC: no_op, stop, move_north ... attack_0 ...). ``max_return`` is the
    largest episode return the backend's reward allows (SMAX 2.0, SMAC 20.0).
    """

    backend: str
    map: str
    n_agents: int
    n_enemies: int
    n_actions: int
    obs_shape: int
    state_shape: int
    episode_limit: int
    action_layout: tuple[str, ...]
    max_return: float
    reward_scale: str
    action_kind: str = "discrete"
    """``discrete`` (``n_actions`` choices, availability masks) or ``box`` (``n_actions`` real dimensions)."""
    action_low: float = 0.0
    """Lower bound of every action dimension (``box`` only)."""
    action_high: float = 0.0
    """Upper bound of every action dimension (``box`` only)."""
    has_success: bool = True
    """Whether the map has a win/success outcome (SMAX/SMAC: battle won); MPE maps have none (null flag)."""
    n_agents_total: int = 0
    """Agents the simulator steps, scripted ones included (MPE ``tag``: 3 predators + 1 scripted prey); 0 = ``n_agents``."""

    @property
    def max_seq_len(self) -> int:
        """Rows per padded episode: every step plus the terminal observation."""
        return self.episode_limit + 1

    @property
    def is_box(self) -> bool:
        """Continuous actions (``[N, Da]`` float32 per step, no availability masks)."""
        return self.action_kind == "box"

    def action_space(self) -> dict[str, Any]:
        """``{"kind": "discrete", "n": A}`` or ``{"kind": "box", "dim": Da, "low": lo, "high": hi}`` (dataset card v2)."""
        if self.is_box:
            return {"kind": "box", "dim": self.n_actions, "low": self.action_low, "high": self.action_high}
        return {"kind": "discrete", "n": self.n_actions}

    def env_info(self) -> dict[str, Any]:
        """SMAC's ``get_env_info()`` dictionary."""
        return {
            "n_agents": self.n_agents,
            "n_actions": self.n_actions,
            "obs_shape": self.obs_shape,
            "state_shape": self.state_shape,
            "episode_limit": self.episode_limit,
        }

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["action_layout"] = list(self.action_layout)
        return out

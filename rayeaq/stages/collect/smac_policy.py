"""A focus-fire heuristic written against SMAC's API only (numpy; no simulator internals).

The policy reads unit features from ``get_state()`` through a :class:`UnitLayout` (where each unit's
health and position sit in the state vector), the action meaning from the spec's ``action_layout``
(``move_north`` ..., ``stop``, ``no_op``, ``attack_j``) and legality from ``get_avail_actions()``:
attack the weakest attackable enemy (ties: the nearest), else move toward the nearest living enemy,
else ``stop`` / ``no_op`` / the first legal action. The same code drives SMAX (``SMAXEnv``) and
StarCraft II (``StarCraft2Env``); only the layout differs, and layouts are a registry by backend.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from rayeaq.core.registry import Registry
from rayeaq.envs.spec import EnvSpec
from rayeaq.envs.unit_layout import UNIT_LAYOUTS, UnitLayout
from rayeaq.policies import Candidate

# Unit vectors of the move actions by name (north = +y, east = +x, as both SMAX and SC2 decode them).
MOVES: dict[str, tuple[float, float]] = {
    "move_north": (0.0, 1.0),
    "move_east": (1.0, 0.0),
    "move_south": (0.0, -1.0),
    "move_west": (-1.0, 0.0),
}


class SMACHeuristic:
    """Focus fire from SMAC-API features; call with ``(state [Ds], avail [N, A] bool) -> actions [N]``."""

    def __init__(self, spec: EnvSpec, layout: UnitLayout):
        self.spec, self.layout = spec, layout
        names = list(spec.action_layout)
        self.attack0 = names.index("attack_0")
        self.moves = np.array([names.index(m) for m in MOVES], dtype=np.int64)
        self.move_dirs = np.array(list(MOVES.values()), dtype=np.float32)
        self.idle = [names.index(n) for n in ("stop", "no_op") if n in names]

    def __call__(self, state: np.ndarray, avail: np.ndarray) -> np.ndarray:
        s = self.spec
        u = self.layout.units(state, s.n_agents, s.n_enemies)
        delta = u["enemy_pos"][None, :, :] - u["ally_pos"][:, None, :]  # [N, E, 2]
        dist = np.linalg.norm(delta, axis=-1)  # [N, E]
        enemy_alive = u["enemy_health"] > 0
        actions = np.zeros(s.n_agents, dtype=np.int64)
        for i in range(s.n_agents):
            legal = avail[i]
            can_attack = legal[self.attack0 : self.attack0 + s.n_enemies]
            if can_attack.any():
                score = np.where(can_attack, u["enemy_health"] * 1000.0 + dist[i], np.inf)
                actions[i] = self.attack0 + int(np.argmin(score))
                continue
            if enemy_alive.any():
                target = int(np.argmin(np.where(enemy_alive, dist[i], np.inf)))
                move = self.moves[int(np.argmax(self.move_dirs @ delta[i, target]))]
                if legal[move]:
                    actions[i] = move
                    continue
            idle = [a for a in self.idle if legal[a]]
            actions[i] = idle[0] if idle else int(np.argmax(legal))
        return actions


def epsilon_mix(greedy: np.ndarray, avail: np.ndarray, epsilon: float, episode_seed: int, t: int) -> np.ndarray:
    """Per agent, a uniform legal action with probability ε (generator seeded by episode seed and step)."""
    if epsilon <= 0.0:
        return greedy
    rng = np.random.default_rng([int(episode_seed), int(t)])
    explore = rng.random(avail.shape[0]) < epsilon
    uniform = (rng.random(avail.shape) * avail).argmax(axis=-1)
    return np.where(explore, uniform, greedy)


def make_policy(env: Any, spec: EnvSpec) -> SMACHeuristic:
    """The heuristic for ``env`` (its backend's unit layout)."""
    return SMACHeuristic(spec, UNIT_LAYOUTS.get(spec.backend)(env, spec))


class Behaviour(Protocol):
    """A behaviour of the SMAC-API loop: ``start(episode_seed)`` per episode, ``act(obs, state, avail) -> [N]``."""

    def start(self, episode_seed: int) -> None: ...

    def act(self, obs: np.ndarray, state: np.ndarray, avail: np.ndarray) -> np.ndarray: ...


class BehaviourClass(Protocol):
    """A behaviour class as registered: built once per environment for a candidate policy."""

    def __call__(self, env: Any, spec: EnvSpec, candidate: Candidate | None = None) -> Behaviour: ...


class HeuristicBehaviour:
    """The focus-fire heuristic (weakest enemy in range; the JAX ``focus_weakest``) as a behaviour."""

    def __init__(self, env: Any, spec: EnvSpec, candidate: Candidate | None = None):
        self.policy = make_policy(env, spec)

    def start(self, episode_seed: int) -> None:
        pass

    def act(self, obs: np.ndarray, state: np.ndarray, avail: np.ndarray) -> np.ndarray:
        return self.policy(state, avail)


class UniformBehaviour:
    """Uniform legal actions, drawn like the ε-mixture's exploration (so it equals any behaviour at ε = 1)."""

    def __init__(self, env: Any, spec: EnvSpec, candidate: Candidate | None = None):
        self.seed, self.t = 0, 0

    def start(self, episode_seed: int) -> None:
        self.seed, self.t = int(episode_seed), 0

    def act(self, obs: np.ndarray, state: np.ndarray, avail: np.ndarray) -> np.ndarray:
        actions = epsilon_mix(np.zeros(avail.shape[0], np.int64), avail, 1.0, self.seed, self.t)
        self.t += 1
        return actions


class CheckpointBehaviour:
    """A trained QMIX/BC checkpoint's greedy policy (``candidate.checkpoint``), one episode at a time."""

    def __init__(self, env: Any, spec: EnvSpec, candidate: Candidate | None = None, greedy: Any = None):
        if greedy is None:
            import torch

            from rayeaq.learners.qmix.policy import load_greedy_policy

            assert candidate is not None and candidate.checkpoint is not None, "a checkpoint candidate"
            torch.set_num_threads(1)  # JAX and torch share this process (NOTES-ray-smax.md)
            greedy = load_greedy_policy(candidate.checkpoint)
        self.greedy, self.hidden = greedy, None

    def start(self, episode_seed: int) -> None:
        self.hidden = None

    def act(self, obs: np.ndarray, state: np.ndarray, avail: np.ndarray) -> np.ndarray:
        actions, self.hidden = self.greedy(obs[None], avail[None], self.hidden)
        return np.asarray(actions)[0].astype(np.int64)


BEHAVIOURS: Registry[BehaviourClass] = Registry("SMAC-API behaviour", "collect.policy.kind")
"""What the SMAC-API loop can play, by :func:`behaviour_key` of a candidate: the scripted policy's name for
``jax`` candidates (``focus_weakest`` = heuristic_mix with target weakest, ``random``), ``checkpoint`` for
``host`` ones (qmix_checkpoint). The graded ladder's other scripts read SMAX internals and are not here."""
BEHAVIOURS.add("focus_weakest", HeuristicBehaviour)
BEHAVIOURS.add("random", UniformBehaviour)
BEHAVIOURS.add("checkpoint", CheckpointBehaviour)


def behaviour_key(candidate: Candidate) -> str:
    """The :data:`BEHAVIOURS` entry that plays ``candidate``."""
    return "checkpoint" if candidate.runner == "host" else str(candidate.script)

"""``python -m rayeaq.envs.sc2.check [MAP]``: is StarCraft II usable here? Plays one episode of uniform legal
actions through SMAC's API and prints the map's sizes, the return and the outcome (exit 2 with one line if not)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from rayeaq.cli import run_cli


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    map_name = args[0] if args else "3m"
    from rayeaq.envs.sc2.env import SC2Env, sc2_path

    env = SC2Env(map_name, seed=0)
    rng = np.random.default_rng(0)
    try:
        env.reset()
        total, terminated, info, steps = 0.0, False, {}, 0
        while not terminated:
            avail = np.asarray(env.get_avail_actions()) > 0
            actions = (rng.random(avail.shape) * avail).argmax(axis=-1)
            reward, terminated, info = env.step(actions.tolist())
            total, steps = total + reward, steps + 1
    finally:
        env.close()
    s = env.spec
    print(
        f"StarCraft II at {sc2_path()}: map {map_name}, {s.n_agents} agents, obs {s.obs_shape}, state "
        f"{s.state_shape}, {s.n_actions} actions, limit {s.episode_limit}; one random episode: {steps} steps, "
        f"return {total:.2f}, won {bool(info.get('battle_won', False))}"
    )
    return 0


if __name__ == "__main__":
    run_cli(main)

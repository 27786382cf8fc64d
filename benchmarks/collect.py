"""Collector throughput against raw SMAX stepping, in one run, on the same map and batch size.

1. raw: jaxmarl SMAX ``step`` (auto-reset) jitted and vmapped over B envs inside ``lax.scan``,
   random legal actions, no recording, no I/O — the simulator's ceiling on this machine;
2. core: our fused collector (``rayeaq.collect.rollout.run_episodes``) in this process — policy,
   simulator, step records and host-side episode assembly, no Ray, no Parquet;
3. command: ``python -m rayeaq.collect`` end to end with one actor (Ray, actors, shards, card),
   taking the env-steps/s the command itself prints (collection phase, calibration skipped).

    python benchmarks/collect.py [--map 3m] [--batch 128] [--episodes 4000]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def raw_smax(map_name: str, batch: int, steps: int = 64, repeats: int = 20) -> float:
    import jax
    import jax.numpy as jnp

    from rayeaq.envs.smax import core as smax_core
    from rayeaq.envs.smax.maps import smax_spec

    env = smax_core.make_smax(map_name, smax_spec(map_name).episode_limit)

    def one_step(carry, _):
        key, state = carry
        key, k_act, k_env = jax.random.split(key, 3)
        avail = env.get_avail_actions(state)
        acts = {}
        for i, agent in enumerate(env.agents):
            logits = jnp.where(avail[agent] > 0, 0.0, -jnp.inf)
            acts[agent] = jax.random.categorical(jax.random.fold_in(k_act, i), logits)
        _, state, _, _, _ = env.step(k_env, state, acts)
        return (key, state), None

    def rollout(key, state):
        (key, state), _ = jax.lax.scan(one_step, (key, state), None, length=steps)
        return key, state

    run = jax.jit(jax.vmap(rollout))
    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    _, states = jax.vmap(env.reset)(keys)
    keys, states = run(keys, states)  # compile
    jax.block_until_ready(states)
    start = time.perf_counter()
    for _ in range(repeats):
        keys, states = run(keys, states)
    jax.block_until_ready(states)
    return batch * steps * repeats / (time.perf_counter() - start)


def core_collector(map_name: str, batch: int, episodes: int, epsilon: float) -> float:
    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.stages.collect.rollout import run_episodes

    spec = smax_spec(map_name)
    for _ in run_episodes(spec, np.arange(episodes) + 10**6, epsilon, n_slots=batch):  # compile: same shapes
        pass
    start = time.perf_counter()
    for _, assembler in run_episodes(spec, np.arange(episodes) + 10_000, epsilon, n_slots=batch):
        pass
    return float(assembler.whole().filled.sum()) / (time.perf_counter() - start)


def command(map_name: str, batch: int, episodes: int, epsilon: float) -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            sys.executable,
            "-m",
            "rayeaq.collect",
            str(ROOT / "tune_configs" / "collect_3m.yaml"),
            "--out",
            tmp,
            f"env.map={map_name}",
            f"collect.episodes={episodes}",
            "collect.tiers=[medium]",
            f"collect.tier_bands.medium.epsilon={epsilon}",
            "collect.workers=1",
            f"collect.envs_per_worker={batch}",
            "collect.shard_episodes=1000",
        ]
        start = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"collect command failed:\n{proc.stderr[-2000:]}")
    last = proc.stdout.strip().splitlines()[-1]
    rate = float(re.search(r"([\d,]+) env-steps/s", last).group(1).replace(",", ""))
    return rate, wall, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map", default="3m")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--episodes", type=int, default=40000)
    parser.add_argument("--epsilon", type=float, default=0.1)
    args = parser.parse_args()

    raw = raw_smax(args.map, args.batch)
    core = core_collector(args.map, args.batch, args.episodes, args.epsilon)
    cmd, wall, last = command(args.map, args.batch, args.episodes, args.epsilon)
    print(f"machine: {os.cpu_count()} CPUs | map {args.map} | batch {args.batch} envs | {args.episodes} episodes")
    print(f"raw SMAX step (jit+vmap, random legal, no I/O): {raw:12,.0f} env-steps/s")
    print(f"collector core, in process (no Ray, no I/O):    {core:12,.0f} env-steps/s  ({core / raw:.0%} of raw)")
    print(f"python -m rayeaq.collect (1 actor, Parquet):    {cmd:12,.0f} env-steps/s  ({cmd / raw:.0%} of raw)")
    print(f"  command wall time {wall:.1f}s incl. Ray start-up and JIT; its last line: {last}")
    print(f"ratio command / raw: {cmd / raw:.2f} (goal >= 0.50, aim 0.80)")


if __name__ == "__main__":
    main()

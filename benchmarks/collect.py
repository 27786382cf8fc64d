"""Collector throughput against the true ceiling of SMAX stepping, on the same map and batch size.

References (why they are the right ones): the collector must step the simulator, draw a legal action per agent and
record every step, so its ceiling is the simulator doing only the first two —
1. ``simulator``: SMAX ``step_env`` (no auto-reset: ``step`` computes a reset on every step and selects, which is
   not work the collector does) jitted and vmapped over the same batch inside ``lax.scan``, every agent sending
   the fixed action ``stop`` (no policy at all);
2. ``ceiling``: the same with the cheapest legal-action draw (the first available action, from
   ``get_avail_actions``): no recording, no episode bookkeeping, no I/O. A collector can approach it, not beat it.
Measured: 3. ``core``: our fused collector (policy + simulator + step records + host-side episode assembly) in
this process, no Ray, no Parquet; 4. ``command``: ``python -m rayeaq.collect`` end to end with one actor (Ray
start, actors, tracing, shards, card), the env-steps/s its last line reports (collection phase only) and its
wall time. 1–3 are repeated interleaved after a warm-up (compilation, reported apart); 4 is a process each time.

    python benchmarks/collect.py [--map 3m] [--batch 128] [--episodes 4000] [--repeats 5] [--quick] [--json OUT]
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Report, Stats, paired, rate

ROOT = Path(__file__).resolve().parent.parent


def smax_stepper(map_name: str, batch: int, steps: int, legal_draw: bool):
    """A function that steps ``batch`` envs ``steps`` times and returns the env-steps done."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp

    from rayeaq.envs.smax import core as smax_core
    from rayeaq.envs.smax.maps import smax_spec

    env = smax_core.make_smax(map_name, smax_spec(map_name).episode_limit)
    n = len(env.agents)

    def one_step(carry, _):
        key, state = carry
        key, k_env = jax.random.split(key)
        if legal_draw:
            avail = env._env.get_avail_actions(state.state)
            actions = {a: jnp.argmax(avail[a]) for a in env.agents}  # the first legal action
        else:
            actions = {a: jnp.int32(4) for a in env.agents}  # stop: no policy work at all
        _, state, _, _, _ = env.step_env(k_env, state, actions)
        return (key, state), None

    def rollout(key, state):
        return jax.lax.scan(one_step, (key, state), None, length=steps)[0]

    run = jax.jit(jax.vmap(rollout))
    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    states = jax.vmap(lambda k: smax_core.reset(env, k))(keys)
    del n

    def work() -> float:
        out = run(keys, states)
        jax.block_until_ready(out)
        return float(batch * steps)

    return work


def collector_core(map_name: str, batch: int, episodes: int, epsilon: float):
    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.stages.collect.rollout import run_episodes

    spec = smax_spec(map_name)

    def work() -> float:
        assembler = None
        for _, assembler in run_episodes(spec, np.arange(episodes) + 10_000, epsilon, n_slots=batch):  # noqa: B007
            pass  # the generator yields after every chunk; the last assembler holds the episodes
        return float(assembler.whole().filled.sum())

    return work


def command(map_name: str, batch: int, episodes: int, epsilon: float) -> tuple[float, float]:
    """(env-steps/s the command reports, its wall time) of one ``python -m rayeaq.collect`` process."""
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
    return float(re.search(r"([\d,]+) env-steps/s", last).group(1).replace(",", "")), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map", default="3m")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--episodes", type=int, default=4000)
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1 000 episodes, 2 repeats")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.quick:
        args.episodes, args.repeats = 1000, 2
    report = Report(f"Collection: {args.map}, {args.batch} envs, {args.episodes} episodes, epsilon {args.epsilon}")
    steps = 64
    start = time.perf_counter()
    sim, ceiling = smax_stepper(args.map, args.batch, steps, False), smax_stepper(args.map, args.batch, steps, True)
    core = collector_core(args.map, args.batch, args.episodes, args.epsilon)
    sim_s, ceil_s = paired(sim, ceiling, args.repeats)
    core_s, warm = rate(core, args.repeats)
    report.notes.append(
        f"warm-up (JIT compilation of the three, first batch): {time.perf_counter() - start:.1f} s "
        f"(collector core {warm:.1f} s)"
    )
    cmd = [command(args.map, args.batch, args.episodes, args.epsilon) for _ in range(max(1, args.repeats // 2))]
    report.add("simulator alone (step_env, no policy)", sim_s, "env-steps/s")
    report.add("ceiling (step_env + first legal action)", ceil_s, "env-steps/s")
    report.add(
        "collector core (no Ray, no I/O)", core_s, "env-steps/s", reference="ceiling (step_env + first legal action)"
    )
    report.add(
        "python -m rayeaq.collect (1 actor)",
        Stats([c[0] for c in cmd]),
        "env-steps/s",
        reference="ceiling (step_env + first legal action)",
    )
    report.add("python -m rayeaq.collect wall time", Stats([c[1] for c in cmd]), "s")
    report.notes.append("goal: the command >= 0.8x the ceiling from 4 000 episodes up")
    print(report.text())
    if args.json:
        report.save(args.json)


if __name__ == "__main__":
    main()

"""Collector throughput against the true ceiling of SMAX stepping, on the same map and batch size.

References (why they are the right ones): the collector must step the simulator, draw a legal action per agent and
record every step, so its ceiling is the simulator doing only the first two —
1. ``simulator``: SMAX ``step_env`` (no auto-reset: ``step`` computes a reset on every step and selects, which is
   not work the collector does) jitted and vmapped over the same batch inside ``lax.scan``, every agent sending
   the fixed action ``stop`` (no policy at all);
2. ``ceiling``: the same with the cheapest legal-action draw (the first available action, from
   ``get_avail_actions``): no recording, no episode bookkeeping, no I/O. A collector can approach it, not beat it.
Measured: 3. ``core``: our fused collector (policy + simulator + step records + host-side episode assembly) in
this process, no Ray, no Parquet; 4. ``command``: ``python -m rayeaq.collect`` with one actor playing the same
policy (focus_weakest with noise ε: one candidate, no calibration): the env-steps/s its last line reports (the
collection, with the actors' warm-up — tracing, compilation or its cache load — apart and reported next to it) and
the whole command's transitions per wall second (Ray start, actors, warm-up, shards, card), its peak RSS (process
tree sampled with psutil) and the bytes its Parquet shards take per transition. 1–3 are repeated interleaved after
a warm-up (compilation, reported apart); 4 is a process each time.

    python benchmarks/collect.py [--map 3m] [--batch 128] [--episodes 4000] [--repeats 5] [--quick] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Report, Stats, paired, rate, run_process

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


def command(map_name: str, batch: int, episodes: int, epsilon: float, shard_episodes: int) -> dict:
    """One ``python -m rayeaq.collect`` process with one actor playing the core's policy (focus_weakest with
    noise ``epsilon``, so no calibration): the env-steps/s its last line reports (collection, warm-up apart),
    its warm-up, wall time, peak RSS and the bytes its shards take on disk per transition."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            sys.executable,
            "-m",
            "rayeaq.collect",
            str(ROOT / "tune_configs" / "collect_3m.yaml"),
            "--out",
            tmp,
            "seed=0",
            f"env.map={map_name}",
            f"collect.episodes={episodes}",
            "collect.tiers=[medium]",
            "collect.policy.kind=focus_weakest",
            f"collect.tier_bands.medium.epsilon={epsilon}",
            "collect.workers=1",
            "collect.cpus_per_worker=1",
            f"collect.envs_per_worker={batch}",
            f"collect.shard_episodes={shard_episodes}",
            "ray.num_cpus=4",
        ]
        proc = run_process(args, cwd=ROOT)
        if proc.returncode != 0:
            raise SystemExit(f"collect command failed:\n{proc.stderr[-2000:]}")
        card = json.loads((Path(tmp) / "medium" / "card.json").read_text())
        disk = sum(f.stat().st_size for f in (Path(tmp) / "medium" / "shards").glob("shard-*.parquet"))
    last = proc.stdout.strip().splitlines()[-1]
    transitions = card["stats"]["transitions"]
    return {
        "steps_per_s": float(re.search(r"([\d,]+) env-steps/s", last).group(1).replace(",", "")),
        "warmup_s": float(re.search(r"warm-up ([\d.]+)s", last).group(1)),
        "wall_s": proc.wall_s,
        "whole_steps_per_s": transitions / proc.wall_s,
        "peak_tree_mib": proc.peak_tree_rss / 2**20,
        "peak_process_mib": proc.peak_process_rss / 2**20,
        "disk_bytes_per_transition": disk / transitions,
        "transitions": transitions,
        "card": card,
    }


def step_bytes(card: dict) -> tuple[float, float]:
    """(bytes of one step's tensors at the on-disk dtypes, uncompressed; the same per transition when every
    episode is padded to T = episode_limit + 1 rows, as stored)."""
    n, do, ds, a = card["n_agents"], card["obs_shape"], card["state_shape"], card["n_actions"]
    row = n * do * 4 + ds * 4 + n * a * 1 + n * 4 + 4 + 1 + 1  # obs, state, avail, actions, reward, term., filled
    padded = row * card["max_seq_len"] * card["stats"]["episodes"] / card["stats"]["transitions"]
    return float(row), float(padded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map", default="3m")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--episodes", type=int, default=4000)
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shard-episodes", type=int, default=1000)
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
    cmd = [
        command(args.map, args.batch, args.episodes, args.epsilon, args.shard_episodes)
        for _ in range(max(1, args.repeats // 2))
    ]
    ceiling = "ceiling (step_env + first legal action)"
    report.add("simulator alone (step_env, no policy)", sim_s, "env-steps/s")
    report.add(ceiling, ceil_s, "env-steps/s")
    report.add("collector core (no Ray, no I/O)", core_s, "env-steps/s", reference=ceiling)
    report.add(
        "python -m rayeaq.collect, collection (1 actor)",
        Stats([c["steps_per_s"] for c in cmd]),
        "env-steps/s",
        reference=ceiling,
        note="warm-up apart",
    )
    report.add(
        "python -m rayeaq.collect, whole command",
        Stats([c["whole_steps_per_s"] for c in cmd]),
        "env-steps/s",
        reference=ceiling,
        note="transitions / wall time",
    )
    report.add("  its warm-up (trace, compile or cache load)", Stats([c["warmup_s"] for c in cmd]), "s")
    report.add("  its wall time", Stats([c["wall_s"] for c in cmd]), "s")
    report.add("  its peak RSS, whole process tree (Ray incl.)", Stats([c["peak_tree_mib"] for c in cmd]), "MiB")
    report.add("  its peak RSS, largest process", Stats([c["peak_process_mib"] for c in cmd]), "MiB")
    row, padded = step_bytes(cmd[0]["card"])
    report.add(
        "bytes on disk per transition (Parquet, zstd 1)", Stats([c["disk_bytes_per_transition"] for c in cmd]), "B"
    )
    report.notes.append(
        f"one step's tensors uncompressed: {row:,.0f} B; padded to T = {cmd[0]['card']['max_seq_len']} rows as "
        f"stored: {padded:,.0f} B per transition ({cmd[0]['transitions']:,} transitions, "
        f"{cmd[0]['card']['stats']['episodes']:,} episodes)"
    )
    report.notes.append("goal: the command >= 0.8x the ceiling from 4 000 episodes up")
    print(report.text())
    if args.json:
        report.save(args.json)


if __name__ == "__main__":
    main()

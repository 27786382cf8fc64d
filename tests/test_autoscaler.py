"""Autoscaling for real on one machine: Ray's fake multi-node provider with deploy/fake_cluster.yaml.

A head with 1 CPU starts with the project's autoscaling config; a workload needing more CPUs than the head
has runs against it; the autoscaler must add worker nodes (raylets on this host), the workload must finish,
and the idle workers must go away again.

Runs only when selected: ``pytest -m autoscaler`` (its own ``.ci/run`` step) or ``RAYEAQ_AUTOSCALER_TEST=1``.
The cluster gets its own temp dir, GCS port and process session; teardown kills the processes of that
session only. ``RAYEAQ_RAY_STOP=1`` adds a final ``ray stop --force``, which ends EVERY Ray process on the
machine — only for a CI step where nothing else runs.

To test another workload (e.g. a tiny ``python -m rayeaq.tune`` sweep), change :data:`WORKLOAD`: a command
run with ``RAY_ADDRESS`` pointing at the cluster, which must exit 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.autoscaler

REPO = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
HEAD_CPUS = 1

SHARED_DATASETS = os.path.join(tempfile.gettempdir(), f"rayeaq-autoscale-datasets-{os.getpid()}")
WORKLOAD: list[str] = [
    sys.executable,
    "-m",
    "rayeaq.tune",
    str(REPO / "tune_configs/quickstart.yaml"),
    "collect.episodes=60",
    "collect.shard_episodes=30",
    "collect.tier_bands.medium.epsilon=0.1",
    "fit.steps=20",
    "fit.checkpoint_every=20",
    "augment.drop_illegal=false",
    "evaluate.updates=20",
    "evaluate.eval_interval=10",
    "evaluate.eval_episodes=8",
    "evaluate.final_eval_episodes=16",
    "tune.space={augment.augmenter: {grid_search: [eaq, eaq_noq]}}",
    "tune.max_concurrent_trials=2",
    "--out",
    os.path.join(tempfile.gettempdir(), f"rayeaq-autoscale-sweep-{os.getpid()}"),
    # with RAY_ADDRESS set the sweep needs a dataset directory every node reads: on one machine, any local one
    f"tune.dataset_dir={SHARED_DATASETS}",
]  # two concurrent trials, each 0.01 CPU + a 0.99-CPU Train worker: more than the 1-CPU head
"""The command that needs more CPUs than the head has. Swap for a sweep, e.g.
``[sys.executable, "-m", "rayeaq.tune", "tune_configs/<tiny>.yaml", "--out", ...]``."""
WORKLOAD_TIMEOUT_S = 420

OBSERVER = """
import json, sys, time, ray
ray.init(address=sys.argv[1], logging_level="ERROR")
with open(sys.argv[2], "a") as out:
    while True:
        nodes = [{"id": n["NodeID"], "alive": n["Alive"], "cpu": n["Resources"].get("CPU", 0)} for n in ray.nodes()]
        out.write(json.dumps({"t": time.time(), "nodes": nodes}) + "\\n"); out.flush()
        time.sleep(1.0)
"""


def _selected(config) -> bool:
    expr = config.getoption("markexpr") or ""
    return os.environ.get("RAYEAQ_AUTOSCALER_TEST") == "1" or ("autoscaler" in expr and "not autoscaler" not in expr)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


@dataclass
class FakeCluster:
    """A running fake autoscaling cluster: ``address`` (GCS host:port), its temp dir and process session."""

    address: str
    temp_dir: str
    session_id: int
    env: dict


def _cluster_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(
        RAY_AUTH_MODE=os.environ.get("RAY_AUTH_MODE", "disabled"),
        RAY_USAGE_STATS_ENABLED="0",
        RAY_FAKE_CLUSTER="1",
        AUTOSCALER_UPDATE_INTERVAL_S="1",
        JAX_PLATFORMS="cpu",
    )
    return env


def start_fake_cluster(workdir: Path) -> FakeCluster:
    """``ray start --head`` with the project's fake-provider config (a copy pointing at a free GCS port)."""
    import ray._private.services as services

    port = _free_port()
    ip = services.get_node_ip_address()
    config = yaml.safe_load((REPO / "deploy/fake_cluster.yaml").read_text())
    config["provider"]["gcs_address"] = f"{ip}:{port}"
    config_path = workdir / "fake_cluster.yaml"
    config_path.write_text(yaml.safe_dump(config))
    temp_dir = tempfile.mkdtemp(prefix="rfake", dir="/tmp")  # short: Ray's unix socket paths must fit 107 chars
    env = _cluster_env()
    cmd = [
        RAY,
        "start",
        "--head",
        f"--port={port}",
        f"--node-ip-address={ip}",
        f"--num-cpus={HEAD_CPUS}",
        "--include-dashboard=false",
        f"--temp-dir={temp_dir}",
        f"--autoscaling-config={config_path}",
        f"--ray-client-server-port={_free_port()}",
        f"--dashboard-agent-listen-port={_free_port()}",
        "--disable-usage-stats",
    ]
    # Own session: every process the head (and later the autoscaler) spawns carries this session id.
    starter = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    out, _ = starter.communicate(timeout=180)
    cluster = FakeCluster(f"{ip}:{port}", temp_dir, starter.pid, env)
    if starter.returncode != 0:
        stop_fake_cluster(cluster)
        raise RuntimeError(f"ray start failed ({starter.returncode}):\n{out[-3000:]}")
    return cluster


def _session_pids(session_id: int) -> list[int]:
    """Pids of live processes in ``session_id`` (Linux /proc), excluding this test process."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[3]) == session_id:  # state, ppid, pgrp, session
                pids.append(int(entry.name))
    return pids


def stop_fake_cluster(cluster: FakeCluster, timeout_s: float = 30.0) -> list[int]:
    """Kill this cluster's processes only (its session), TERM then KILL; return the pids still alive."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _session_pids(cluster.session_id):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout_s
        while _session_pids(cluster.session_id) and time.monotonic() < deadline:
            time.sleep(0.5)
    if os.environ.get("RAYEAQ_RAY_STOP") == "1":
        subprocess.run([RAY, "stop", "--force"], env=cluster.env, timeout=120, check=False)
    return _session_pids(cluster.session_id)


def read_observations(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def test_fake_cluster_scales_up_runs_the_workload_and_scales_down(request, tmp_path):
    if not _selected(request.config):
        pytest.skip("starts a fake autoscaling cluster; run with `pytest -m autoscaler` (own CI step)")
    cluster = start_fake_cluster(tmp_path)
    observations = tmp_path / "nodes.jsonl"
    observer = None
    try:
        env = {**cluster.env, "RAY_ADDRESS": cluster.address}
        env.pop("RAY_FAKE_CLUSTER")
        observer = subprocess.Popen(
            [sys.executable, "-c", OBSERVER, cluster.address, str(observations)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "observer.err", "w"),
        )
        os.makedirs(SHARED_DATASETS, exist_ok=True)  # every "node" of the fake cluster reads this directory
        t0 = time.monotonic()
        result = subprocess.run(WORKLOAD, env=env, cwd=REPO, capture_output=True, text=True, timeout=WORKLOAD_TIMEOUT_S)
        workload_s = time.monotonic() - t0
        assert result.returncode == 0, f"workload failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"

        obs = read_observations(observations)
        assert obs, (tmp_path / "observer.err").read_text()[-2000:]
        head_ids = {n["id"] for n in obs[0]["nodes"] if n["alive"]}
        assert len(head_ids) == 1, f"expected the head alone at first, saw {obs[0]['nodes']}"
        max_cpus = max(sum(n["cpu"] for n in o["nodes"] if n["alive"]) for o in obs)
        workers = {n["id"] for o in obs for n in o["nodes"]} - head_ids
        assert workers, "the autoscaler added no worker node"
        assert max_cpus > HEAD_CPUS, f"cluster never grew past the head's {HEAD_CPUS} CPU"
        print(f"workload {workload_s:.1f}s; worker nodes added: {len(workers)}; peak CPUs {max_cpus:g}")

        # idle_timeout_minutes in deploy/fake_cluster.yaml is 0.5: idle workers must be removed again.
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            last = read_observations(observations)[-1]["nodes"]
            if {n["id"] for n in last if n["alive"]} == head_ids:
                break
            time.sleep(2)
        else:
            pytest.fail(f"idle worker nodes were not removed: {last}")
    finally:
        if observer is not None:
            observer.kill()
            observer.wait(timeout=30)
        left = stop_fake_cluster(cluster)
        import shutil

        shutil.rmtree(cluster.temp_dir, ignore_errors=True)
    assert not left, f"processes of the fake cluster survived teardown: {left}"

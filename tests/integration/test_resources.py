"""Infeasible resources fail fast: one line naming the config key and the cluster's resources, within seconds.

The comparison is checked on known answers; then on the session's real local Ray (4 CPUs, no GPU) for a
Ray Train GPU worker (stage core and ``python -m rayeaq.fit``), an RLlib learner GPU, a trial's resources
and a concurrency that would starve the Train workers.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from rayeaq.core.errors import ConfigError
from rayeaq.core.resources import ClusterView, Request, check_resources, shortfall
from rayeaq.data.writer import write_dataset
from rayeaq.run_config import load_run_config
from support.random_episodes import toy_spec
from support.smooth_episodes import toy_episodes

SPEC = toy_spec(episode_limit=15, n_agents=2, state_dim=8)
REPO = Path(__file__).resolve().parents[2]
CPU4 = ClusterView([{"CPU": 4.0, "memory": 8e9}])


def test_shortfall_known_answers():
    gpu = Request("fit.use_gpu/fit.workers", {"CPU": 0.9, "GPU": 1.0}, 2, "Ray Train worker")
    msg = shortfall([gpu], CPU4)
    assert msg is not None and msg.startswith("fit.use_gpu/fit.workers: each Ray Train worker needs")
    assert "no node has GPU 1" in msg and "CPU 4, GPU 0 on 1 node" in msg
    # per-node: two 2-CPU nodes cannot hold a 3-CPU bundle although the total is 4
    assert "no node has CPU 3" in shortfall([Request("k", {"CPU": 3.0})], ClusterView([{"CPU": 2.0}] * 2))
    # together: 4 x 0.9 + 0.5 fits in 4.1 CPUs, not in 4
    both = [Request("fit.cpus_per_worker/fit.workers", {"CPU": 0.9}, 4), Request("tune.resources", {"CPU": 0.5})]
    assert shortfall(both, ClusterView([{"CPU": 4.1}])) is None
    msg = shortfall(both, CPU4)
    assert "need CPU 4.1 at once" in msg and "fit.cpus_per_worker/fit.workers: 4 x" in msg and "tune.resources" in msg
    assert shortfall([Request("k", {"CPU": 1.0}, 0)], ClusterView([])) is None  # nothing asked, nothing needed


def test_autoscaling_cluster_waits_then_gives_up_or_proceeds():
    """Beyond the node types' maximum: at once. Within it: wait for nodes, up to wait_s."""
    gpu_type = [({"CPU": 8.0, "GPU": 1.0}, 2)]
    head = ClusterView([{"CPU": 0.0}], gpu_type)
    three = [Request("fit.use_gpu/fit.workers", {"CPU": 1.0, "GPU": 1.0}, 3, "Ray Train worker")]
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"need GPU 3 at once, the autoscaler can reach at most CPU 16, GPU 2"):
        check_resources(three, wait_s=60, view_fn=lambda: head, log=lambda _: None)
    assert time.monotonic() - start < 1.0
    two = [Request("fit.use_gpu/fit.workers", {"CPU": 1.0, "GPU": 1.0}, 2, "Ray Train worker")]
    lines: list[str] = []
    with pytest.raises(ConfigError, match=r"waited 0.3 s for new nodes; ray.resource_wait_s") as err:
        check_resources(two, wait_s=0.3, poll_s=0.05, view_fn=lambda: head, log=lines.append)
    assert "\n" not in str(err.value) and lines and lines[0].startswith("resources: waiting up to 0.3 s")
    views = iter(
        [head, head, ClusterView([{"CPU": 0.0}, {"CPU": 8.0, "GPU": 1.0}, {"CPU": 8.0, "GPU": 1.0}], gpu_type)]
    )
    got = check_resources(two, wait_s=5, poll_s=0.01, view_fn=lambda: next(views), log=lambda _: None)
    assert len(got.nodes) == 3


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_fit_gpu_on_cluster_without_gpu_fails_within_seconds(ray_local, tmp_path):
    from rayeaq.stages.fit import run_fit

    data = tmp_path / "real"
    write_dataset(data, toy_episodes(SPEC, 4, seed=1), SPEC, source="real")
    cfg = load_run_config(None, ["fit.use_gpu=true", "fit.workers=2"])
    start = time.monotonic()
    with pytest.raises(ConfigError) as err:
        run_fit(cfg, data, tmp_path / "fit")
    assert time.monotonic() - start < 30  # imports (torch) dominate; no Train worker group is started
    text = _one_line(err)
    assert text.startswith("fit.use_gpu/fit.workers: each Ray Train worker needs {CPU: 0.9, GPU: 1}")
    assert "the cluster has CPU 4, GPU 0 on 1 node" in text
    assert not (tmp_path / "fit" / "ray_train").exists()  # nothing started


def test_evaluate_learner_gpu_fails_fast(ray_local, tmp_path):
    from rayeaq.stages.evaluate import run_evaluation

    cfg = load_run_config(None, ["evaluate.learners=1", "evaluate.gpus_per_learner=1"])
    with pytest.raises(ConfigError) as err:
        run_evaluation(cfg, [(str(tmp_path / "never_read"), 1.0)], tmp_path / "eval")
    text = _one_line(err)
    assert text.startswith("evaluate.gpus_per_learner/evaluate.learners: each RLlib learner needs")
    assert "GPU 0" in text
    cfg = load_run_config(None, ["evaluate.rollout_workers=8", "evaluate.cpus_per_rollout_worker=1"])
    with pytest.raises(
        ConfigError, match=r"evaluate.cpus_per_rollout_worker/evaluate.rollout_workers: 8 x rollout actor"
    ):
        run_evaluation(cfg, [(str(tmp_path / "never_read"), 1.0)], tmp_path / "eval")


def test_sweep_trial_resources_and_starving_concurrency(ray_local):
    from rayeaq.sweep.driver import check_sweep_resources, load_sweep

    space = "tune.space={augment.augmenter: {grid_search: [none, gaussian_noise]}, seed: {grid_search: [0, 1]}}"
    cfg, points = load_sweep("tune_configs/quickstart.yaml", [space, "tune.resources.gpu=1"])
    with pytest.raises(ConfigError) as err:
        check_sweep_resources(cfg, points, {})
    assert _one_line(err).startswith("tune.resources: each trial process needs {CPU: 0.01, GPU: 1}")
    # 2 trials of 1.8 CPUs fit in 4 CPUs, but then their 0.9-CPU Train workers never start
    cfg, points = load_sweep(
        "tune_configs/quickstart.yaml",
        [space, "tune.resources.cpu=1.8", "tune.max_concurrent_trials=2", "fit.workers=1"],
    )
    with pytest.raises(ConfigError) as err:
        check_sweep_resources(cfg, points, {})
    text = _one_line(err)
    assert "tune.resources (x tune.max_concurrent_trials=2): 2 x trial process" in text and "need CPU 4.5" in text
    cfg, points = load_sweep(
        "tune_configs/quickstart.yaml",
        [space, "tune.resources.cpu=1.8", "tune.max_concurrent_trials=1", "fit.workers=1"],
    )
    check_sweep_resources(cfg, points, {})  # one at a time fits


@pytest.mark.slow
def test_fit_command_without_gpu_exits_2_with_one_line(tmp_path):
    """The issue's first symptom, as a user meets it: no endless 'worker group startup timed out'."""
    data = tmp_path / "real"
    write_dataset(data, toy_episodes(SPEC, 4, seed=1), SPEC, source="real")
    start = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rayeaq.fit",
            "tune_configs/fit_3m.yaml",
            "fit.use_gpu=true",
            "ray.num_cpus=2",
            "--dataset",
            str(data),
            "--out",
            str(tmp_path / "fit"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    elapsed = time.monotonic() - start
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "fit.use_gpu" in lines[0] and "GPU 0" in lines[0]
    assert elapsed < 90, elapsed  # Ray start + imports on a loaded 2-core machine; the check itself is instant


# The monitor's status (GCS key ``__autoscaling_status``) as Ray 2.60 publishes it, trimmed: after
# ``ray start --head`` without an autoscaling config (it mirrors its nodes), and under a v1 autoscaler.
MIRROR_STATUS = {
    "autoscaler_report": {
        "active_nodes": {"node_3d49e7fb": 1},
        "node_type_mapping": {"3d49e7fb": "node_3d49e7fb"},
        "legacy": True,
    }
}
V1_STATUS = {
    "autoscaler_report": {
        "active_nodes": {"ray.head.default": 1, "ray.worker.cpu": 1},
        "node_type_mapping": {"3d49e7fb": "ray.head.default", "9a0c11d2": "ray.worker.cpu"},
    }
}


def test_joined_cluster_rules_known_answers():
    """What a driver that joined someone else's cluster does with a request the cluster cannot hold now."""
    from rayeaq.core.resources import mirrors_only

    assert mirrors_only(MIRROR_STATUS) and not mirrors_only(V1_STATUS)
    assert not mirrors_only({}) and not mirrors_only({"autoscaler_report": {"node_type_mapping": {}}})
    gpu = [Request("fit.use_gpu/fit.workers", {"CPU": 0.5, "GPU": 1.0}, 1, "Ray Train worker")]
    # a v1 autoscaler (node types unknown): not refused, not requested, not waited for; one log line says so
    lines: list[str] = []
    joined = ClusterView([{"CPU": 4.0}], None, joined=True)
    start = time.monotonic()
    assert check_resources(gpu, wait_s=60, view_fn=lambda: joined, log=lines.append) is joined
    assert time.monotonic() - start < 1.0
    assert len(lines) == 1 and lines[0].startswith("resources: not checked against a cluster whose node types")
    # no autoscaler (the monitor mirrors the nodes): a fixed cluster, refused at once
    with pytest.raises(ConfigError, match=r"no node has GPU 1 \(largest 0\); the cluster has CPU 4, GPU 0"):
        check_resources(gpu, wait_s=60, view_fn=lambda: ClusterView([{"CPU": 4.0}]), log=lines.append)


@pytest.mark.slow
def test_joined_cluster_without_autoscaler_refuses_at_once(tmp_path):
    """A real ``ray start --head`` (no autoscaling config) joined by a driver process: a GPU request is one line
    naming the key, within seconds of the monitor's first status, instead of an endless wait."""
    import os
    import shutil
    import signal
    import socket
    import tempfile

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="rj", dir="/tmp")  # Ray's socket paths must stay short
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", JAX_PLATFORMS="cpu")
    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    head = subprocess.Popen(
        [ray_cli, "start", "--head", "--block", f"--port={port}", "--num-cpus=1", "--include-dashboard=false"]
        + [f"--temp-dir={temp}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    driver = f"""
import json, time, ray
from ray.experimental.internal_kv import _internal_kv_get
from rayeaq.core.errors import ConfigError
from rayeaq.core.resources import AUTOSCALING_STATUS_KEY, Request, check_resources, cluster_view


def mapping():  # the monitor's first statuses may come before it has mapped the nodes to types
    raw = _internal_kv_get(AUTOSCALING_STATUS_KEY)
    return raw and (json.loads(raw).get("autoscaler_report") or {{}}).get("node_type_mapping")


ray.init(address="127.0.0.1:{port}")
deadline = time.monotonic() + 120
while not mapping() and time.monotonic() < deadline:
    time.sleep(0.5)
print("joined:", cluster_view().joined)
start = time.monotonic()
try:
    check_resources([Request("fit.use_gpu/fit.workers", {{"CPU": 0.5, "GPU": 1.0}}, 1, "Ray Train worker")], 600)
except ConfigError as err:
    print("refused after %.1f s: %s" % (time.monotonic() - start, err))
"""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", driver], env=env, capture_output=True, text=True, timeout=240, cwd=REPO
        )
    finally:
        os.killpg(head.pid, signal.SIGKILL)  # the head and every Ray process it started (its own session)
        head.wait()
        shutil.rmtree(temp, ignore_errors=True)
    out = proc.stdout
    assert "joined: False" in out, out + proc.stderr[-2000:]
    line = next((x for x in out.splitlines() if x.startswith("refused after")), None)
    assert line is not None, out + proc.stderr[-2000:]
    assert float(line.split()[2]) < 5.0 and "fit.use_gpu/fit.workers: each Ray Train worker needs" in line, line
    assert "GPU 0 on 1 node" in line, line

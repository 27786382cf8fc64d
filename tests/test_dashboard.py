"""The Ray dashboard: a real local Ray with the dashboard, in a child process, answers its HTTP API.

The child starts its *own* Ray (``address="local"``, own temp dir, free ports) and shuts only that one
down, so it never touches other Ray clusters on the machine (no ``ray stop`` here).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from types import SimpleNamespace

import pytest

from rayeaq import dashboard

CHILD = textwrap.dedent(
    """
    import json, sys
    import ray
    from rayeaq import dashboard

    port, temp_dir = int(sys.argv[1]), sys.argv[2]
    ctx = ray.init(address="local", num_cpus=1, include_dashboard=True, dashboard_host="127.0.0.1",
                   dashboard_port=port, _temp_dir=temp_dir, logging_level="WARNING")
    url = dashboard.announce(ctx)          # to stderr, as the CLIs do

    @ray.remote(num_cpus=0)
    class Probe:
        def ping(self):
            return "pong"

    probe = Probe.options(name="rayeaq_dashboard_probe").remote()
    assert ray.get(probe.ping.remote()) == "pong"
    print(json.dumps({"url": url, "node_id": ray.get_runtime_context().get_node_id()}), flush=True)
    sys.stdin.read()                       # the test closes stdin when it has read the API
    ray.shutdown()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _readline(stream, timeout_s: float) -> str:
    """First line of ``stream`` or '' after ``timeout_s`` (a thread, so a hung child cannot hang the test)."""
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return out[0] if out else ""


def _poll(fn, timeout_s: float = 30.0):
    """Call ``fn`` until it returns something truthy (the state API lags actor creation a little)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_dashboard_url_from_contexts():
    assert dashboard.dashboard_url(SimpleNamespace(dashboard_url="127.0.0.1:8265")) == "http://127.0.0.1:8265"
    assert dashboard.dashboard_url({"dashboard_url": "http://10.0.0.1:9000"}) == "http://10.0.0.1:9000"
    assert dashboard.dashboard_url({"dashboard_url": None}) is None
    assert dashboard.dashboard_url(SimpleNamespace(dashboard_url="")) is None


def test_announce_prints_url_and_what_to_watch(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    buf = io.StringIO()
    assert dashboard.announce({"dashboard_url": "127.0.0.1:1234"}, buf) == "http://127.0.0.1:1234"
    text = buf.getvalue()
    assert "http://127.0.0.1:1234" in text
    for tab in ("Jobs", "Actors", "Train", "Cluster", "GPU"):
        assert tab in text
    assert "(RAY_AUTH_MODE=disabled)" in text and "RAY_ADDRESS=http://127.0.0.1:1234 RAY_AUTH_MODE=disabled ray" in text
    monkeypatch.delenv("RAY_AUTH_MODE")
    buf = io.StringIO()
    dashboard.announce("127.0.0.1:1234", buf)
    assert "RAY_AUTH_MODE unset" in buf.getvalue() and "RAY_AUTH_MODE=" not in buf.getvalue()
    buf = io.StringIO()
    assert dashboard.announce(None, buf) is None and "not running" in buf.getvalue()


def test_wait_until_up_times_out_on_a_closed_port():
    with pytest.raises(TimeoutError, match="did not answer"):
        dashboard.wait_until_up(f"http://127.0.0.1:{_free_port()}", timeout_s=1.0)


def test_local_ray_dashboard_answers_its_api(tmp_path):
    port = _free_port()
    # Short path: Ray's unix sockets live under the temp dir and must stay under ~107 characters.
    temp_dir = tempfile.mkdtemp(prefix="rdash", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    stderr_path = tmp_path / "child.stderr"
    with open(stderr_path, "w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(port), temp_dir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            start_new_session=True,
        )
    try:
        line = _readline(child.stdout, timeout_s=120)
        assert line, f"child did not start Ray; stderr:\n{stderr_path.read_text()[-3000:]}"
        started = json.loads(line)
        url = started["url"]
        assert url == f"http://127.0.0.1:{port}"
        assert url in stderr_path.read_text()  # announce() printed it

        version = dashboard.wait_until_up(url, timeout_s=60)
        import ray

        assert version["ray_version"] == ray.__version__

        nodes = dashboard.get_json(url, "/nodes?view=summary")
        summary = nodes["data"]["summary"]
        assert [n["raylet"]["nodeId"] for n in summary] == [started["node_id"]]
        assert summary[0]["raylet"]["state"] == "ALIVE"

        def probe_actor():
            actors = dashboard.get_json(url, "/api/v0/actors?limit=100")["data"]["result"]["result"]
            return [a for a in actors if a.get("name") == "rayeaq_dashboard_probe" and a["state"] == "ALIVE"]

        assert _poll(probe_actor), "the probe actor never appeared in /api/v0/actors"

        jobs = dashboard.get_json(url, "/api/jobs/")
        assert isinstance(jobs, list)  # job submission API answers (no submitted jobs yet)

        child.stdin.close()
        assert child.wait(timeout=90) == 0, stderr_path.read_text()[-3000:]
    finally:
        if child.poll() is None:  # only our own child (its own session): ray.init's handlers shut its Ray down
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)

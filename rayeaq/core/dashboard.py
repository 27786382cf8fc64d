"""The Ray dashboard for users of the CLIs: where it is, whether it answers, and what to watch there.

Used by ``python -m rayeaq.tune --dashboard`` (the only CLI with that flag): after
:func:`rayeaq.ray_session.ray_session` started (or joined) Ray, call :func:`announce` with its info dict or
with a ``ray.init`` context. (``ray.dashboard: true`` in a run config starts the dashboard for any command.)
Standard library only; importing this module does not import Ray.

The dashboard's HTTP API needs the same ``RAY_AUTH_MODE`` as the cluster (``rayeaq.core.ray_session`` sets
``disabled`` unless told otherwise); with token auth every ``/api/*`` call answers 401 without a token.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any, TextIO

WHAT_TO_WATCH = """\
What to watch in the Ray dashboard:
  Jobs     - the driver (`python -m rayeaq.tune ...`) and its log, which holds Tune's live trial table.
  Actors   - Tune trials (one actor per running trial), Train workers (RayTrainWorker), collector actors
             (repr collect:worker:I), rollout actors (evaluate:rollout) and RLlib learners. PENDING_CREATION means
             the resources asked for are not there yet: on an autoscaling cluster new nodes should appear in
             Cluster shortly after.
  Tasks    - named after their work: collect:TIER:I, collect:calibrate:POLICY, augment:sample:I,
             evaluate:rollout:I.
  Train    - each generator fit (a TorchTrainer run): its workers, status and errors.
  Cluster  - nodes joining and leaving under autoscaling; CPU, memory, GPU and GPU-memory use per node
             (GPU columns appear on nodes with GPUs: fitting and evaluation should keep them busy).
  Logs     - stdout/stderr of every worker per node; a trial's traceback shows up here first.
  Metrics  - time series need Prometheus + Grafana; without them use `ray status` and the Cluster tab.
"""


def dashboard_url(context: Any) -> str | None:
    """``http://host:port`` of the dashboard from a ``ray.init`` context, a ``ray_session`` info dict or a
    URL string; None when Ray runs without a dashboard."""
    if isinstance(context, dict):
        url = context.get("dashboard_url")
    elif isinstance(context, str) or context is None:
        url = context
    else:
        url = getattr(context, "dashboard_url", None)
    if not url:
        return None
    return url if url.startswith(("http://", "https://")) else f"http://{url}"


def get_json(url: str, path: str, timeout_s: float = 5.0) -> Any:
    """GET ``url + path`` and decode JSON (raises ``urllib.error.URLError``/``HTTPError`` on failure)."""
    request = urllib.request.Request(url.rstrip("/") + path, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read().decode("utf-8"))


def wait_until_up(url: str, timeout_s: float = 60.0) -> dict:
    """Poll ``/api/version`` until the dashboard answers; return its JSON. Raise ``TimeoutError`` naming the
    last error otherwise (a 401 means the caller's ``RAY_AUTH_MODE`` differs from the cluster's)."""
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        try:
            version: dict = get_json(url, "/api/version")
            return version
        except (urllib.error.URLError, OSError, ValueError) as err:  # not listening yet, or half started
            last = err
            time.sleep(0.5)
    raise TimeoutError(f"Ray dashboard at {url} did not answer /api/version within {timeout_s:.0f}s: {last!r}")


def announce(context: Any, stream: TextIO | None = None) -> str | None:
    """Print the dashboard URL and :data:`WHAT_TO_WATCH` to ``stream`` (stderr); return the URL.

    Without a dashboard, print how to get one instead.
    """
    stream = stream or sys.stderr
    url = dashboard_url(context)
    if url is None:
        print(
            "Ray dashboard: not running (set ray.dashboard=true, or `ray start --head "
            "--include-dashboard=true` and set RAY_ADDRESS).",
            file=stream,
        )
        return None
    auth = os.environ.get("RAY_AUTH_MODE")
    if auth:
        print(f"Ray dashboard: {url}   (RAY_AUTH_MODE={auth})", file=stream)
        print(f"  from another shell: RAY_ADDRESS={url} RAY_AUTH_MODE={auth} ray job list", file=stream)
    else:
        print(f"Ray dashboard: {url}   (RAY_AUTH_MODE unset: Ray's default, token auth)", file=stream)
        print(f"  from another shell: RAY_ADDRESS={url} ray job list", file=stream)
    print(WHAT_TO_WATCH, file=stream, end="")
    return url

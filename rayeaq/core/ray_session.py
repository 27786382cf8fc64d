"""Starting or joining Ray: the only place that calls ``ray.init``.

``RAY_ADDRESS`` (or ``ray.address``) joins an existing cluster; otherwise a local Ray starts with
an explicit logical CPU count, no dashboard unless asked, and logs kept out of the terminal.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from rayeaq.core.ray_config import RayConfig

# Every Ray process started from here must agree on auth, or the CLI and dashboard API answer 401.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def runtime_env() -> dict:
    """Environment for every Ray worker: JAX on CPU unless told, bounded threads."""
    env_vars = {
        "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
        "RAY_AUTH_MODE": os.environ["RAY_AUTH_MODE"],
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    return {"env_vars": env_vars}


@contextmanager
def ray_session(cfg: RayConfig) -> Iterator[dict]:
    """Init Ray (join or start), yield ``{"address", "dashboard_url", "started"}``, shut down if we started it."""
    import ray

    started = False
    info: dict = {"address": None, "dashboard_url": None, "started": False}
    if ray.is_initialized():
        yield info
        return
    address = os.environ.get("RAY_ADDRESS") or cfg.address
    kwargs: dict = {"runtime_env": runtime_env(), "log_to_driver": True, "logging_level": "WARNING"}
    if address:
        context = ray.init(address=address, **kwargs)
    else:
        context = ray.init(
            address="local",
            num_cpus=cfg.num_cpus,
            include_dashboard=cfg.dashboard,
            dashboard_host="127.0.0.1",
            dashboard_port=cfg.dashboard_port,
            **kwargs,
        )
        started = True
    info.update(address=context.address_info.get("address"), dashboard_url=context.dashboard_url, started=started)
    try:
        yield info
    finally:
        if started:
            ray.shutdown()

"""Shared fixtures. One local Ray per test session (4 logical CPUs, no dashboard), always shut down."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
os.environ.setdefault("RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S", "60")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import pytest


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray with 4 logical CPUs (more than the 2 physical ones, to avoid starvation hangs)."""
    import ray

    from rayeaq.ray_session import runtime_env

    if not ray.is_initialized():
        ray.init(
            address="local",
            num_cpus=4,
            include_dashboard=False,
            runtime_env=runtime_env(),
            logging_level="WARNING",
        )
    yield ray
    ray.shutdown()

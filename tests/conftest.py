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

    from rayeaq.core.ray_session import runtime_env

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


def _collect(tmp_path_factory, name: str, map_name: str, episodes: int, epsilon: float, tier: str):
    from rayeaq.envs.smax.maps import smax_spec
    from rayeaq.stages.collect.core import collect_local

    directory = tmp_path_factory.mktemp(name) / tier
    collect_local(smax_spec(map_name), directory, episodes, epsilon, root_seed=1234, tier=tier)
    return directory


@pytest.fixture(scope="session")
def real_3m_dataset(tmp_path_factory):
    """A real good-tier SMAX 3m dataset directory (600 episodes, heuristic ε=0, ~60 % wins)."""
    return _collect(tmp_path_factory, "real3m", "3m", 600, 0.0, "good")


@pytest.fixture(scope="session")
def real_3m_poor_dataset(tmp_path_factory):
    """A real poor-tier SMAX 3m dataset directory (300 episodes, ε=0.5, ~0 % wins)."""
    return _collect(tmp_path_factory, "real3m_poor", "3m", 300, 0.5, "poor")

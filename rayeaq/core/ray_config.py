"""Ray section of a run config: where the cluster is and how much of this machine to declare."""

from __future__ import annotations

from pydantic import Field

from rayeaq.core.config import StrictModel


class RayConfig(StrictModel):
    """How the driver joins or starts Ray. ``RAY_ADDRESS`` in the environment wins over ``address``."""

    address: str | None = None
    """Cluster address (``auto``, ``ray://host:10001``); None starts a local Ray unless RAY_ADDRESS is set."""
    num_cpus: int | None = Field(default=None, ge=1)
    """Logical CPUs of a locally started Ray (more than physical avoids starvation on 2-core laptops)."""
    dashboard: bool = False
    """Start the dashboard on 127.0.0.1 with a locally started Ray."""
    dashboard_port: int = Field(default=8265, ge=1024, le=65535)
    """Dashboard port of a locally started Ray."""
    resource_wait_s: float = Field(default=300.0, ge=0.0)
    """Seconds to wait for an autoscaling cluster to add the nodes a stage needs (a fixed cluster fails at once)."""

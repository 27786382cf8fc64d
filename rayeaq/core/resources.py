"""Fail fast on resources the Ray cluster does not have and cannot get.

A stage describes what it will hold at once as a list of :class:`Request` s (config key, one bundle, how
many); :func:`check_resources` compares them with the cluster before any work starts:

- every bundle must fit on one node (a Train worker with ``{"GPU": 1}`` on a cluster without GPUs never starts);
- the requests together must fit in the cluster's total (they are held at the same time).

On a fixed cluster (a local Ray, or a joined cluster without an autoscaler) a shortfall is a one-line
:class:`ConfigError` naming the config key and the cluster's resources. On an autoscaling cluster, requests
beyond what its node types can ever provide fail the same way; requests it could provide but does not have yet
are passed to the autoscaler (``request_resources``) and waited for, up to ``wait_s`` seconds, then fail the
same way. A joined cluster whose autoscaler publishes no node types (Ray's v1 autoscaler) cannot be judged: it
is not checked, and its autoscaler scales on the work's own demand (:attr:`ClusterView.joined`).

Ray is imported only inside :func:`cluster_view` and :func:`check_resources` (the comparison is pure).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rayeaq.core.errors import ConfigError

UNLIMITED_NODES = 1_000
"""How many nodes an autoscaler node type with no ``max_count`` (-1) stands for."""
_SHOWN = ("CPU", "GPU")
_EPS = 1e-9


@dataclass(frozen=True)
class Request:
    """``count`` copies of one resource bundle, held at the same time, configured by ``key``."""

    key: str
    """The config key(s) that decide it, as the user writes them (``fit.use_gpu/fit.workers``)."""
    resources: dict[str, float]
    """One bundle: Ray resource name -> amount (``{"CPU": 0.9, "GPU": 1}``)."""
    count: int = 1
    """Bundles of this shape held at once (Train workers, learners, concurrent trials)."""
    what: str = "worker"
    """What one bundle is, for the message (``Train worker``, ``RLlib learner``)."""


@dataclass(frozen=True)
class ClusterView:
    """What a cluster has now and, when it autoscales, what its node types could add."""

    nodes: list[dict[str, float]]
    """Total resources of each alive node."""
    node_types: list[tuple[dict[str, float], int]] | None = None
    """Autoscaler node types as (resources of one node, max nodes; -1 = unlimited); None = a fixed cluster."""
    joined: bool = False
    """This process joined a cluster someone else started whose autoscaler runs but publishes no node types
    (Ray's v1 autoscaler: the cluster launcher's, KubeRay's, the fake multi-node provider): it may grow to
    anything, so a shortfall is neither refused nor requested — the autoscaler scales on the work's own demand.
    A joined cluster without an autoscaler (its monitor only mirrors its nodes) is not ``joined``: fixed."""

    @property
    def autoscaling(self) -> bool:
        return self.node_types is not None

    def at_most(self) -> ClusterView:
        """The largest cluster the autoscaler could make: every node type at its ``max_count``."""
        if self.node_types is None:
            return self
        grown = list(self.nodes)
        for resources, count in self.node_types:
            grown += [resources] * (UNLIMITED_NODES if count < 0 else count)
        return ClusterView(grown, None)


def totals(nodes: Iterable[dict[str, float]]) -> dict[str, float]:
    """Sum of the nodes' resources."""
    out: dict[str, float] = {}
    for node in nodes:
        for name, amount in node.items():
            out[name] = out.get(name, 0.0) + float(amount)
    return out


def _fmt_amount(value: float) -> str:
    return f"{value:g}" if value < 1e6 else "unlimited"


def describe(view: ClusterView, names: Iterable[str] = ()) -> str:
    """``CPU 4, GPU 0 on 1 node`` (CPU, GPU and the named custom resources)."""
    total = totals(view.nodes)
    shown = list(_SHOWN) + sorted({n for n in names if n not in _SHOWN})
    parts = ", ".join(f"{n} {_fmt_amount(total.get(n, 0.0))}" for n in shown)
    return f"{parts} on {len(view.nodes)} node{'s' if len(view.nodes) != 1 else ''}"


def _bundle(resources: dict[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in resources.items() if v > 0) + "}"


def _fits(bundle: dict[str, float], node: dict[str, float]) -> bool:
    return all(node.get(name, 0.0) + _EPS >= amount for name, amount in bundle.items() if amount > 0)


def shortfall(requests: list[Request], view: ClusterView, where: str = "the cluster has") -> str | None:
    """The first reason ``requests`` cannot all be held on ``view``'s nodes, or None when they fit (pure)."""
    live = [r for r in requests if r.count > 0 and any(v > 0 for v in r.resources.values())]
    names = {n for r in live for n in r.resources}
    for r in live:
        if not any(_fits(r.resources, node) for node in view.nodes):
            missing = [
                n
                for n, v in r.resources.items()
                if v > 0 and not any(node.get(n, 0.0) + _EPS >= v for node in view.nodes)
            ]
            largest = max((node.get(missing[0], 0.0) for node in view.nodes), default=0.0) if missing else 0.0
            detail = (
                f"no node has {missing[0]} {r.resources[missing[0]]:g} (largest {largest:g})"
                if missing
                else "no single node has all of it"
            )
            return (
                f"{r.key}: each {r.what} needs {_bundle(r.resources)} on one node, {detail}; "
                f"{where} {describe(view, names)}"
            )
    need: dict[str, float] = {}
    for r in live:
        for name, amount in r.resources.items():
            need[name] = need.get(name, 0.0) + r.count * amount
    have = totals(view.nodes)
    for name, amount in need.items():
        if amount > have.get(name, 0.0) + _EPS:
            held = "; ".join(
                f"{r.key}: {r.count} x {r.what} {_bundle(r.resources)}" for r in live if r.resources.get(name, 0.0) > 0
            )
            return (
                f"{held} need {name} {amount:g} at once, {where} {describe(view, names)}; "
                "lower the count or the per-worker resources"
            )
    return None


def check_resources(
    requests: list[Request],
    wait_s: float = 300.0,
    poll_s: float = 2.0,
    view_fn: Callable[[], ClusterView | None] | None = None,
    log: Callable[[str], None] | None = None,
) -> ClusterView | None:
    """Raise a one-line :class:`ConfigError` unless the cluster has (or autoscales to) ``requests``.

    ``wait_s`` bounds the wait for an autoscaling cluster's nodes; a fixed cluster never waits.
    Returns the view that satisfied the requests; None (no check) when Ray is not started in this process.
    """
    view_fn = view_fn or cluster_view
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    view = view_fn()
    if view is None:  # Ray not started here: whatever starts it next decides its resources
        return None
    problem = shortfall(requests, view)
    if problem is None:
        return view
    if view.joined:  # it may autoscale, and we cannot tell to what: its autoscaler scales on the work's demand
        log(f"resources: not checked against a cluster whose node types are unknown ({problem}); waiting on demand")
        return view
    if not view.autoscaling:
        raise ConfigError(problem)
    if view.autoscaling:
        ceiling = shortfall(requests, view.at_most(), where="the autoscaler can reach at most")
        if ceiling is not None:
            raise ConfigError(ceiling)
    bundles = [dict(r.resources) for r in requests for _ in range(r.count)]
    _request_from_autoscaler(bundles, view_fn is cluster_view)
    log(f"resources: waiting up to {wait_s:g} s for the autoscaler ({problem})")
    deadline = time.monotonic() + wait_s
    try:
        while time.monotonic() < deadline:
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
            view = view_fn()
            assert view is not None  # Ray was running when the wait began
            problem = shortfall(requests, view)
            if problem is None:
                return view
    finally:
        _request_from_autoscaler([], view_fn is cluster_view)
    raise ConfigError(f"{problem} (waited {wait_s:g} s for new nodes; ray.resource_wait_s sets how long)")


def cluster_view() -> ClusterView | None:
    """The running cluster's alive nodes and, when an autoscaler published its config, its node types;
    None when this process has not started or joined Ray."""
    import ray

    if not ray.is_initialized():
        return None
    nodes = [{k: float(v) for k, v in n["Resources"].items()} for n in ray.nodes() if n.get("Alive")]
    types = _node_types()
    joined = types is None and not _started_here() and not _no_autoscaler()
    return ClusterView(nodes, types, joined=joined)


def _started_here() -> bool:
    """Whether this process started the Ray it is connected to (a local Ray: fixed, never autoscales)."""
    try:
        from ray._private import worker

        node = worker.global_worker.node
        return bool(node is not None and node.head)
    except (ImportError, AttributeError):  # the private API moved: assume a fixed local Ray (fail fast)
        return True


AUTOSCALING_STATUS_KEY = "__autoscaling_status"
"""Where Ray's monitor (the v1 autoscaler, on every head node) publishes its status in the GCS key-value store."""


def mirrors_only(status: dict) -> bool:
    """Whether a monitor status says no autoscaler runs: without an autoscaling config the monitor only mirrors
    the nodes it sees, each as a node type of its own named ``node_<node id>``; a real autoscaler's nodes carry
    its configured type names (``ray.head.default``, a worker group)."""
    report = status.get("autoscaler_report") or {}
    mapping = report.get("node_type_mapping") or {}
    return bool(mapping) and all(kind == f"node_{node}" for node, kind in mapping.items())


def _no_autoscaler() -> bool:
    """A joined cluster whose monitor mirrors its nodes only (``ray start`` without ``--autoscaling-config``,
    a KubeRay cluster without autoscaling): it never grows, so it is checked like a fixed cluster."""
    try:
        import json

        from ray.experimental.internal_kv import _internal_kv_get

        raw = _internal_kv_get(AUTOSCALING_STATUS_KEY)
        return bool(raw) and mirrors_only(json.loads(raw))
    except Exception:  # no status yet, or the private API moved: cannot tell, so do not refuse
        return False


def _node_types() -> list[tuple[dict[str, float], int]] | None:
    try:
        from ray._private.state import state

        config = state.get_cluster_config()
    except Exception:
        return None
    if config is None or not config.node_group_configs:
        return None
    return [({k: float(v) for k, v in g.resources.items()}, int(g.max_count)) for g in config.node_group_configs]


def _request_from_autoscaler(bundles: list[dict[str, float]], real: bool) -> None:
    """Ask the autoscaler for the bundles (an empty list withdraws the request)."""
    if not real:
        return
    try:
        from ray.autoscaler.sdk import request_resources

        request_resources(bundles=[{k: math.ceil(v) if k == "GPU" else v for k, v in b.items()} for b in bundles])
    except Exception:
        pass

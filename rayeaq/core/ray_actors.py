"""Which Ray actors of a run died, and how: a failure's one line names the dead process (class and pid).

Ray's own errors name the dead actor only sometimes (an ``ActorDiedError`` carries its pid; RLlib's
``ActorUnavailableError`` and an empty result list from a learner group do not). The GCS actor table always
has it: :func:`actor_ids` takes a snapshot before a run, :func:`died_since` lists the actors that appeared
after it and died other than by ``ray.kill`` or going out of scope (a SIGKILL, the OOM killer, a lost node).
Reads Ray's private state API; when it moved, both answer empty and callers fall back to the error's text.
"""

from __future__ import annotations

import time
from typing import Any

INTENDED = frozenset({"RAY_KILL", "OUT_OF_SCOPE", "REF_DELETED", "OWNER_DIED"})
"""Death reasons that are not the failure itself: ended on purpose (``ray.kill``, released handles) or taken
down with the actor that created them."""


def _table() -> dict[str, dict[str, Any]]:
    try:
        from ray._private.state import state

        return dict(state.actor_table(None))
    except Exception:  # the private API moved, or Ray is not up: no names, the caller's fallback applies
        return {}


def actor_ids() -> set[str]:
    """The IDs of every actor the cluster knows now (alive or not)."""
    return set(_table())


def _reason(info: dict[str, Any]) -> str | None:
    """The death reason's enum name (``WORKER_DIED``), or None when the actor is not dead."""
    if info.get("State") != "DEAD":
        return None
    try:
        from ray.core.generated import common_pb2

        context = info["DeathCause"].actor_died_error_context
        return str(common_pb2.ActorDiedErrorContext.Reason.Name(context.reason))
    except Exception:
        return "UNKNOWN"


def died_since(before: set[str], wait_s: float = 10.0, poll_s: float = 0.2) -> list[str]:
    """``class NAME, pid N (WORKER_DIED)`` for each actor created after ``before`` that died unintentionally;
    waits up to ``wait_s`` for the GCS to record a death the caller has already seen as an error."""
    deadline = time.monotonic() + wait_s
    while True:
        found = []
        for actor_id, info in sorted(_table().items()):
            reason = _reason(info)
            if actor_id in before or reason is None or reason in INTENDED:
                continue
            name = str(info.get("ActorClassName") or "?").rsplit(".", 1)[-1]
            found.append(f"class {name}, pid {info.get('Pid', '?')} ({reason})")
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(poll_s)

"""An exclusive lock on an output directory: two commands never write the same ``--out`` at once.

``OUT/.rayeaq.lock`` is held with ``fcntl.flock`` for as long as the command runs and names its holder
(pid, host, command). A second command asking for the same directory gets a one-line :class:`OutLockedError`
naming the holder. The kernel drops the lock when its process dies (even by SIGKILL), so the lock file a
dead process left behind is simply taken over by the next command. (``flock`` works across processes of
one machine and, on Linux NFSv4 mounts, across machines.)
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rayeaq.core.errors import UserError

LOCK_NAME = ".rayeaq.lock"


class OutLockedError(UserError):
    """Another live command holds the output directory's lock."""


@contextmanager
def out_lock(out_dir: str | Path, command: str | None = None) -> Iterator[Path]:
    """Hold the exclusive lock on ``out_dir`` (created if missing) for the ``with`` block; yields the lock path."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise UserError(f"--out {out}: cannot create or lock the output directory ({err.strerror or err})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutLockedError(
                f"--out {out}: in use by {_holder(fd)}; wait for it to finish or choose another --out"
            ) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": command or " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode("utf-8"), 0)
        yield out / LOCK_NAME
    finally:
        os.close(fd)  # releases the flock


def _holder(fd: int) -> str:
    """``pid 123 on host (python -m rayeaq.fit ...)`` from the lock file, or a plain phrase."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return f"pid {info['pid']} on {info['host']} ({info['command'][:80]})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another command"

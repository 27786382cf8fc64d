"""Two commands never write the same --out: the second refuses with one line; a dead holder's lock is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from rayeaq.core.outlock import LOCK_NAME, OutLockedError, out_lock

HOLDER = """
import sys, time
from rayeaq.core.outlock import out_lock
with out_lock(sys.argv[1], "holder command"):
    print("locked", flush=True)
    time.sleep(600)
"""


def _holder(out) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_refuses_and_dead_holder_is_taken_over(tmp_path):
    out = tmp_path / "out"
    proc = _holder(out)
    try:
        with pytest.raises(OutLockedError) as err, out_lock(out):
            pass
        text = str(err.value)
        assert "\n" not in text and f"in use by pid {proc.pid}" in text and "holder command" in text
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # the holder dies without cleaning up: its lock file stays
        proc.wait(timeout=30)
    assert (out / LOCK_NAME).is_file()
    with out_lock(out, "next command") as path:  # taken over
        assert f'"pid": {os.getpid()}' in path.read_text()
    with out_lock(out):  # released at the end of the block
        pass


def test_fit_and_sweep_refuse_a_locked_out(tmp_path):
    from rayeaq.run_config import load_run_config
    from rayeaq.stages.fit import run_fit
    from rayeaq.sweep.driver import run_sweep

    proc = _holder(tmp_path / "sweep")
    try:
        start = time.monotonic()
        with pytest.raises(OutLockedError, match=f"in use by pid {proc.pid}"):
            run_sweep("tune_configs/quickstart.yaml", [], str(tmp_path / "sweep"), resume=False, dashboard=False)
        assert time.monotonic() - start < 30
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    proc = _holder(tmp_path / "fit")
    try:
        with pytest.raises(OutLockedError, match=f"in use by pid {proc.pid}"):
            run_fit(load_run_config(None, []), tmp_path / "no_dataset", tmp_path / "fit")  # the lock comes first
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_unwritable_out_is_one_line(tmp_path):
    """An --out that cannot be created (read-only file system; a path under a regular file) is refused at once."""
    from rayeaq.core.errors import UserError

    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    for out in (blocker / "out", "/proc/rayeaq-read-only-out"):
        with pytest.raises(UserError) as err, out_lock(out):
            pass
        text = str(err.value)
        assert "\n" not in text and text.startswith(f"--out {out}: cannot create or lock the output directory")
    assert blocker.read_text() == "not a directory"

"""``--out`` on a full or read-only disk: one line naming the file, exit 2, earlier outputs intact, no partial shard.

The disks are real. A full disk: a 256 KiB tmpfs mounted in a private user + mount namespace (``unshare -rm``,
no root needed where unprivileged user namespaces are enabled); the commands run inside it as a user runs them
and the directory is copied out before the namespace ends. A read-only disk: the same tmpfs remounted
read-only. Where namespaces are not available that test is skipped; the in-process test below always runs: it
points the writer's temporary shard at ``/dev/full``, whose every write the kernel answers with ENOSPC.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_bad_inputs import SPEC, _dataset

from rayeaq.core.output import OutputError
from rayeaq.data.card import CARD_NAME, SHARD_DIR, read_card
from rayeaq.data.reader import load_dataset
from rayeaq.data.writer import write_dataset
from support.smooth_episodes import toy_episodes

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
set -u
mount -t tmpfs -o size=256k tmpfs "$M"
run() {  # name, augment args...: exit code and stderr into $LOGS/name.{rc,err}
    name=$1; shift
    "$PY" -m rayeaq.augment tune_configs/quickstart.yaml augment.augmenter=gaussian_noise \
        augment.fidelity_samples=10 --dataset "$REAL" "$@" 2>"$LOGS/$name.err" >/dev/null
    echo $? >"$LOGS/$name.rc"
}
run first augment.num_episodes=10 --out "$M/first"
cp -a "$M/." "$COPY/after_first"
run full augment.num_episodes=400 --out "$M/full"
mount -o remount,ro "$M"
run rerun_ro augment.num_episodes=10 --out "$M/first"
run fresh_ro augment.num_episodes=10 --out "$M/fresh"
cp -a "$M/." "$COPY/end"
"""


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True, timeout=30
    )
    return probe.returncode == 0


def _error_line(logs: Path, name: str) -> str:
    rc = int((logs / f"{name}.rc").read_text())
    err = (logs / f"{name}.err").read_text()
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), (name, rc, err[-2000:])
    return lines[0]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.skipif(not _namespaces_work(), reason="no unprivileged user + mount namespaces here (unshare -rm)")
def test_augment_command_on_a_full_then_read_only_disk(tmp_path):
    real = _dataset(tmp_path / "real", n=40)
    mount, logs, copy = tmp_path / "disk", tmp_path / "logs", tmp_path / "copy"
    for d in (mount, logs, copy):
        d.mkdir()
    env = {
        **os.environ,
        "M": str(mount),
        "LOGS": str(logs),
        "COPY": str(copy),
        "REAL": str(real),
        "PY": sys.executable,
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.run(
        ["unshare", "-rm", "bash", "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (logs / "first.rc").read_text().strip() == "0", (logs / "first.err").read_text()[-2000:]
    first = copy / "after_first" / "first"
    before = _files(first)

    # full disk: one line naming the shard that did not fit; no shard, temporary or card left in its place
    line = _error_line(logs, "full")
    assert f"{mount}/full/{SHARD_DIR}/shard-" in line and "No space left on device" in line, line
    full = copy / "end" / "full"
    assert not (full / CARD_NAME).exists()
    assert not list((full / SHARD_DIR).glob("*"))  # not even a hidden temporary

    # read-only disk: a rerun into the earlier output and a fresh --out both fail at their first write
    line = _error_line(logs, "rerun_ro")
    assert f"{mount}/first" in line and "Read-only file system" in line, line
    line = _error_line(logs, "fresh_ro")
    assert f"{mount}/fresh" in line and "Read-only file system" in line, line

    # the earlier output survived all three, byte for byte, and is still a readable dataset
    assert _files(copy / "end" / "first") == before
    data = load_dataset(copy / "end" / "first")
    assert len(data.episodes) == 10 and data.card.fingerprint == read_card(first).fingerprint


def test_shard_that_meets_a_full_disk_is_one_line_and_leaves_no_partial_file(tmp_path):
    """The second of three shards is written to /dev/full (a real ENOSPC from the kernel)."""
    out = tmp_path / "d"
    shards = out / SHARD_DIR
    shards.mkdir(parents=True)
    tmp = shards / f".shard-000000004.parquet.tmp-{os.getpid()}"  # the writer's temporary name for shard 2
    os.symlink("/dev/full", tmp)
    with pytest.raises(OutputError) as err:
        write_dataset(out, toy_episodes(SPEC, 12, seed=2), SPEC, source="real", shard_episodes=4)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"{shards / 'shard-000000004.parquet'}: cannot write (No space left")
    assert sorted(p.name for p in shards.iterdir()) == ["shard-000000000.parquet"]  # temporary removed, no shard 2
    assert not (out / CARD_NAME).exists()  # not a dataset: nothing for a later stage to read
    with pytest.raises(Exception, match="card"):
        load_dataset(out)
    write_dataset(out, toy_episodes(SPEC, 12, seed=2), SPEC, source="real", shard_episodes=4)  # disk freed: rerun
    assert len(load_dataset(out).episodes) == 12


def test_a_disk_error_inside_a_ray_task_is_still_one_line(ray_local, tmp_path, capsys):
    """Collectors and sampling tasks write shards inside Ray workers: Ray wraps their OutputError with a
    traceback, and the command still prints the error's own line (exit 2)."""
    import ray

    from rayeaq.cli import EXIT_USER_ERROR, run_cli

    shards = tmp_path / "d" / SHARD_DIR
    shards.mkdir(parents=True)

    @ray.remote(num_cpus=0.01, max_retries=0)
    def write_on_full_disk(episodes, spec) -> None:
        os.symlink("/dev/full", shards / f".shard-000000000.parquet.tmp-{os.getpid()}")
        write_dataset(tmp_path / "d", episodes, spec, source="real")

    def main(argv) -> int:
        ray.get(write_on_full_disk.remote(toy_episodes(SPEC, 4, seed=2), SPEC))
        return 0

    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, [])
    assert exit_info.value.code == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert err == f"error: {shards / 'shard-000000000.parquet'}: cannot write (No space left on device); " + (
        "free some space or choose another --out, then rerun"
    ), err

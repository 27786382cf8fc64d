"""Writing outputs: a full or read-only disk is one line naming the file, never a traceback or a partial file.

A failure on the disk's side (no space left, quota, read-only file system, permission denied, file too large)
is for the user to fix (free space, choose another ``--out``), so it becomes an :class:`OutputError` (a
:class:`~rayeaq.core.errors.UserError`: one line, exit 2). Writers write to a hidden temporary name and rename
it into place; :func:`writing` removes that temporary when the write fails, so a failed write leaves neither a
partial file that a reader would take as data nor the bytes that filled the disk. Any other ``OSError`` passes
through unchanged (it is a bug or an input problem, reported elsewhere).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from rayeaq.core.errors import UserError

DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG})
"""``errno`` values that mean "this place cannot take the output" (pyarrow's ``OSError`` carries them too)."""


class OutputError(UserError):
    """An output file cannot be written: the disk is full or read-only, or the directory is not writable."""


def is_disk_error(err: BaseException) -> bool:
    """Whether ``err`` is an ``OSError`` whose errno is one of :data:`DISK_ERRNOS`."""
    return isinstance(err, OSError) and err.errno in DISK_ERRNOS


def output_error(path: str | Path | None, err: OSError) -> OutputError:
    """``PATH: cannot write (No space left on device); ...`` (the file the failed call named when ``path`` is
    None; pyarrow's errors name none, so writers pass their final path)."""
    where = path if path is not None else (err.filename or "output")
    reason = os.strerror(err.errno) if err.errno else str(err)
    hint = "free some space" if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "make it writable"
    return OutputError(f"{where}: cannot write ({reason}); {hint} or choose another --out, then rerun")


@contextmanager
def writing(path: str | Path, tmp: str | Path | None = None) -> Iterator[None]:
    """Around the write of ``path`` (through ``tmp``, its temporary): a disk error removes ``tmp`` and becomes an
    :class:`OutputError` naming ``path``; other errors also remove ``tmp`` and pass through."""
    try:
        yield
    except BaseException as err:
        if tmp is not None:
            with suppress(OSError):
                os.unlink(tmp)
        if isinstance(err, OSError) and is_disk_error(err):
            raise output_error(path, err) from None
        raise

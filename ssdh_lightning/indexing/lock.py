"""One build of an index at a time: an exclusive ``flock`` on ``<index>.work/lock``, held by the
first process of a build from its first look at the index to its last file.

A second build fails at once, naming the process that holds the lock, and touches nothing: the
first build's work folder and its generation files stay as they are. The lock file holds the
holder's process id and is removed when the lock is let go, so an idle index leaves no file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = "lock"
# Where Lightning's launchers, torchrun and SLURM tell a process its rank; any of them non-zero
# means a process that the first one (which holds the lock) started or runs beside.
_RANK_VARIABLES = ("RANK", "NODE_RANK", "LOCAL_RANK", "SLURM_PROCID")


class IndexLocked(RuntimeError):
    """Another build holds the lock of this index."""


def is_first_process() -> bool:
    """Whether this process is the first of its build (the only one, outside DDP)."""
    return all(os.environ.get(name, "0") == "0" for name in _RANK_VARIABLES)


@contextmanager
def build_lock(work_root: Path, index_folder: Path) -> Iterator[None]:
    """Hold the lock of the index ``index_folder`` (its file in ``work_root``) for the block;
    raises ``IndexLocked`` when another process holds it. Processes other than the first of a
    build run under the first one's lock and take none."""
    if not is_first_process():
        yield
        return
    path = work_root / LOCK_FILE
    work_root.mkdir(parents=True, exist_ok=True)
    handle = _acquire(path, index_folder)
    try:
        os.ftruncate(handle, 0)
        os.write(handle, f"{os.getpid()}\n".encode())
        yield
    finally:
        # removed while still held, so that a process waiting on this file sees it is stale
        path.unlink(missing_ok=True)
        _remove_if_empty(work_root)
        os.close(handle)


def _acquire(path: Path, index_folder: Path) -> int:
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(handle)
            os.close(handle)
            raise IndexLocked(
                f"another build of the index {index_folder} is running (process {holder}, "
                f"which holds {path}); wait for it to finish, or stop it (kill {holder}) and "
                "run this command again"
            ) from None
        if _same_file(handle, path):
            return handle
        os.close(handle)  # the holder removed this file as it let go: lock the new one


def _holder(handle: int) -> str:
    text = os.pread(handle, 32, 0).decode("ascii", "replace").strip()
    return text if text.isdigit() else "unknown: it has not written its id yet"


def _same_file(handle: int, path: Path) -> bool:
    try:
        found = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(handle)
    return (found.st_dev, found.st_ino) == (held.st_dev, held.st_ino)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # it holds shards of an unfinished build, or is gone
        folder.rmdir()

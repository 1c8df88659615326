"""Files a user keeps are written atomically: a temporary file beside the target, then a rename."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write`` on a temporary file in ``path``'s folder, flush it to disk, rename it.

    Running out of space raises ``OSError`` (ENOSPC) "no space left writing <path>", whatever
    ``write`` makes of it, and the temporary file is removed; ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide shared results
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if is_out_of_space(error):
            raise no_space_error(str(path), path.parent, error) from error
        raise
    return path


# torch.save reports a failed write of its zip stream (a full disk) only as this RuntimeError
_TORCH_SHORT_WRITE = "unexpected pos"


def is_out_of_space(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(error, RuntimeError) and _TORCH_SHORT_WRITE in str(error)


def free_bytes(folder: str | Path) -> int:
    """The bytes that an unprivileged writer may still use on ``folder``'s file system."""
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def no_space_error(
    what: str, folder: str | Path, error: BaseException, needed: int | None = None
) -> OSError:
    """The OSError that names a write which ran out of space: what, where, and how much is free."""
    wanted = f" (at least {needed} bytes needed)" if needed is not None else ""
    return OSError(
        errno.ENOSPC,
        f"no space left writing {what}{wanted}: {free_bytes(folder)} bytes free in {folder} "
        f"({str(error).splitlines()[0]}); free some space there, or write to another file system",
    )


def _read_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it: set and restore, once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))


def write_json(path: str | Path, value: Any) -> Path:
    return write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); it may be truncated") from None


_READ_CHUNK = 1 << 22


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file, read in chunks (through the page cache, never memory-mapped)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()

"""Atomic file writes: a reader sees the old file or the whole new one, never half of one.

The data go to a hidden temporary file beside the target, are flushed to disk with
``fsync``, and the temporary file is renamed over the target (atomic on POSIX and
on Windows for one volume). A failure removes the temporary file and re-raises.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Callable


def temporary_path(path: Path) -> Path:
    """The hidden name a write to ``path`` goes through (the same folder, so rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_atomic(path: Path, write: Callable[[BinaryIO], None], mode: int = 0o644) -> None:
    """Call ``write`` on a temporary file, fsync it, then rename it to ``path``.

    The file gets ``mode`` less the user's umask, as a file written in place would.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """``path.write_bytes(data)``, atomically."""
    write_atomic(path, lambda f: f.write(data), mode)

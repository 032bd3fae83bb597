"""The one atomic file write: a reader sees the old file or the whole new one, never half of one.

The data go to a hidden temporary file beside the target (``.NAME.XXXXXXXX.partial``),
are flushed to disk with ``fsync``, and the temporary file is renamed over the target
(atomic on POSIX and on Windows for one volume), then the folder is synced so the
rename survives a power cut. A failure, Ctrl-C or SIGTERM removes the temporary file
and re-raises. Every file the library writes goes through here: outputs, weights,
checkpoints, the manifest, the training cache, downloads, ONNX files, README blocks.
"""

from __future__ import annotations

import glob
import os
import secrets
from pathlib import Path
from typing import BinaryIO, Callable, TypeVar

T = TypeVar("T")
PARTIAL_SUFFIX = ".partial"


def write_atomic(
    path: Path, write: Callable[[BinaryIO], T], mode: int = 0o644, clear_stale: bool = False
) -> T:
    """Call ``write`` on a temporary file, fsync it, rename it to ``path``; return what ``write`` returned.

    The file gets ``mode`` less the user's umask, as a file created in place would.
    ``clear_stale`` first removes temporaries of ``path`` that a killed writer left
    (the batch command, where re-running is how an interrupted run resumes); it is off
    by default because two processes may write one file (DDP ranks filling a cache).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if clear_stale:
        for stale in path.parent.glob(f".{glob.escape(path.name)}.*{PARTIAL_SUFFIX}"):
            stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
    try:
        # os.open applies the umask to mode; mkstemp would leave the file private (0600).
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as f:
            result = write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)
    return result


def write_bytes_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """``path.write_bytes(data)``, atomically."""
    write_atomic(path, lambda f: f.write(data), mode)


def _sync_folder(folder: Path) -> None:
    # The rename is durable only once the folder is on disk too; not every platform can.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

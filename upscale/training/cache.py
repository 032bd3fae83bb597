"""The on-disk cache of degraded training images: degrade once, crop many times.

One entry per (image content, scale, scale-augmentation factor, colour, input kind,
code version) holds the whole image's protocol arrays. The key starts with a hash of
the image file's bytes, so an edited image simply misses its old entry. Every entry
carries a digest of its own arrays, so a truncated or corrupt entry is detected on
reading and rebuilt. Entries are written atomically; two runs sharing a cache at
worst build the same entry twice.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..files import write_atomic
from ..hub.download import default_cache_dir

# Bump when what an entry holds changes (the degradation, the resize, the layout):
# old entries are then ignored rather than misread.
CACHE_VERSION = 1

Arrays = dict[str, np.ndarray]


def default_training_cache() -> Path:
    """``<user cache>/training`` (``$UPSCALE_CACHE`` moves the whole cache)."""
    return default_cache_dir() / "training"


def file_digest(path: Path) -> str:
    """Hash of a file's bytes: the content part of every key made from it."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def array_digest(arr: np.ndarray) -> str:
    """Hash of an in-memory image (shape and bytes), for images that have no file."""
    h = hashlib.blake2b(repr((arr.shape, arr.dtype.str)).encode(), digest_size=16)
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class EntryKey:
    """What one cache entry is the degradation of."""

    content: str  # file_digest / array_digest of the HR image
    scale: int
    factor: float  # scale augmentation: the HR image resized by this first
    color: str  # "y" or "rgb"
    pre_upsample: bool

    @property
    def filename(self) -> str:
        kind = "up" if self.pre_upsample else "lr"
        return f"{self.content}_x{self.scale}_f{self.factor:.4f}_{self.color}_{kind}_v{CACHE_VERSION}.npz"


def _check(arrays: Arrays) -> np.ndarray:
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        arr = arrays[name]
        h.update(f"{name}:{arr.shape}:{arr.dtype.str};".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return np.frombuffer(h.digest(), dtype=np.uint8)


def _read(path: Path) -> Optional[Arrays]:
    """The entry's arrays, or None when it is missing, unreadable or fails its digest."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None
    stored = arrays.pop("_check", None)
    if stored is None or not np.array_equal(stored, _check(arrays)):
        return None
    return arrays


def _write(path: Path, arrays: Arrays) -> None:
    write_atomic(path, lambda f: np.savez(f, _check=_check(arrays), **arrays))


class EntryStatus(str, Enum):
    HIT = "hit"
    BUILT = "built"  # no entry yet
    REBUILT = "rebuilt"  # an entry was there but corrupt


def load_or_build(folder: Optional[Path], key: EntryKey, build: Callable[[], Arrays]) -> tuple[Arrays, str]:
    """The arrays of ``key``: read from ``folder`` if valid, else built (and stored when a folder is given)."""
    if folder is None:
        return build(), EntryStatus.BUILT
    path = Path(folder) / key.filename
    arrays = _read(path)
    if arrays is not None:
        return arrays, EntryStatus.HIT
    status = EntryStatus.REBUILT if path.exists() else EntryStatus.BUILT
    arrays = build()
    _write(path, arrays)
    return arrays, status

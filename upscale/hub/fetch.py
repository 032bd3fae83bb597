"""Finding a shipped weights file: the weights folder, then the user cache, then a download.

Packaging policy: a file smaller than ``WHEEL_MAX_BYTES`` (4 MiB: SRCNN, FSRCNN, ESPCN,
VDSR, LapSRN) ships inside the wheel as package data; a larger one (DRCN, SRDenseNet,
SRGAN, RDN at 6-90 MB) is listed in the wheel's manifest only, so that installs stay
small, and is downloaded on first use. The patterns in pyproject.toml carry the policy
out and tests/test_wheel.py checks a built wheel against ``ships_in_wheel``.

Lookup for a file ``name`` (``weights_dir()`` is ``$UPSCALE_WEIGHTS``, else the installed
package data, else the checkout's ``weights/``):

1. ``weights_dir()/name``;
2. if the folder's manifest lists ``name``: ``<user cache>/weights/name`` when its size
   and sha256 match the entry;
3. else a download from ``$UPSCALE_WEIGHTS_URL/name`` into the cache, kept only when its
   sha256 matches the entry.

A library module: it raises ``WeightsError`` / ``DownloadError`` and never prints.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import Any, BinaryIO, Optional

from ..errors import WeightsError
from ..files import write_atomic
from .download import check_digest, default_cache_dir, stream_url
from .manifest import read_manifest, verify_entry

WHEEL_MAX_BYTES = 4 * 1024 * 1024
URL_ENV = "UPSCALE_WEIGHTS_URL"


def ships_in_wheel(entry: dict[str, Any]) -> bool:
    """Whether the manifest entry's file belongs in the wheel (else it is downloaded)."""
    return int(entry["bytes"]) < WHEEL_MAX_BYTES


def weights_cache_dir() -> Path:
    """``<user cache>/weights``: downloaded weights files (``$UPSCALE_CACHE`` moves it)."""
    return default_cache_dir() / "weights"


def is_shipped(folder: Path, name: str) -> bool:
    """``name`` is in ``folder`` or listed in its manifest; never touches the network."""
    return (folder / name).is_file() or name in read_manifest(folder)


def find_shipped(folder: Path, name: str) -> Optional[Path]:
    """The path of shipped weights file ``name`` (fetched if need be), or None if there is none."""
    local = folder / name
    if local.is_file():
        return local
    entry = read_manifest(folder).get(name)
    if entry is None:
        return None
    cached = weights_cache_dir() / name
    if _verified(cached, entry):
        return cached
    return fetch_weights(name, entry, cached)


def _verified(path: Path, entry: dict[str, Any]) -> bool:
    if not path.is_file():
        return False
    try:
        verify_entry(path, entry)
    except WeightsError:
        return False  # an older version (the manifest moved on) or a damaged copy: fetch again
    return True


def weights_url(name: str, dest: Path) -> str:
    """``$UPSCALE_WEIGHTS_URL/name``; without the variable, an error saying how to provide the file."""
    base = os.environ.get(URL_ENV, "").strip()
    if not base:
        # The project has no public hosting yet, so there is no honest default URL.
        raise WeightsError(
            f"{name} is not in this install (files from {WHEEL_MAX_BYTES >> 20} MiB up are downloaded) "
            f"and {URL_ENV} is not set; set it to a base URL that serves {name}, or copy the file to {dest}"
        )
    return f"{base.rstrip('/')}/{urllib.parse.quote(name)}"


def fetch_weights(name: str, entry: dict[str, Any], dest: Path) -> Path:
    """Download ``name`` to ``dest``; the file appears there only if its sha256 matches ``entry``."""
    url = weights_url(name, dest)

    def write(out: BinaryIO) -> None:
        # Raising here, before write_atomic renames, leaves nothing at dest.
        check_digest(name, "sha256", entry["sha256"], stream_url(url, out, name))

    try:
        write_atomic(dest, write)
    except OSError as exc:
        raise WeightsError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    return dest

"""The one HTTP downloader, shared by benchmark sets and weights files, and the user cache.

A library module: failures raise ``DownloadError`` with the URL and the reason on one
line; it never prints or exits. Checksums are computed while the body streams, so a
file is read once.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from ..errors import DownloadError

TIMEOUT_S = 60.0
_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """``$UPSCALE_CACHE``, else ``$XDG_CACHE_HOME/upscale``, else ``~/.cache/upscale``."""
    if os.environ.get("UPSCALE_CACHE"):
        return Path(os.environ["UPSCALE_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "upscale"
    return Path.home() / ".cache" / "upscale"


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def _reason(exc: BaseException) -> str | None:
    """What went wrong, for the errors a download can meet; None for anything else."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, (OSError, ValueError, http.client.HTTPException)):
        return str(exc) or type(exc).__name__
    return None


def stream_url(url: str, out: BinaryIO, label: str) -> str:
    """Write the body of ``url`` to ``out``; return its sha256 (hex)."""
    digest = hashlib.sha256()
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "upscale"})
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as resp:
            while chunk := resp.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except Exception as exc:
        reason = _reason(exc)
        if reason is None:
            raise
        raise DownloadError(f"cannot download {label} from {url}: {one_line(reason)}") from exc
    return digest.hexdigest()


def download_to_temp(url: str, folder: Path, label: str) -> tuple[Path, str]:
    """Stream ``url`` to a new hidden file in ``folder``; return it and its sha256.

    The caller checks the digest and then renames, extracts or removes the file; a
    failed download removes it here.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = stream_url(url, out, label)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest


def check_digest(label: str, what: str, expected: str, actual: str, hint: str = "") -> None:
    """Raise ``DownloadError`` unless ``actual`` is ``expected`` (hex, any case)."""
    if actual.lower() != expected.lower():
        raise DownloadError(f"{what} mismatch for {label}: expected {expected.lower()}, got {actual}{hint}")

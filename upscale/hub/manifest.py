"""The weights manifest: every shipped file's checksum, size and measured scores.

``weights/MANIFEST.json`` maps a file name to its sha256, byte size, architecture,
scale and the Set5/Set14 PSNR/SSIM that ``upscale eval`` measured when the file was
added. A test re-checks every entry, so a change in code or weights that moves a
score shows up in CI.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..errors import WeightsError
from ..files import write_bytes_atomic
from .weights import read_weights, weights_dir

MANIFEST_NAME = "MANIFEST.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(folder: Path | None = None) -> Path:
    return (folder or weights_dir()) / MANIFEST_NAME


def read_manifest(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """File name -> entry; an absent manifest is an empty one."""
    path = manifest_path(folder)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError) as exc:
        raise WeightsError(f"{path}: not a weights manifest ({exc})") from None


def write_manifest(entries: dict[str, dict[str, Any]], folder: Path | None = None) -> Path:
    path = manifest_path(folder)
    write_bytes_atomic(path, (json.dumps({"files": dict(sorted(entries.items()))}, indent=2) + "\n").encode())
    return path


def make_entry(
    path: Path,
    scores: dict[str, dict[str, dict[str, float]]],
    drift: dict[str, dict[str, float]] | None = None,
    context: dict[str, int] | None = None,
    check: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An entry for ``path``; ``scores`` is ``{"x4": {"Set5": {"psnr": .., "ssim": ..}}}``.

    ``drift`` is ``{"x4": {"bf16": .., "fp16": ..}}``: the PSNR change from fp32 on the
    first set, which ``--precision auto`` reads before it runs a network in bf16.
    ``context`` is ``{"x4": 32}``: the LR pixels of context its tiles need, measured
    (evaluation/tile_context.py), which the engine pads tiles of this file by.
    ``check`` is the quick record the tests hold the file to (evaluation/scoring.py:
    ``file_check``).
    """
    _, meta = read_weights(path)
    entry = {
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "arch": meta["arch"],
        "scale": meta["scale"],
        "variant": meta.get("variant"),
        "steps": meta.get("steps"),
        "scores": scores,
    }
    if drift:
        entry["drift"] = drift
    if context:
        entry["context"] = context
    if check:
        entry["check"] = check
    return entry


def verify_entry(path: Path, entry: dict[str, Any]) -> None:
    """The file is the one the manifest describes (size and sha256)."""
    if not path.is_file():
        raise WeightsError(f"{path}: listed in the manifest but missing")
    if path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
        raise WeightsError(f"{path}: sha256 or size differs from {MANIFEST_NAME}")

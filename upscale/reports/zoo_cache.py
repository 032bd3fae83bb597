"""Zoo rows kept between runs, so a regenerated table re-measures only what is new.

A row of RDN or DRCN costs this CPU many minutes (BSD100 above all), and
the table is regenerated each time a model ships. A row is kept in the user cache
under a key of everything its numbers depend on but the code: the weights file's
sha256, the scale, each set's name and image bytes, the package and PyTorch
versions, and the CPU (the drift and the timing are this machine's). The code is
covered by measuring the first set (Set5) again on every run: a kept row is used
only when that matches what was kept, so a change that moves any score is caught
on the set that costs least.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch

from .._version import __version__
from ..evaluation.datasets import BenchmarkSet
from ..evaluation.evaluate import EvalResult
from ..files import write_bytes_atomic
from ..hub.download import default_cache_dir
from ..machine import cpu_name

# Fresh and kept first-set PSNRs agree to this (dB): on one machine and one PyTorch the
# numbers repeat to the last digit, so anything past rounding means the code changed.
SAME_PSNR_DB = 1e-4


@dataclass(frozen=True)
class KeptRow:
    """What a zoo row measured that is worth keeping: its sets' results, drift and time."""

    results: tuple[EvalResult, ...]
    drift: tuple[tuple[str, float], ...]
    cpu_ms_256: float


def zoo_cache_dir() -> Path:
    return default_cache_dir() / "zoo"


def set_digests(benches: Sequence[BenchmarkSet]) -> list[tuple[str, str]]:
    """Each set's name and a digest of its images' names and bytes (read once per zoo run)."""
    out = []
    for bench in benches:
        digest = hashlib.sha256()
        for path in bench.files:
            digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        out.append((bench.name, digest.hexdigest()))
    return out


def row_key(weights_sha256: str, scale: int, digests: Sequence[tuple[str, str]], timed: bool) -> str:
    parts = [weights_sha256, scale, [list(d) for d in digests], __version__, torch.__version__, cpu_name(), timed]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def read_row(folder: Path, key: str) -> Optional[KeptRow]:
    """The kept row, or None if there is none or it cannot be read (it is then measured anew)."""
    try:
        data = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
        return KeptRow(tuple(EvalResult.from_dict(r) for r in data["results"]), tuple((p, d) for p, d in data["drift"]),
                       float(data["cpu_ms_256"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_row(folder: Path, key: str, row: KeptRow) -> None:
    write_bytes_atomic(folder / f"{key}.json", (json.dumps(dataclasses.asdict(row)) + "\n").encode())


def agrees(kept: EvalResult, fresh: EvalResult) -> bool:
    """The first set measured now gives what the kept row says, image by image."""
    if [i.name for i in kept.images] != [i.name for i in fresh.images]:
        return False
    return all(abs(a.psnr - b.psnr) <= SAME_PSNR_DB for a, b in zip(kept.images, fresh.images))

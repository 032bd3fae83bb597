"""The zoo table's committed record: every row as last measured, and the CPU that timed it.

A full zoo run on a machine new to the user cache measures every row again: on a
2-core AMD EPYC without AMX that is hours for RDN alone (BSD100 above all), and fp16
autocast there ran a convolution 6x slower than fp32. The record, kept next to the
manifest (``weights/ZOO.json``) and rewritten with the README's table, lets
``upscale zoo --models NAME`` measure only the rows of those models and keep every
other row as last measured. A kept row's time and drift belong to the CPU that measured
them, so the record keeps that CPU and the table names it.

A row is kept only for the same weights file (its sha256) and the same sets; anything
else has to be measured, and the error says which.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import UsageError
from ..evaluation.evaluate import EvalResult
from ..files import write_bytes_atomic

RECORD_NAME = "ZOO.json"


class StaleZooRowError(UsageError):
    """``--models`` left out a row that the record cannot give as it would be measured now."""


def record_path(folder: Path) -> Path:
    return folder / RECORD_NAME


def plain(result: EvalResult) -> dict[str, Any]:
    """``result`` as the record keeps it: the means, no per-image scores (those stay in the
    user cache, zoo_cache.py), and null for a number not measured (NaN is not JSON)."""
    data = {k: v for k, v in result.to_dict().items() if k != "images"}
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in data.items()}


def read_record(folder: Path) -> list[dict[str, Any]]:
    """The recorded rows, as JSON objects (an absent record is an empty one)."""
    path = record_path(folder)
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8"))["rows"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a zoo record ({exc}); run `upscale zoo` without --models") from None


def recorded_row(rows: Sequence[Mapping[str, Any]], file: str, sha256: str, scale: int,
                 set_names: Sequence[str]) -> dict[str, Any]:
    """The record's row for this file and scale, or StaleZooRowError saying why it cannot be kept."""
    label = f"{file} x{scale}"
    row = next((r for r in rows if r["file"] == file and int(r["scale"]) == scale), None)
    if row is None:
        raise StaleZooRowError(f"{label} has no row in the zoo record; measure it too (add its model to --models)")
    if row["sha256"] != sha256:
        raise StaleZooRowError(f"{label} changed since its zoo row was measured; add its model to --models")
    if [r["set"] for r in row["results"]] != list(set_names):
        raise StaleZooRowError(f"{label} was recorded on {', '.join(r['set'] for r in row['results'])}, "
                               f"not {', '.join(set_names)}; add its model to --models")
    return row


def write_record(folder: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    path = record_path(folder)
    write_bytes_atomic(path, (json.dumps({"rows": list(rows)}, indent=1) + "\n").encode())
    return path

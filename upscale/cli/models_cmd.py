"""``upscale models``: the registry as a table or JSON."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.table import Table

from ..reports.listing import model_rows
from .app import VersionFlag, command
from .console import emit_json, out_console


def short_citation(paper: str) -> str:
    """``"Dong, Loy, Tang, Accelerating ..., ECCV 2016"`` -> ``"Dong, ECCV 2016"``: fits 80 columns."""
    first_author = paper.split(",", 1)[0].split()[0]
    return f"{first_author}, {paper.rsplit(',', 1)[-1].strip()}"


def compact_count(n: int) -> str:
    """12,809 -> ``12.8k``; 665,921 -> ``666k``; 22,123,395 -> ``22.1M``: three digits."""
    return f"{n / 1e6:.3g}M" if n >= 1e6 else f"{n / 1e3:.3g}k"


def parameter_range(counts: dict[str, int]) -> str:
    low, high = min(counts.values()), max(counts.values())
    return compact_count(low) if compact_count(low) == compact_count(high) else f"{compact_count(low)}-{compact_count(high)}"


@command("models")
def models_command(
    _version: VersionFlag = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """List the architectures, their papers, scales and weights."""
    rows = model_rows()
    if as_json:
        emit_json(rows)
        return
    # input: the LR image, or its bicubic upsampling (SRCNN, VDSR, DRCN).
    # No box and short cells, so that the table reads whole at 80 columns; --json has it all.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True, caption="Full titles and exact counts: upscale models --json")
    for col in ("name", "paper", "scales", "input", "colour", "params", "weights"):
        table.add_column(col, justify="right" if col == "params" else "left", no_wrap=True)
    for r in rows:
        table.add_row(
            r["name"],
            short_citation(r["paper"]),
            " ".join(str(s) for s in r["scales"]),
            "bicubic" if r["input"] == "pre_upsampled" else r["input"].upper(),
            r["colour"].upper(),
            parameter_range(r["parameters"]),
            " ".join(str(s) for s in r["weights"]) or "none yet",
        )
    out_console.print(table)

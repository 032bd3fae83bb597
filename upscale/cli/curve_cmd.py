"""``upscale curve``: the validation curve of training runs, as a picture."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List

import typer

from ..errors import UsageError
from ..imaging.image_io import write_png
from ..reports.curve import Line, curve_panels, read_curves
from .app import VersionFlag, command
from .console import out_console


def parse_line(text: str) -> Line:
    """``LABEL=PSNR`` on every panel, or ``xS:LABEL=PSNR`` on scale S's panel only."""
    label, sep, value = text.rpartition("=")
    head, colon, rest = label.partition(":")
    scale = int(head[1:]) if colon and head.startswith("x") and head[1:].isdigit() else None
    label = rest if scale is not None else label
    try:
        if not sep or not label.strip():
            raise ValueError
        return Line(f"{label.strip()} {float(value):.2f}", float(value), scale)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not LABEL=PSNR or xS:LABEL=PSNR (e.g. 'VDSR paper=37.53', 'x2:bicubic=33.66')"
        ) from None


@command("curve")
def curve_command(  # keyword-only, so the required RUNS and --out may follow --version
    *,
    _version: VersionFlag = False,
    runs: Annotated[List[Path], typer.Argument(help="Run folders (the --out of upscale train).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the PNG.")],
    lines: Annotated[
        List[str],
        typer.Option("--line", help="Another dashed line, LABEL=PSNR, or xS:LABEL=PSNR for scale S only (repeatable)."),
    ] = [],  # noqa: B006 (typer reads the default; it is never mutated)
) -> None:
    """Draw the validation PSNR of training runs by step.

    One panel per scale (a multi-scale run such as VDSR's has one for each scale it
    validates), with the paper's value and the best shipped file at that scale as
    dashed lines.
    """
    curves = [curve for run in runs for curve in read_curves(run)]
    if len({c.val_set for c in curves}) > 1:
        raise UsageError("the runs were validated on different sets; draw them apart")
    write_png(out, curve_panels(curves, [parse_line(t) for t in lines]))
    for c in curves:
        step, psnr = c.points[-1]
        out_console.print(f"{c.label}: {len(c.points)} validations, {c.val_set} {psnr:.2f} dB at step {step:,}")
    out_console.print(f"wrote {out}")

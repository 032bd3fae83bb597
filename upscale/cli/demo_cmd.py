"""``upscale demo``: the main job on a built-in picture, no files needed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..reports.demo import run_demo
from .app import VersionFlag, command
from .console import out_console
from .options import ScaleOption, parse_scales


@command("demo")
def demo_command(
    _version: VersionFlag = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo's pictures.")] = Path("upscale-demo"),
    scale: ScaleOption = "4",
) -> None:
    """Restore a built-in picture and write a side-by-side comparison."""
    (factor,) = parse_scales(scale)[:1]
    result = run_demo(out, factor)
    table = Table(title=f"Built-in picture, x{result.scale} (Y-channel PSNR / SSIM against the original)")
    table.add_column("method")
    table.add_column("PSNR (dB)", justify="right")
    table.add_column("SSIM", justify="right")
    table.add_column("output")
    for s in result.scores:
        table.add_row(s.method, f"{s.psnr:.2f}", f"{s.ssim:.4f}", str(s.path))
    out_console.print(table)
    out_console.print(f"Comparison picture: {result.comparison_path}")

"""``upscale bench``: latency and peak memory of the inference path."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..bench import bench_model
from ..engine import from_module, load_model
from ..errors import UsageError
from .app import VersionFlag, command
from .console import emit_json, out_console, progress_bar
from .options import parse_scales


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not WIDTHxHEIGHT (e.g. 256x256)") from None
    if w < 1 or h < 1:
        raise typer.BadParameter("width and height must be positive")
    return w, h


@command("bench")
def bench_command(
    _version: VersionFlag = False,
    model: str = typer.Option(..., "--model", "-m", help="Model name."),
    scale: str = typer.Option("4", "--scale", "-x", help="Upscaling factor."),
    size: str = typer.Option("256x256", "--size", help="Input size, WIDTHxHEIGHT."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    precision: str = typer.Option("auto", "--precision", help="auto, fp32, fp16 or bf16."),
    tile: Optional[int] = typer.Option(None, "--tile", help="Tile size in LR pixels (0 = whole image)."),
    runs: int = typer.Option(3, "--runs", min=1, help="Timed runs after one warm-up."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="Weights file."),
    random_init: bool = typer.Option(False, "--random-init", help="Time a freshly initialised network (no weights)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """Time one model on a built-in picture and report its peak memory."""
    (factor,) = parse_scales(scale)[:1]
    width, height = parse_size(size)
    if random_init and weights:
        raise UsageError("--random-init and --weights exclude each other")
    loaded = from_module(model, factor) if random_init else load_model(model, factor, weights)
    with progress_bar() as report:
        result = bench_model(loaded, width, height, device, precision, tile, runs, report)
    if as_json:
        emit_json(result.to_dict())
        return
    table = Table(title=f"{result.model} x{result.scale} on {width}x{height} ({result.device})")
    for col in ("parameters", "median s", "output MP/s", "peak memory"):
        table.add_column(col, justify="right")
    table.add_row(
        f"{result.parameters:,}",
        f"{result.median_seconds:.3f}",
        f"{result.output_mpix_per_second:.2f}",
        f"{result.peak_memory_bytes / 2**30:.2f} GiB ({result.memory_kind})",
    )
    out_console.print(table)

"""``upscale IMAGE... --model NAME -x N``: the main job."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..batch import expand_inputs, upscale_files
from ..engine import load_model
from .app import VersionFlag, command
from .console import emit_json, err_console, out_console, progress_bar
from .options import parse_scales


@command("upscale")
def upscale_command(
    _version: VersionFlag = False,
    inputs: List[str] = typer.Argument(..., help="Images, folders or globs."),
    model: str = typer.Option("rdn", "--model", "-m", help="Model name (see `upscale models`)."),
    scale: str = typer.Option("4", "--scale", "-x", help="Upscaling factor."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (one input) or folder."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="Weights file (default: shipped weights)."),
    tile: Optional[int] = typer.Option(None, "--tile", help="Tile size in LR pixels (0 = whole image; default: auto)."),
    tile_pad: Optional[int] = typer.Option(None, "--tile-pad", help="Context around tiles (default: receptive radius)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    precision: str = typer.Option("auto", "--precision", help="auto, fp32, fp16 or bf16."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Descend into sub-folders."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs (never inputs)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per input on stdout."),
) -> None:
    """Upscale images (the default command: `upscale photo.jpg --model rdn -x 4`)."""
    (factor,) = parse_scales(scale)[:1]
    paths = expand_inputs(inputs, recursive)
    loaded = load_model(model, factor, weights)
    failed = 0
    with progress_bar() as report:
        results = upscale_files(
            paths, loaded, out, overwrite, report, tile=tile, tile_pad=tile_pad, device=device, precision=precision
        )
        for r in results:
            failed += r.status == "failed"
            if as_json:
                emit_json(r.to_dict())
            elif r.status == "ok":
                out_console.print(f"{r.input} -> {r.output} ({r.seconds:.2f} s)")
            else:
                err_console.print(f"[yellow]{r.status}:[/] {r.input}: {r.error}", highlight=False)
    if failed:
        raise typer.Exit(1)

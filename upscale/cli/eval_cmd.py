"""``upscale eval``: PSNR/SSIM on benchmark sets under the papers' exact protocol."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..evaluation.datasets import resolve_set
from ..evaluation.evaluate import EvalResult, evaluate
from ..evaluation.restorers import default_scales, resolve_method
from ..inference.options import InferenceOptions, InferencePrecision
from ..reports.markdown import eval_markdown, replace_block
from .app import VersionFlag, command
from .console import emit_json, out_console, progress_bar
from .options import DeviceOption, parse_names, parse_scales


@command("eval")
def eval_command(
    _version: VersionFlag = False,
    model: Annotated[str, typer.Option("--model", "-m", help="Model name(s), comma-separated.")] = "bicubic",
    set_: Annotated[
        str,
        typer.Option("--set", "-s", help="Benchmark set name(s) (Set5, Set14, BSD100, ...) or folders of HR images."),
    ] = "Set5",
    scale: Annotated[
        Optional[str],
        typer.Option("--scale", "-x", help="Scale(s), comma-separated (default: every scale the model has weights "
                     "for; bicubic: 2,3,4)."),
    ] = None,
    per_image: Annotated[bool, typer.Option("--per-image", help="Also show every image's scores.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON on stdout.")] = False,
    download: Annotated[bool, typer.Option("--download/--no-download", help="Fetch a missing known set.")] = True,
    weights: Annotated[
        Optional[Path], typer.Option("--weights", "-w", help="Weights file (default: shipped weights).")
    ] = None,
    tile: Annotated[Optional[int], typer.Option("--tile", help="Tile size in LR pixels (0 = whole image).")] = None,
    device: DeviceOption = "auto",
    precision: Annotated[
        InferencePrecision,
        typer.Option("--precision", help="fp32 (the default) gives the exact protocol numbers."),
    ] = InferencePrecision.FP32,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print a markdown table next to the published values.")
    ] = False,
    readme: Annotated[
        Optional[Path],
        typer.Option("--readme", help="Write the markdown table into this file's <!-- upscale:eval --> block."),
    ] = None,
) -> None:
    """Measure PSNR/SSIM on benchmark sets, as the papers did.

    Y channel (BT.601), border shaved by the scale.
    """
    asked = parse_scales(scale) if scale is not None else None
    options = InferenceOptions.parse(tile=tile, device=device, precision=precision)
    methods = []
    for name in parse_names(model):
        scales = asked or default_scales(name, weights)
        methods.append((name, scales, resolve_method(name, scales, weights, options)))
    results: list[EvalResult] = []
    with progress_bar() as report:
        sets = [resolve_set(name, download=download, progress=report) for name in parse_names(set_)]
        for name, scales, planes in methods:
            for bench in sets:
                for s in scales:
                    results.append(evaluate(name, planes, bench, s, progress=report))
    if as_json:
        emit_json([r.to_dict() for r in results])
        return
    if markdown or readme:
        text = eval_markdown(results, "upscale " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
        if readme:
            replace_block(readme, "eval", text)
        else:
            typer.echo(text)
        return
    out_console.print(summary_table(results))
    if per_image:
        for r in results:
            out_console.print(image_table(r))


def summary_table(results: list[EvalResult]) -> Table:
    table = Table(title="Y-channel PSNR / SSIM (MATLAB bicubic degradation, border = scale)")
    for col in ("model", "set", "scale"):
        table.add_column(col)
    for col in ("PSNR (dB)", "SSIM", "images", "seconds"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(r.model, r.set, f"x{r.scale}", f"{r.psnr:.2f}", f"{r.ssim:.4f}", str(r.n_images), f"{r.seconds:.1f}")
    return table


def image_table(result: EvalResult) -> Table:
    table = Table(title=f"{result.model} on {result.set} x{result.scale}")
    table.add_column("image")
    table.add_column("PSNR (dB)", justify="right")
    table.add_column("SSIM", justify="right")
    for img in result.images:
        table.add_row(img.name, f"{img.psnr:.2f}", f"{img.ssim:.4f}")
    return table

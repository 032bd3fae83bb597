"""``upscale compare``: side-by-side crops of several methods on one image, with PSNR."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..compare import compare_methods, comparison_strip, restorer
from ..errors import UsageError
from ..image_io import read_image
from .app import VersionFlag, command
from .console import out_console
from .options import parse_names, parse_scales


def parse_box(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not X,Y,WIDTH,HEIGHT") from None
    if w < 1 or h < 1 or x < 0 or y < 0:
        raise typer.BadParameter("the crop needs x, y >= 0 and a positive size")
    return x, y, w, h


@command("compare")
def compare_command(
    _version: VersionFlag = False,
    image: Path = typer.Argument(..., help="An HR image: it is degraded, then restored by each method."),
    models: str = typer.Option("bicubic", "--models", "-m", help="Methods, comma-separated (bicubic or a model)."),
    scale: str = typer.Option("4", "--scale", "-x", help="Upscaling factor."),
    crop: Optional[str] = typer.Option(None, "--crop", help="X,Y,WIDTH,HEIGHT in HR pixels (default: a centre crop)."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="Weights file (one network)."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the comparison PNG."),
) -> None:
    """Restore a degraded image with several models, side by side.

    IMAGE is degraded with the MATLAB bicubic, restored with each method, and
    the crops are shown side by side.
    """
    (factor,) = parse_scales(scale)[:1]
    names = parse_names(models)
    if out.resolve() == image.resolve():
        raise UsageError("--out would overwrite the input image")
    networks = [n for n in names if n.lower() != "bicubic"]
    if weights is not None and len(networks) != 1:
        raise UsageError("--weights needs exactly one network in --models")
    methods = [(n, restorer(n, factor, weights)) for n in names]
    panels, outputs = compare_methods(read_image(image), factor, methods, parse_box(crop) if crop else None)
    comparison_strip(panels).save(out)
    for name, _, psnr, ssim in outputs:
        out_console.print(f"{name}: {psnr:.2f} dB / {ssim:.4f}")
    out_console.print(f"wrote {out}")

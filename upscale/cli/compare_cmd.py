"""``upscale compare``: side-by-side crops of several methods on one image, with PSNR."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from ..imaging.image_io import read_image, write_png
from ..reports.compare import compare_methods, comparison_sheet, restorer
from .app import VersionFlag, command
from .console import out_console
from .options import ScaleOption, parse_names, parse_scales


def parse_box(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not X,Y,WIDTH,HEIGHT") from None
    if w < 1 or h < 1 or x < 0 or y < 0:
        raise typer.BadParameter("the crop needs x, y >= 0 and a positive size")
    return x, y, w, h


@command("compare")
def compare_command(  # keyword-only, so the required IMAGE and --out may follow --version
    *,
    _version: VersionFlag = False,
    image: Annotated[Path, typer.Argument(help="An HR image: it is degraded, then restored by each method.")],
    models: Annotated[
        str, typer.Option("--models", "-m", help="Methods, comma-separated (bicubic or a model).")
    ] = "bicubic",
    scale: ScaleOption = "4",
    crop: Annotated[
        Optional[str], typer.Option("--crop", help="X,Y,WIDTH,HEIGHT in HR pixels (default: a centre crop).")
    ] = None,
    weights: Annotated[Optional[Path], typer.Option("--weights", "-w", help="Weights file (one network).")] = None,
    columns: Annotated[
        Optional[int],
        typer.Option("--columns", min=1, help="Panels per row (default: one row up to 7, else balanced rows)."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the comparison PNG.")],
) -> None:
    """Restore a degraded image with several models, side by side.

    IMAGE is degraded with the MATLAB bicubic, restored with each method, and
    the crops are shown side by side, in rows when there are many.
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
    write_png(out, comparison_sheet(panels, columns=columns))
    for name, _, psnr, ssim in outputs:
        out_console.print(f"{name}: {psnr:.2f} dB / {ssim:.4f}")
    out_console.print(f"wrote {out}")

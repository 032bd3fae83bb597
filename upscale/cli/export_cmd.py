"""``upscale export``: a network as an ONNX file other runtimes can load."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..engine import load_model
from ..errors import UsageError
from ..onnx_export import DEFAULT_OPSET, FORMATS, export_onnx
from .app import VersionFlag, command
from .console import err_console, out_console
from .options import parse_scales


@command("export")
def export_command(
    _version: VersionFlag = False,
    model: str = typer.Option(..., "--model", "-m", help="Model name (see `upscale models`)."),
    scale: str = typer.Option(..., "--scale", "-x", help="Upscaling factor."),
    fmt: str = typer.Option("onnx", "--format", help="Export format: onnx."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="Weights file (default: the shipped one)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (default: NAME_xN.onnx here)."),
    opset: int = typer.Option(DEFAULT_OPSET, "--opset", help="ONNX opset version."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
) -> None:
    """Export a network to ONNX and check it in ONNX Runtime.

    Dynamic height and width; the export is checked against PyTorch.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    (factor,) = parse_scales(scale)[:1]
    loaded = load_model(model, factor, weights)
    path = out if out is not None else Path(f"{loaded.name}_x{factor}.{fmt}")
    with err_console.status(f"exporting {loaded.name} x{factor} to ONNX and checking it in ONNX Runtime"):
        report = export_onnx(loaded, path, opset=opset, overwrite=force)
    shape = "x".join(str(v) for v in report.check_shape)
    out_console.print(f"wrote {report.path} (ONNX opset {report.opset}, input {report.input_layout}, N, H and W dynamic)")
    ratio = report.file_bytes / report.weight_bytes
    out_console.print(
        f"size {report.file_bytes / 1e6:.3g} MB, {ratio:.2f}x its {report.weight_bytes / 1e6:.3g} MB of float32 "
        f"weights; {report.nodes} nodes"
    )
    out_console.print(f"ONNX Runtime vs PyTorch on a {shape} input: max abs diff {report.max_abs_diff:.3g}")

"""``upscale export``: a network as an ONNX file other runtimes can load."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..inference.loading import load_model
from ..inference.onnx_export import DEFAULT_OPSET, export_onnx
from .app import VersionFlag, command
from .console import err_console, out_console
from .options import ScaleOption, parse_scales


class ExportFormat(str, Enum):
    """``--format``: the formats :func:`export_onnx` writes (``upscale.inference.onnx_export.FORMATS``)."""

    ONNX = "onnx"


@command("export")
def export_command(  # keyword-only, so the required options may follow --version
    *,
    _version: VersionFlag = False,
    model: Annotated[str, typer.Option("--model", "-m", help="Model name (see `upscale models`).")],
    scale: ScaleOption,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="Export format: onnx.")] = ExportFormat.ONNX,
    weights: Annotated[
        Optional[Path], typer.Option("--weights", "-w", help="Weights file (default: the shipped one).")
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Output file (default: NAME_xN.onnx here).")
    ] = None,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset version.")] = DEFAULT_OPSET,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
) -> None:
    """Export a network to ONNX and check it in ONNX Runtime.

    Dynamic height and width; the export is checked against PyTorch.
    """
    (factor,) = parse_scales(scale)[:1]
    loaded = load_model(model, factor, weights)
    path = out if out is not None else Path(f"{loaded.name}_x{factor}.{fmt.value}")
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

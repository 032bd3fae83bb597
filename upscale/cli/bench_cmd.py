"""``upscale bench``: latency and peak memory of the inference path."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..bench import bench_model, bench_train_step, bench_train_step_isolated
from ..engine import pick_device
from ..models import get_spec, list_models
from ..progress import Progress
from ..report import replace_block, train_step_markdown
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
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name ('all' with --train)."),
    scale: str = typer.Option("4", "--scale", "-x", help="Upscaling factor."),
    size: str = typer.Option("256x256", "--size", help="Input size, WIDTHxHEIGHT."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    precision: str = typer.Option("auto", "--precision", help="auto, fp32, fp16 or bf16."),
    tile: Optional[int] = typer.Option(None, "--tile", help="Tile size in LR pixels (0 = whole image)."),
    runs: int = typer.Option(3, "--runs", min=1, help="Timed runs after one warm-up."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="Weights file."),
    random_init: bool = typer.Option(False, "--random-init", help="Time a freshly initialised network (no weights)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    train: bool = typer.Option(False, "--train", help="Time one training step per model instead."),
    batch: Optional[int] = typer.Option(None, "--batch", help="--train: batch (default: the recipe's)."),
    patch: Optional[int] = typer.Option(None, "--patch", help="--train: patch (default: the recipe's)."),
    readme: Optional[Path] = typer.Option(None, "--readme", help="--train: write the table into this file."),
) -> None:
    """Time one model on a built-in picture and report its peak memory (or, with --train, one training step)."""
    (factor,) = parse_scales(scale)[:1]
    if train:
        _bench_training(model or "all", factor, device, precision, batch, patch, runs, as_json, readme)
        return
    if model is None:
        raise UsageError("--model is required (except with --train)")
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


def _bench_training(
    model: str, scale: int, device: str, precision: str, batch: Optional[int], patch: Optional[int],
    runs: int, as_json: bool, readme: Optional[Path],
) -> None:
    names = list_models() if model.lower() == "all" else [get_spec(model).name]
    cpu = pick_device(device).type == "cpu"
    results = []
    with progress_bar() as report:
        for i, name in enumerate(names):
            report(Progress("training steps", i, len(names), name))
            s = scale if scale in get_spec(name).scales else max(get_spec(name).scales)
            probe = bench_train_step_isolated if cpu and len(names) > 1 else bench_train_step
            results.append(probe(name, s, device=device, precision=precision, batch=batch, patch=patch, runs=runs))
        report(Progress("training steps", len(names), len(names)))
    if as_json:
        emit_json([r.to_dict() for r in results])
        return
    text = train_step_markdown(results, "upscale " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    if readme:
        replace_block(readme, "train-bench", text)
    else:
        typer.echo(text)

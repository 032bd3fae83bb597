"""``upscale bench``: speed, FLOPs, memory of every model next to bicubic (and OpenCV)."""

from __future__ import annotations

import dataclasses
import shlex
import statistics
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import torch
import typer
from rich.table import Table

from ..errors import UsageError
from ..inference.options import AUTOCAST, InferenceOptions, InferencePrecision, pick_device, resolve_options
from ..inference.precision import cpu_has_bf16
from ..models import get_spec, list_models
from ..progress import Progress
from ..reports.bench import BenchResult, bench_bicubic, bench_named_model, bench_opencv, bench_precisions, paired_peer_ratio
from ..reports.markdown import bench_markdown, replace_block, train_step_markdown
from ..reports.opencv_peer import peer_of
from ..reports.timing import bench_isolated, conv_peak_tflops
from ..reports.train_bench import bench_train_step, bench_train_step_isolated
from ..training.precision import Precision
from .app import VersionFlag, command
from .console import emit_json, out_console, progress_bar
from .options import DeviceOption, ScaleOption, parse_scales


class Peer(str, Enum):
    """``--vs``: another program's models, timed in the same process."""

    OPENCV = "opencv"


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not WIDTHxHEIGHT (e.g. 256x256)") from None
    if w < 1 or h < 1:
        raise typer.BadParameter("width and height must be positive")
    return w, h


def _names(model: str) -> list[str]:
    return list_models() if model.lower() == "all" else [get_spec(n).name for n in model.split(",")]


@command("bench")
def bench_command(
    _version: VersionFlag = False,
    model: Annotated[str, typer.Option("--model", "-m", help="Model name(s), comma-separated, or 'all'.")] = "all",
    scale: ScaleOption = "4",
    size: Annotated[
        Optional[str],
        typer.Option("--size", help="LR input size, WIDTHxHEIGHT (default: 256x256 on a GPU, 64x64 on the CPU)."),
    ] = None,
    device: DeviceOption = "auto",
    precision: Annotated[
        InferencePrecision,
        typer.Option("--precision", help="auto: as upscale does; with --train, as upscale train does."),
    ] = InferencePrecision.AUTO,
    tile: Annotated[Optional[int], typer.Option("--tile", help="Tile size in LR pixels (0 = whole image).")] = None,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Timed runs after one warm-up.")] = 3,
    weights: Annotated[Optional[Path], typer.Option("--weights", "-w", help="Weights file (one model).")] = None,
    vs: Annotated[Optional[Peer], typer.Option("--vs", help="Also run a peer in the same process.")] = None,
    opencv_models: Annotated[
        Optional[Path],
        typer.Option(
            "--opencv-models",
            envvar="UPSCALE_OPENCV_MODELS",
            help="--vs opencv: folder of OpenCV dnn_superres .pb files (FSRCNN_x4.pb, ...).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    readme: Annotated[Optional[Path], typer.Option("--readme", help="Write the markdown table into this file.")] = None,
    block: Annotated[str, typer.Option("--block", help="--readme: the name of the generated block.")] = "bench",
    repeat: Annotated[
        int, typer.Option("--repeat", min=1, help="--vs: run the whole comparison this many times.")
    ] = 1,
    train: Annotated[bool, typer.Option("--train", help="Time one training step per model instead.")] = False,
    batch: Annotated[Optional[int], typer.Option("--batch", help="--train: batch (default: the recipe's).")] = None,
    patch: Annotated[Optional[int], typer.Option("--patch", help="--train: patch (default: the recipe's).")] = None,
) -> None:
    """Time inference or a training step per model.

    The whole inference path: latency, MP/s, FLOPs, share of peak, memory.
    """
    (factor,) = parse_scales(scale)[:1]
    if train:
        _bench_training(model, factor, device, Precision(precision.value), batch, patch, runs, as_json, readme)
        return
    if vs is Peer.OPENCV and opencv_models is None:
        raise UsageError("--vs opencv needs --opencv-models DIR (or $UPSCALE_OPENCV_MODELS): OpenCV's .pb files")
    names = _names(model)
    if weights is not None and len(names) != 1:
        raise UsageError("--weights needs a single --model")
    options = InferenceOptions.parse(tile=tile, device=device, precision=precision)
    resolved = resolve_options(options)
    dev = resolved.device
    width, height = parse_size(size or ("64x64" if dev.type == "cpu" else "256x256"))
    precisions = bench_precisions(options)
    # Each row's share of peak is of a 64->64 3x3 convolution in its own precision, measured now.
    peaks = {p.value: conv_peak_tflops(dev, AUTOCAST.get(p, torch.float32)) for p in precisions}
    # On the CPU every row runs in a fresh process, so each peak RSS is that row's alone.
    run = bench_isolated if dev.type == "cpu" else (lambda fn, *a, **k: fn(*a, **k))
    ratios: dict[str, list[float]] = {}  # --vs: the peer's time over ours, one paired measurement per round
    with progress_bar() as report:
        for k in range(repeat):
            results = [run(bench_bicubic, width, height, factor, runs)]
            for i, name in enumerate(names):
                report(Progress("bench", k * len(names) + i, repeat * len(names), name))
                if factor not in get_spec(name).scales:
                    continue
                paired = vs is Peer.OPENCV and peer_of(name, factor) is not None
                for p in precisions:
                    asked = dataclasses.replace(options, precision=p)
                    results.append(run(bench_named_model, name, factor, weights, width, height, asked, runs, peaks[p.value]))
                    if paired:
                        key, ratio = run(paired_peer_ratio, name, factor, weights, width, height, opencv_models, asked, runs)
                        ratios.setdefault(key, []).append(ratio)
                if paired:
                    results.append(run(bench_opencv, opencv_models, name, factor, width, height, runs))
        report(Progress("bench", repeat * len(names), repeat * len(names)))
    if vs is Peer.OPENCV and not any(r.model.startswith("opencv-") for r in results):
        raise UsageError(f"--vs opencv compares fsrcnn, espcn and lapsrn; none of {', '.join(names)} at x{factor}")
    _render(results, peaks, ratios, as_json, readme, block)


def _render(
    results: list[BenchResult], peaks: dict[str, float], ratios: dict[str, list[float]], as_json: bool,
    readme: Optional[Path], block: str,
) -> None:
    if as_json:
        emit_json({"conv_peak_tflops": peaks, "peer_ratios": ratios, "results": [r.to_dict() for r in results]})
        return
    command_line = "upscale " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if readme:
        replace_block(readme, block, bench_markdown(results, peaks, command_line, ratios))
        return
    shown = ", ".join(f"{p} {v:.2f}" for p, v in peaks.items())
    table = Table(title=f"upscale bench (conv peak, TFLOP/s: {shown})")
    for col in ("model", "x", "prec", "params", "GFLOP/MP", "ms", "MP/s", "vs bicubic", "TFLOP/s", "of peak", "vs fresh", "peak mem"):
        table.add_column(col, justify="left" if col == "model" else "right")
    base = results[0].output_mpix_per_second
    for r in results:
        table.add_row(
            r.model, str(r.scale), r.precision, f"{r.parameters:,}", _opt(r.gflops_per_output_mp, ".1f"),
            f"{r.median_seconds * 1000:.1f}", f"{r.output_mpix_per_second:.2f}",
            f"{r.output_mpix_per_second / base:.2f}x", _opt(r.achieved_tflops, ".3f"),
            _opt(r.fraction_of_peak, ".0%"), _opt(r.fresh_ratio, ".2f"),
            f"{r.peak_memory_bytes / 2**20:.0f} MiB",
        )
    out_console.print(table)
    for key, values in ratios.items():
        out_console.print(f"{key}: the peer's time over ours, each run {_ratio_runs(values)}")


def _ratio_runs(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}x" for v in values) + f" (median {statistics.median(values):.2f}x)"


def _opt(value: Optional[float], fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def _bench_training(
    model: str, scale: int, device: str, precision: Precision, batch: Optional[int], patch: Optional[int],
    runs: int, as_json: bool, readme: Optional[Path],
) -> None:
    names = _names(model)
    dev = pick_device(device)
    cpu = dev.type == "cpu"
    dtypes = [torch.float32] + ([torch.bfloat16] if not cpu or cpu_has_bf16() else [])
    peaks = {d: conv_peak_tflops(dev, d) for d in dtypes}  # once, so every row shares it
    results = []
    with progress_bar() as report:
        for i, name in enumerate(names):
            report(Progress("training steps", i, len(names), name))
            s = scale if scale in get_spec(name).scales else max(get_spec(name).scales)
            probe = bench_train_step_isolated if cpu and len(names) > 1 else bench_train_step
            results.append(probe(name, s, device=device, precision=precision, batch=batch, patch=patch,
                                 runs=runs, peaks=peaks))
        report(Progress("training steps", len(names), len(names)))
    if as_json:
        emit_json([r.to_dict() for r in results])
        return
    text = train_step_markdown(results, "upscale " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    if readme:
        replace_block(readme, "train-bench", text)
    else:
        typer.echo(text)

"""Speed and memory of the inference path, measured the way a user runs it.

A first cut of ``upscale bench``: latency (median of timed runs after a warm-up),
output megapixels per second and peak memory (CUDA max allocated, or the process's
peak RSS on the CPU, which is monotonic: run one model per process to read it alone).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..errors import WeightsError
from ..imaging.resize import imresize_tensor
from ..inference.engine import upscale_with
from ..inference.loading import LoadedModel, from_module, load_model
from ..inference.options import InferenceOptions, InferencePrecision, resolve_options
from ..inference.precision import cpu_has_bf16, settle_precision
from ..models import count_parameters, create_model
from .timing import peak_memory, bench_input, timed


@dataclass(frozen=True)
class BenchResult:
    """One row of ``upscale bench``: a method at a scale on one input size."""

    model: str
    scale: int
    width: int
    height: int
    device: str
    precision: str
    parameters: int
    gflops_per_output_mp: Optional[float]  # counted from the executed ops; None for bicubic
    median_seconds: float
    output_mpix_per_second: float
    achieved_tflops: Optional[float]
    fraction_of_peak: Optional[float]  # of the matrix-product probe of the same run
    peak_memory_bytes: int
    memory_kind: str
    weights: str
    # The same network with freshly initialised weights, timed in the same way: trained
    # weights whose activations go denormal would show here as a slower row.
    fresh_seconds: Optional[float] = None
    # This file's time over fresh weights', from alternating rounds (above 1: the file is slower).
    fresh_ratio: Optional[float] = None

    def to_dict(self) -> dict:
        return asdict(self)


FRESH_ROUNDS = 3  # alternating rounds of a weights file against fresh weights


def bench_precisions(options: InferenceOptions) -> tuple[InferencePrecision, ...]:
    """The precisions each network is timed in: the one asked for; under auto on a CPU with
    bf16 kernels both fp32 and bf16, the two auto chooses between per network, each set
    against its own convolution peak."""
    resolved = resolve_options(options)
    if resolved.auto_cpu:
        return (InferencePrecision.FP32, InferencePrecision.BF16) if cpu_has_bf16() else (InferencePrecision.FP32,)
    if options.precision == InferencePrecision.AUTO:  # a GPU: fp16 (options.pick_autocast)
        return (InferencePrecision.FP16,)
    return (InferencePrecision(options.precision),)


PAIRED_BUDGET_S = 20.0  # a slow pair (LapSRN on two cores) stops the paired calls early


def paired_peer_ratio(
    name: str,
    scale: int,
    weights: Optional[Path],
    width: int,
    height: int,
    models_dir: Path,
    options: InferenceOptions = InferenceOptions(),
    runs: int = 10,
) -> tuple[str, float]:
    """``("model precision", the peer's time over ours)``: the median of ``runs`` pairs of back-to-back calls in one process.

    A shared machine's speed drifts over seconds, so two rows timed in separate
    processes a minute apart saw different machines (on the 2-core AMD EPYC, family 25
    model 1, OpenCV's FSRCNN row read 45 ms and 63 ms in two runs a minute apart). Two
    calls next to each other see nearly the same one; the order alternates pair by pair.
    """
    from .opencv_peer import opencv_upscaler

    model, _ = _shipped_or_fresh(name, scale, weights)
    opts, _ = settle_precision(resolve_options(options), model)
    peer = opencv_upscaler(models_dir, name, scale)
    image = bench_input(width, height)
    sides = (lambda: upscale_with(image, model, opts), lambda: peer(image))
    for side in sides:  # warm-up: the network moves to its device, OpenCV plans its layers
        side()
    ratios: list[float] = []
    spent = 0.0
    while len(ratios) < runs and (len(ratios) < 3 or spent < PAIRED_BUDGET_S):
        took = [0.0, 0.0]
        for k in ((0, 1) if len(ratios) % 2 == 0 else (1, 0)):
            start = time.perf_counter()
            sides[k]()
            took[k] = time.perf_counter() - start
        ratios.append(took[1] / took[0])
        spent += sum(took)
    precision = str(opts.autocast or torch.float32).removeprefix("torch.")
    return f"{name} {precision}", statistics.median(ratios)


def _shipped_or_fresh(name: str, scale: int, weights: Optional[Path]) -> tuple[LoadedModel, str]:
    """The given or shipped weights and where they came from; fresh weights where nothing ships."""
    try:
        return load_model(name, scale, weights), "shipped" if weights is None else str(weights)
    except WeightsError:
        if weights is not None:
            raise
        return from_module(name, scale), "random-init"


def flops_per_output_mp(model: LoadedModel, probe: int = 64) -> float:
    """FLOPs of the network per output megapixel, counted on a ``probe``-pixel square input.

    Convolutions cost the same per pixel at any size, so a small probe gives the rate
    without holding a large image's activations in memory.
    """
    spec = model.spec
    side = spec.input_side(probe, model.scale)
    x = torch.zeros(1, spec.in_channels, side, side, device=next(model.net.parameters()).device)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.net.eval()(x)
    return float(counter.get_total_flops()) / (probe * probe * model.scale**2 / 1e6)


def bench_named_model(
    name: str,
    scale: int,
    weights: Optional[Path],
    width: int,
    height: int,
    options: InferenceOptions = InferenceOptions(),
    runs: int = 3,
    peak_tflops: Optional[float] = None,
) -> BenchResult:
    """Shipped (or given) weights when there are any, timed beside fresh weights of the same network; else fresh alone.

    Fresh weights set the speed the architecture should have: trained weights whose
    activations go denormal, or anything else in them that slows the kernels, show as
    a ratio above 1 (``fresh_seconds``).
    """
    loaded, source = _shipped_or_fresh(name, scale, weights)
    if source == "random-init":
        return bench_model(loaded, width, height, options, runs, peak_tflops, source)
    _, choice = settle_precision(resolve_options(options), loaded)
    same = dataclasses.replace(options, precision=choice.precision)  # the fresh twin runs as the trained one does
    fresh = from_module(name, scale, create_model(name, scale, **loaded.meta.get("config", {})))
    result = bench_model(loaded, width, height, options, runs, peak_tflops, source)
    twin = bench_model(fresh, width, height, same, runs, peak_tflops, "random-init")
    # The two rows above ran seconds apart, and a burst of load elsewhere lands on one of
    # them; the ratio comes from rounds that alternate between the two, best round each.
    image, best = bench_input(width, height), {}
    sides = [(key, model, settle_precision(resolve_options(asked), model)[0])
             for key, model, asked in (("file", loaded, options), ("fresh", fresh, same))]
    for _ in range(FRESH_ROUNDS):
        for key, model, opts in sides:
            seconds = timed(lambda: upscale_with(image, model, opts), runs, opts.device, budget_s=5.0)
            best[key] = min(best.get(key, math.inf), seconds)
    return dataclasses.replace(result, fresh_seconds=twin.median_seconds, fresh_ratio=best["file"] / best["fresh"])


def bench_model(
    model: LoadedModel,
    width: int,
    height: int,
    options: InferenceOptions = InferenceOptions(),
    runs: int = 3,
    peak_tflops: Optional[float] = None,
    weights: str = "shipped",
) -> BenchResult:
    """Upscale a ``width x height`` uint8 RGB picture through the whole pipeline."""
    opts, _ = settle_precision(resolve_options(options), model)  # auto on the CPU: what a user's run would pick
    dev = opts.device
    image = bench_input(width, height)
    upscale_with(image, model, opts)  # moves the network to the device, warms up
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    median = timed(lambda: upscale_with(image, model, opts), runs, dev, budget_s=10.0)
    out_mp = width * height * model.scale**2 / 1e6
    per_mp = flops_per_output_mp(model)
    tflops = per_mp * out_mp / median / 1e12
    memory, kind = peak_memory(dev)
    autocast = opts.autocast
    return BenchResult(
        model=model.name, scale=model.scale, width=width, height=height, device=str(dev),
        precision=str(autocast or torch.float32).removeprefix("torch."),
        parameters=count_parameters(model.net), gflops_per_output_mp=per_mp / 1e9,
        median_seconds=median, output_mpix_per_second=out_mp / median, achieved_tflops=tflops,
        fraction_of_peak=tflops / peak_tflops if peak_tflops else None,
        peak_memory_bytes=memory, memory_kind=kind, weights=weights,
    )


def bench_bicubic(width: int, height: int, scale: int, runs: int = 3) -> BenchResult:
    """The MATLAB bicubic baseline on the CPU: every other row reads as a ratio to it."""
    image = torch.from_numpy(bench_input(width, height)).permute(2, 0, 1).float().div_(255)
    cpu = torch.device("cpu")

    def run() -> torch.Tensor:  # the engine's resize: float32, rounded to 8 bits at the end
        return imresize_tensor(image, float(scale)).mul_(255).add_(0.5).floor_().clamp_(0, 255).to(torch.uint8)

    median = timed(run, runs, cpu)
    out_mp = width * height * scale**2 / 1e6
    memory, kind = peak_memory(cpu)
    return BenchResult(
        model="bicubic", scale=scale, width=width, height=height, device="cpu", precision="float32",
        parameters=0, gflops_per_output_mp=None, median_seconds=median, output_mpix_per_second=out_mp / median,
        achieved_tflops=None, fraction_of_peak=None, peak_memory_bytes=memory, memory_kind=kind, weights="-",
    )


def bench_opencv(models_dir: Any, name: str, scale: int, width: int, height: int, runs: int = 3) -> BenchResult:
    """The same picture through OpenCV's dnn_superres model of ``name`` (CPU)."""
    from .opencv_peer import opencv_upscaler

    run = opencv_upscaler(models_dir, name, scale)
    image = bench_input(width, height)
    median = timed(lambda: run(image), runs, torch.device("cpu"))
    out_mp = width * height * scale**2 / 1e6
    memory, kind = peak_memory(torch.device("cpu"))
    return BenchResult(
        model=f"opencv-{name}", scale=scale, width=width, height=height, device="cpu", precision="float32",
        parameters=0, gflops_per_output_mp=None, median_seconds=median, output_mpix_per_second=out_mp / median,
        achieved_tflops=None, fraction_of_peak=None, peak_memory_bytes=memory, memory_kind=kind, weights="opencv",
    )

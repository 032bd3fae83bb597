"""Speed and memory of the inference path, measured the way a user runs it.

A first cut of ``upscale bench``: latency (median of timed runs after a warm-up),
output megapixels per second and peak memory (CUDA max allocated, or the process's
peak RSS on the CPU, which is monotonic: run one model per process to read it alone).
"""

from __future__ import annotations

import dataclasses
import math
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .engine import LoadedModel, from_module, load_model, upscale_with
from .errors import WeightsError
from .inference_options import InferenceOptions, pick_device, resolve_options
from .models import count_parameters, create_model, get_spec
from .resize import imresize_tensor
from .synthetic import demo_image
from .training.data import HRImage, PatchDataset, step_indices
from .training.precision import Precision, choose_mode
from .training.recipes import recipe_for
from .training.trainer import patch_spec_for, time_steps


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

    def to_dict(self) -> dict:
        return asdict(self)


def bench_input(width: int, height: int) -> np.ndarray:
    """A deterministic uint8 RGB picture of the asked size (the demo picture, tiled)."""
    base = demo_image(256)
    reps = (-(-height // 256), -(-width // 256), 1)
    return np.ascontiguousarray(np.tile(base, reps)[:height, :width])


def peak_rss_bytes() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(usage if sys.platform == "darwin" else usage * 1024)


def timed(fn: Any, runs: int, device: torch.device, budget_s: float = math.inf) -> float:
    """Median seconds of up to ``runs`` calls after one warm-up, synchronised on the GPU.

    Stops early (after at least one timed call) once ``budget_s`` is spent, so a slow
    model on a small machine does not hold the whole benchmark up.
    """
    fn()
    times: list[float] = []
    while len(times) < runs and (not times or sum(times) < budget_s):
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak_tflops(device: torch.device, dtype: torch.dtype = torch.float32) -> float:
    """TFLOP/s of the fastest of a few large square matrix products: the practical peak."""
    n = 4096 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    return 2 * n**3 / fastest_seconds(lambda: a @ b, device, runs=5) / 1e12


def fastest_seconds(fn: Any, device: torch.device, runs: int, min_seconds: float = 0.0) -> float:
    """The fastest of at least ``runs`` calls, and of at least ``min_seconds`` of them (a probe's best case)."""
    best, spent, done = math.inf, 0.0, 0
    while done < runs or spent < min_seconds:
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        took = time.perf_counter() - start
        best, spent, done = min(best, took), spent + took, done + 1
    return best


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


def _peak_memory(device: torch.device) -> tuple[int, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device), "cuda_max_allocated"
    return peak_rss_bytes(), "process_peak_rss"


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
    """Shipped (or given) weights when there are any, else a fresh network: the speed is the same."""
    try:
        loaded, source = load_model(name, scale, weights), "shipped" if weights is None else str(weights)
    except WeightsError:
        if weights is not None:
            raise
        loaded, source = from_module(name, scale), "random-init"
    return bench_model(loaded, width, height, options, runs, peak_tflops, source)


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
    opts = resolve_options(options)
    dev = opts.device
    image = bench_input(width, height)
    upscale_with(image, model, opts)  # moves the network to the device, warms up
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    median = timed(lambda: upscale_with(image, model, opts), runs, dev, budget_s=10.0)
    out_mp = width * height * model.scale**2 / 1e6
    per_mp = flops_per_output_mp(model)
    tflops = per_mp * out_mp / median / 1e12
    memory, kind = _peak_memory(dev)
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
    memory, kind = _peak_memory(cpu)
    return BenchResult(
        model="bicubic", scale=scale, width=width, height=height, device="cpu", precision="float32",
        parameters=0, gflops_per_output_mp=None, median_seconds=median, output_mpix_per_second=out_mp / median,
        achieved_tflops=None, fraction_of_peak=None, peak_memory_bytes=memory, memory_kind=kind, weights="-",
    )


def bench_isolated(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a fresh process, so the CPU's peak RSS is that call's alone."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args, kwargs)


def conv_peak_tflops(device: torch.device, dtype: torch.dtype = torch.float32) -> float:
    """TFLOP/s of a 64->64 3x3 convolution (channels-last, batch 16 at 64x64): the convolution peak.

    The layer that dominates VDSR, SRResNet, RDN and most deep SR networks, at its
    best-case shape and layout, in the precision of interest: the best run of at least
    a second's worth, since a shared machine's speed comes and goes.
    """
    conv = nn.Conv2d(64, 64, 3, padding=1).to(device, dtype).to(memory_format=torch.channels_last)
    x = torch.randn(16, 64, 64, 64, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    flops = 2 * 16 * 64 * 64 * 64 * 64 * 9
    with torch.inference_mode():
        return flops / fastest_seconds(lambda: conv(x), device, runs=10, min_seconds=1.0) / 1e12


def _synthetic_training_images() -> list[HRImage]:
    """A few demo pictures of different shapes, standing in for a training set."""
    sizes = ((480, 320), (320, 480), (512, 512), (400, 300))
    return [HRImage(f"bench{i}", Path(f"bench{i}"), bench_input(w, h)) for i, (w, h) in enumerate(sizes)]


@dataclass(frozen=True)
class TrainStepResult:
    model: str
    scale: int
    batch: int
    input_side: int
    target_side: int
    device: str
    precision: str  # the step mode: precision and layout (auto picks it by timing)
    median_step_seconds: float  # the optimiser step alone
    batch_seconds: float  # cutting the batch from the degraded images
    samples_per_second: float  # of the whole: batch + step
    batch_share: float  # of the whole
    step_tflop: float  # counted: forward and backward
    achieved_tflops: float
    peak_tflops: float  # conv_peak_tflops in the step's precision, same machine
    fraction_of_peak: float
    peak_memory_bytes: int
    memory_kind: str

    def to_dict(self) -> dict:
        return asdict(self)


def bench_train_step(
    name: str,
    scale: int,
    device: Optional[str] = None,
    precision: Precision = Precision.AUTO,
    batch: Optional[int] = None,
    patch: Optional[int] = None,
    runs: int = 3,
    peaks: Optional[dict[torch.dtype, float]] = None,
) -> TrainStepResult:
    """Time ``name``'s training step at the recipe's batch and patch, as ``upscale train`` runs it.

    The batch is cut from a few degraded demo pictures exactly as training cuts it
    from the cached training set; the step runs in the mode ``upscale train`` would
    pick. ``peaks`` (dtype -> conv TFLOP/s) saves re-measuring the peak per model.
    """
    spec = get_spec(name)
    recipe = recipe_for(name)
    recipe = dataclasses.replace(recipe, batch=batch or recipe.batch, patch=patch or recipe.patch)
    net_scale = spec.network_scale(scale)
    scales = recipe.multi_scale or (net_scale,)
    dev = pick_device(device)
    torch.manual_seed(0)
    net = create_model(spec.name, scale).to(dev)
    data = PatchDataset(_synthetic_training_images(), patch_spec_for(spec, recipe, scales), seed=0)
    cut = []
    for t in range(runs + 1):
        start = time.perf_counter()
        x, y, _ = data.batch(step_indices(t, recipe.batch))
        cut.append(time.perf_counter() - start)
    batch_seconds = statistics.median(cut[1:])
    mode, _ = choose_mode(Precision(precision), dev, lambda m: min(time_steps(recipe, net, m, x, y, dev, 2)))
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    step = statistics.median(time_steps(recipe, net, mode, x, y, dev, runs))
    with FlopCounterMode(display=False) as counter:
        time_steps(recipe, net, mode, x, y, dev, 0)  # the warm-up step alone, counted
    flops = float(counter.get_total_flops())
    dtype = mode.autocast or torch.float32
    peak = (peaks or {}).get(dtype) or conv_peak_tflops(dev, dtype)
    whole = step + batch_seconds
    cuda = dev.type == "cuda"
    return TrainStepResult(
        model=spec.name,
        scale=scale,
        batch=recipe.batch,
        input_side=spec.input_side(data.spec.hr_patch // net_scale, net_scale),
        target_side=data.spec.hr_patch,
        device=str(dev),
        precision=str(mode),
        median_step_seconds=step,
        batch_seconds=batch_seconds,
        samples_per_second=recipe.batch / whole,
        batch_share=batch_seconds / whole,
        step_tflop=flops / 1e12,
        achieved_tflops=flops / step / 1e12,
        peak_tflops=peak,
        fraction_of_peak=flops / step / 1e12 / peak,
        peak_memory_bytes=torch.cuda.max_memory_allocated(dev) if cuda else peak_rss_bytes(),
        memory_kind="cuda_max_allocated" if cuda else "process_peak_rss",
    )


def bench_train_step_isolated(*args: Any, **kwargs: Any) -> TrainStepResult:
    """:func:`bench_train_step` in a fresh process (the CPU's peak RSS is then its own)."""
    return bench_isolated(bench_train_step, *args, **kwargs)


def bench_opencv(models_dir: Any, name: str, scale: int, width: int, height: int, runs: int = 3) -> BenchResult:
    """The same picture through OpenCV's dnn_superres model of ``name`` (CPU)."""
    from .opencv_peer import opencv_upscaler

    run = opencv_upscaler(models_dir, name, scale)
    image = bench_input(width, height)
    median = timed(lambda: run(image), runs, torch.device("cpu"))
    out_mp = width * height * scale**2 / 1e6
    memory, kind = _peak_memory(torch.device("cpu"))
    return BenchResult(
        model=f"opencv-{name}", scale=scale, width=width, height=height, device="cpu", precision="float32",
        parameters=0, gflops_per_output_mp=None, median_seconds=median, output_mpix_per_second=out_mp / median,
        achieved_tflops=None, fraction_of_peak=None, peak_memory_bytes=memory, memory_kind=kind, weights="opencv",
    )

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
from typing import Any, Optional

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from .engine import LoadedModel, pick_autocast, pick_device, upscale_image
from .layout import channels_last, channels_last_module
from .models import count_parameters, create_model, get_spec
from .resize import imresize_tensor
from .synthetic import demo_image
from .training.losses import training_module
from .training.recipes import hr_patch_size, recipe_for
from .training.trainer import supervised_update


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
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e12


def flops_per_output_mp(model: LoadedModel, probe: int = 64) -> float:
    """FLOPs of the network per output megapixel, counted on a ``probe``-pixel square input.

    Convolutions cost the same per pixel at any size, so a small probe gives the rate
    without holding a large image's activations in memory.
    """
    spec = model.spec
    side = probe * model.scale if spec.input_kind.value == "pre_upsampled" else probe
    x = torch.zeros(1, spec.in_channels, side, side, device=next(model.net.parameters()).device)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.net.eval()(x)
    return float(counter.get_total_flops()) / (probe * probe * model.scale**2 / 1e6)


def _peak_memory(device: torch.device) -> tuple[int, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device), "cuda_max_allocated"
    return peak_rss_bytes(), "process_peak_rss"


def bench_model(
    model: LoadedModel,
    width: int,
    height: int,
    device: Optional[str] = None,
    precision: Optional[str] = None,
    tile: Optional[int] = None,
    runs: int = 3,
    peak_tflops: Optional[float] = None,
    weights: str = "shipped",
) -> BenchResult:
    """Upscale a ``width x height`` uint8 RGB picture through the whole pipeline."""
    dev = pick_device(device)
    image = bench_input(width, height)
    kw = dict(tile=tile, device=device, precision=precision)
    upscale_image(image, model, **kw)  # moves the network to the device, warms up
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    median = timed(lambda: upscale_image(image, model, **kw), runs, dev, budget_s=10.0)
    out_mp = width * height * model.scale**2 / 1e6
    per_mp = flops_per_output_mp(model)
    tflops = per_mp * out_mp / median / 1e12
    memory, kind = _peak_memory(dev)
    autocast = pick_autocast(precision, dev)
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


@dataclass(frozen=True)
class TrainStepResult:
    model: str
    scale: int
    batch: int
    input_side: int
    target_side: int
    device: str
    precision: str
    median_step_seconds: float
    samples_per_second: float
    peak_memory_bytes: int
    memory_kind: str

    def to_dict(self) -> dict:
        return asdict(self)


def bench_train_step(
    name: str,
    scale: int,
    device: Optional[str] = None,
    precision: Optional[str] = None,
    batch: Optional[int] = None,
    patch: Optional[int] = None,
    runs: int = 3,
) -> TrainStepResult:
    """Time one optimiser step of ``name``'s recipe on random patches of the recipe's size."""
    spec = get_spec(name)
    recipe = recipe_for(name)
    recipe = dataclasses.replace(recipe, batch=batch or recipe.batch, patch=patch or recipe.patch)
    net_scale = spec.network_scale(scale)
    hr = hr_patch_size(spec.name, recipe.multi_scale or (net_scale,), recipe.patch)
    side = hr if spec.input_kind.value == "pre_upsampled" else hr // net_scale
    dev = pick_device(device)
    autocast = pick_autocast(precision, dev)
    torch.manual_seed(0)
    net = create_model(spec.name, scale).to(dev)
    cuda = dev.type == "cuda"  # as the trainer: channels-last on CUDA, NCHW on the CPU
    module = training_module(recipe, net)
    module = channels_last_module(module) if cuda else module
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    scaler = torch.amp.GradScaler(enabled=autocast is torch.float16)
    x = torch.rand(recipe.batch, spec.in_channels, side, side, device=dev)
    x = channels_last(x) if cuda else x
    y = torch.rand(recipe.batch, spec.in_channels, hr, hr, device=dev)

    def one() -> None:
        supervised_update(recipe, module, net, optimizer, scaler, autocast, x, y, recipe.lr, 1)

    one()  # warm-up: allocator, cuDNN autotuning
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    median = timed(one, runs, dev)
    return TrainStepResult(
        model=spec.name,
        scale=scale,
        batch=recipe.batch,
        input_side=side,
        target_side=hr,
        device=str(dev),
        precision=str(autocast or torch.float32).removeprefix("torch."),
        median_step_seconds=median,
        samples_per_second=recipe.batch / median,
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

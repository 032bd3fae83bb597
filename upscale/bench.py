"""Speed and memory of the inference path, measured the way a user runs it.

A first cut of ``upscale bench``: latency (median of timed runs after a warm-up),
output megapixels per second and peak memory (CUDA max allocated, or the process's
peak RSS on the CPU, which is monotonic: run one model per process to read it alone).
"""

from __future__ import annotations

import dataclasses
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np
import torch

from .engine import LoadedModel, pick_autocast, pick_device, upscale_image
from .models import count_parameters, create_model, get_spec
from .progress import Progress, ProgressFn, no_progress
from .synthetic import demo_image
from .training.losses import training_module
from .training.recipes import hr_patch_size, recipe_for
from .training.trainer import supervised_update


@dataclass(frozen=True)
class BenchResult:
    model: str
    scale: int
    width: int
    height: int
    device: str
    parameters: int
    median_seconds: float
    output_mpix_per_second: float
    peak_memory_bytes: int
    memory_kind: str

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


def bench_model(
    model: LoadedModel,
    width: int,
    height: int,
    device: Optional[str] = None,
    precision: Optional[str] = None,
    tile: Optional[int] = None,
    runs: int = 3,
    progress: ProgressFn = no_progress,
) -> BenchResult:
    """Upscale a ``width x height`` uint8 RGB image ``runs`` times after one warm-up."""
    dev = pick_device(device)
    image = bench_input(width, height)
    kw = dict(tile=tile, device=device, precision=precision)
    task = f"bench {model.name} x{model.scale}"
    progress(Progress(task, 0, runs + 1, "warm-up"))
    upscale_image(image, model, **kw)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times = []
    for i in range(runs):
        progress(Progress(task, i + 1, runs + 1))
        start = time.perf_counter()
        upscale_image(image, model, **kw)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - start)
    progress(Progress(task, runs + 1, runs + 1))
    median = statistics.median(times)
    cuda = dev.type == "cuda"
    return BenchResult(
        model=model.name,
        scale=model.scale,
        width=width,
        height=height,
        device=str(dev),
        parameters=count_parameters(model.net),
        median_seconds=median,
        output_mpix_per_second=width * height * model.scale**2 / 1e6 / median,
        peak_memory_bytes=torch.cuda.max_memory_allocated(dev) if cuda else peak_rss_bytes(),
        memory_kind="cuda_max_allocated" if cuda else "process_peak_rss",
    )


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
    layout = torch.channels_last if dev.type == "cuda" else torch.contiguous_format
    module = training_module(recipe, net).to(memory_format=layout)
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    scaler = torch.amp.GradScaler(enabled=autocast is torch.float16)
    x = torch.rand(recipe.batch, spec.in_channels, side, side, device=dev).to(memory_format=layout)
    y = torch.rand(recipe.batch, spec.in_channels, hr, hr, device=dev)

    def one(step: int) -> float:
        start = time.perf_counter()
        supervised_update(recipe, module, net, optimizer, scaler, autocast, x, y, recipe.lr, step)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return time.perf_counter() - start

    one(0)  # warm-up: allocator, cuDNN autotuning
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    median = statistics.median(one(i + 1) for i in range(runs))
    cuda = dev.type == "cuda"
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
    """:func:`bench_train_step` in a fresh process, so the CPU's peak RSS is this model's alone."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(bench_train_step, args, kwargs)

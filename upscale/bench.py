"""Speed and memory of the inference path, measured the way a user runs it.

A first cut of ``upscale bench``: latency (median of timed runs after a warm-up),
output megapixels per second and peak memory (CUDA max allocated, or the process's
peak RSS on the CPU, which is monotonic: run one model per process to read it alone).
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import torch

from .engine import LoadedModel, pick_device, upscale_image
from .models import count_parameters
from .progress import Progress, ProgressFn, no_progress
from .synthetic import demo_image


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

"""Timing and peaks shared by the benches: timed runs, peak memory, the machine's matmul and convolution rates."""

from __future__ import annotations

import math
import resource
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from ..imaging.synthetic import demo_image
from ..machine import keep_freed_memory


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


def peak_memory(device: torch.device) -> tuple[int, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device), "cuda_max_allocated"
    return peak_rss_bytes(), "process_peak_rss"


def bench_isolated(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a fresh process, so the CPU's peak RSS is that call's alone."""
    import multiprocessing

    # The child is the command's own process, set up as the command line sets up its own
    with multiprocessing.get_context("spawn").Pool(1, initializer=keep_freed_memory) as pool:
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

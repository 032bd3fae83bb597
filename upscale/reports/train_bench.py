"""Speed of one training step, measured the way ``upscale train`` runs it: batch cutting and the optimiser step."""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..inference.options import pick_device
from ..models import create_model, get_spec
from ..training.config import patch_spec_for
from ..training.data import HRImage, PatchDataset, step_indices
from ..training.precision import Precision, choose_mode
from ..training.recipes import recipe_for
from ..training.step import time_steps
from .timing import bench_input, bench_isolated, conv_peak_tflops, peak_rss_bytes


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
    mode, _ = choose_mode(Precision(precision), dev, lambda m: min(time_steps(spec, recipe, net, m, x, y, dev, 2)),
                          fp16=recipe.takes_fp16)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    step = statistics.median(time_steps(spec, recipe, net, mode, x, y, dev, runs))
    with FlopCounterMode(display=False) as counter:
        time_steps(spec, recipe, net, mode, x, y, dev, 0)  # the warm-up step alone, counted
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

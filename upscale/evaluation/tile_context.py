"""How much context a tile needs around it, measured for one weights file.

A tile padded by the network's whole receptive radius gives exactly the untiled
output, but the radius is a bound, not what trained weights use: RDN's is 133 LR
pixels, and to honour it the engine planned RDN x4 on a 1000x1000 photo as tiles
covering 3.2 times the image. How far a pixel's influence really reaches is a property of the
weights, so ``upscale weights add`` measures it and the manifest records it; the
engine pads the tiles of that shipped file by the measured context instead.

The measurement: each probe image (a centre crop of a validation image) runs once
whole, and once with a margin cut off every side. An output pixel ``d`` LR pixels
inside the cut lacks exactly what a tile's core pixel lacks when the tile's context
is ``d``: what lies beyond. One extra pass gives the error at every distance. The
context kept is one step beyond the smallest whose error, at that distance and
beyond, stays within a tenth of an 8-bit level on every probe: rounded to 8 bits, a
tiled result can then differ from the untiled one by one level, and only where the
untiled value lies within a tenth of a level of a rounding edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..imaging.image_io import read_image
from ..inference.engine import upscale_with
from ..inference.loading import LoadedModel
from ..inference.options import InferenceOptions, InferencePrecision, resolve_options
from ..inference.pipeline import pipeline_radius
from ..progress import Progress, ProgressFn, no_progress
from .datasets import BenchmarkSet

CONTEXT_STEPS = (8, 12, 16, 24, 32, 48, 64, 96)
MEASURED_ABOVE = 32  # a radius up to this costs little to honour in full (LapSRN 18, VDSR 12): not measured
MAX_ERROR_LEVELS = 0.1  # of an 8-bit level (1/255)
PROBE_SIDE = 256  # LR pixels: the centre crop of each image that runs whole
PROBE_MARGIN = 32  # LR pixels cut off every side for the second pass


@dataclass(frozen=True)
class ContextMeasure:
    """The measured context, the radius it replaces, and the worst error at each step measured."""

    context: int  # LR pixels; the radius where no step, and a measured one beyond it, held the bound
    radius: int
    errors: tuple[tuple[int, float], ...]  # (context, worst error in 8-bit levels at that distance and beyond)


def needs_measuring(model: LoadedModel) -> bool:
    return pipeline_radius(model.spec, model.scale) > MEASURED_ABOVE


def _probe(image: np.ndarray) -> torch.Tensor:
    """The centre crop of an image's colour planes as a float ``1,C,H,W`` tensor in [0, 1]."""
    planes = image[..., None] if image.ndim == 2 else image
    planes = planes[..., : 3 if planes.shape[2] >= 3 else 1]  # no alpha: the network never sees it
    peak = float(np.iinfo(planes.dtype).max)
    h, w = planes.shape[:2]
    side_h, side_w = min(h, PROBE_SIDE), min(w, PROBE_SIDE)
    top, left = (h - side_h) // 2, (w - side_w) // 2
    crop = planes[top : top + side_h, left : left + side_w]
    return torch.from_numpy(crop.astype(np.float32) / peak).permute(2, 0, 1)[None].contiguous()


def error_by_distance(model: LoadedModel, probe: torch.Tensor) -> np.ndarray:
    """Worst output error (8-bit levels) at each LR distance inside a cut: index ``d``, distance ``d``.

    Empty where the probe is too small to cut.
    """
    opts = resolve_options(InferenceOptions(tile=0, device="cpu", precision=InferencePrecision.FP32))
    h, w = probe.shape[-2:]
    margin = min(PROBE_MARGIN, h // 4, w // 4)
    if margin < 1:
        return np.zeros(0)
    s = model.scale
    whole = upscale_with(probe, model, opts)
    cut = upscale_with(probe[..., margin : h - margin, margin : w - margin], model, opts)
    inner = whole[..., margin * s : (h - margin) * s, margin * s : (w - margin) * s]
    error = ((cut - inner).abs().amax(dim=(0, 1)) * 255.0).numpy()
    ch, cw = h - 2 * margin, w - 2 * margin
    # Each output pixel's LR distance to the nearest cut edge.
    rows = np.minimum(np.arange(ch), ch - 1 - np.arange(ch)).repeat(s)
    cols = np.minimum(np.arange(cw), cw - 1 - np.arange(cw)).repeat(s)
    distance = np.minimum(rows[:, None], cols[None, :])
    worst = np.zeros(int(distance.max()) + 1)
    np.maximum.at(worst, distance.ravel(), error.ravel())
    return worst


def measure_context(model: LoadedModel, bench: BenchmarkSet, progress: ProgressFn = no_progress) -> ContextMeasure:
    """The context ``model`` needs around a tile, measured on the images of ``bench`` (the validation set)."""
    radius = pipeline_radius(model.spec, model.scale)
    task = f"{model.name} x{model.scale} tile context"
    curves = []
    for i, path in enumerate(bench.files):
        progress(Progress(task, i, len(bench.files), path.stem))
        curves.append(error_by_distance(model, _probe(read_image(path))))
    progress(Progress(task, len(bench.files), len(bench.files)))
    return choose_context(curves, radius)


def choose_context(curves: Sequence[np.ndarray], radius: int) -> ContextMeasure:
    """One step beyond the smallest that every curve measured and held within the bound (else ``radius``)."""
    reach = min((len(c) for c in curves), default=0)  # distances every probe measured
    errors = []
    for step in CONTEXT_STEPS:
        if step >= min(radius, reach):
            break
        # At this distance and beyond: a tile's core pixels lie at least this far inside it.
        errors.append((step, float(max(c[step:].max() for c in curves))))
    held = next((i for i, (_, e) in enumerate(errors) if e <= MAX_ERROR_LEVELS), None)
    # One step beyond the first that held: the probes are five pictures, a photo may reach a
    # little further, and a step costs little (RDN's measured 12 px against its radius of 133).
    context = errors[held + 1][0] if held is not None and held + 1 < len(errors) else radius
    return ContextMeasure(context, radius, tuple(errors))

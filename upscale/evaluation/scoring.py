"""What the manifest records of a weights file: its scores at every scale it serves, and its precision drift.

``upscale weights add`` writes these, the zoo table shows them, and ``--precision auto``
on the CPU reads the bf16 drift before it lets a network run in bf16.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..hub.weights import read_weights
from ..inference.loading import LoadedModel, load_model
from ..inference.options import InferenceOptions, InferencePrecision
from ..models import get_spec
from ..progress import ProgressFn, no_progress
from .datasets import BenchmarkSet
from .evaluate import evaluate
from .restorers import network_planes

REDUCED = (InferencePrecision.FP16, InferencePrecision.BF16)

Scores = dict[str, dict[str, dict[str, float]]]  # "x4" -> set -> {"psnr", "ssim"}
Drift = dict[str, dict[str, float]]  # "x4" -> precision -> PSNR change from fp32 on the first set


def precision_drift(
    model: LoadedModel, bench: BenchmarkSet, fp32_psnr: float, progress: ProgressFn = no_progress
) -> tuple[tuple[str, float], ...]:
    """PSNR change on ``bench`` when the network runs under fp16 and bf16 autocast."""
    out = []
    for precision in REDUCED:
        planes = network_planes(model, InferenceOptions(device="cpu", precision=precision))
        out.append((precision.value, evaluate(model.name, planes, bench, model.scale, progress).psnr - fp32_psnr))
    return tuple(out)


def score_file(path: Path, benches: Sequence[BenchmarkSet], progress: ProgressFn = no_progress) -> tuple[Scores, Drift]:
    """fp32 PSNR/SSIM on every set at every scale ``path`` serves, and the fp16/bf16 drift on the first set."""
    _, meta = read_weights(path)
    spec = get_spec(meta["arch"])
    scales = [s for s in spec.scales if spec.multi_scale or spec.network_scale(s) == meta["scale"]]
    scores: Scores = {}
    drift: Drift = {}
    for scale in scales:
        model = load_model(meta["arch"], scale, path)
        planes = network_planes(model, InferenceOptions(device="cpu", precision=InferencePrecision.FP32))
        results = [evaluate(meta["arch"], planes, b, scale, progress) for b in benches]
        scores[f"x{scale}"] = {r.set: {"psnr": round(r.psnr, 4), "ssim": round(r.ssim, 5)} for r in results}
        if benches:
            changes = precision_drift(model, benches[0], results[0].psnr, progress)
            drift[f"x{scale}"] = {p: round(d, 4) for p, d in changes}
    return scores, drift

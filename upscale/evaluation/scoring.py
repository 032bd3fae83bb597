"""What the manifest records of a weights file: its scores at every scale it serves, its precision drift
and, for wide networks, the context its tiles need.

``upscale weights add`` writes these, the zoo table shows them, and ``--precision auto``
on the CPU reads the bf16 drift before it lets a network run in bf16.
"""

from __future__ import annotations

import dataclasses
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import WeightsError
from ..files import write_bytes_atomic
from ..hub.weights import Storage, read_weights, served_scales, stored_as
from ..inference.loading import LoadedModel, load_model
from ..inference.emulation import Float32Convolutions, native_kernels
from ..inference.options import AUTOCAST, InferenceOptions, InferencePrecision
from ..progress import ProgressFn, no_progress
from .datasets import BenchmarkSet
from .evaluate import evaluate
from .restorers import network_planes
from .tile_context import ContextMeasure, measure_context, needs_measuring

REDUCED = (InferencePrecision.FP16, InferencePrecision.BF16)

Scores = dict[str, dict[str, dict[str, float]]]  # "x4" -> set -> {"psnr", "ssim"}
Drift = dict[str, dict[str, float]]  # "x4" -> precision -> PSNR change from fp32 on the first set

# The manifest's quick check of a file: its fp32 PSNR and precision drift on the central
# CHECK_CROP x CHECK_CROP HR pixels of each first-set image. The tests hold every shipped
# file to it in seconds, where the whole of Set5 costs RDN x2 a minute a pass on a 2-core
# CPU and DRCN (by its FLOPs) about three; `upscale weights verify --measure` re-measures
# the full sets. 96 is a multiple of every scale a network serves (2, 3, 4 and 8), so
# modcrop leaves the crop whole.
CHECK_CROP = 96
CHECK_TOLERANCE_DB = 0.01  # room for float32 rounding on another CPU or thread count

# A file is stored in a reduced dtype only where that moves no score: on the first set
# (Set5, the validation set) every scale's PSNR stays within this of the fp32 file's.
STORAGE_TOLERANCE_DB = 0.005


def precision_drift(
    model: LoadedModel, bench: BenchmarkSet, fp32_psnr: float, progress: ProgressFn = no_progress
) -> tuple[tuple[str, float], ...]:
    """PSNR change on ``bench`` when the network runs under fp16 and bf16 autocast.

    Where this CPU lacks a type's fast kernels, its convolutions run the float32 kernels
    on the same rounded inputs (inference/emulation.py): shipped FSRCNN, ESPCN and SRCNN
    files measured within 0.0003 dB of the reference kernels that way, in seconds
    instead of RDN's hours.
    """
    out = []
    for precision in REDUCED:
        planes = network_planes(model, InferenceOptions(device="cpu", precision=precision))
        emulate = not native_kernels(AUTOCAST[precision])
        with Float32Convolutions() if emulate else nullcontext():
            psnr = evaluate(model.name, planes, bench, model.scale, progress).psnr
        out.append((precision.value, psnr - fp32_psnr))
    return tuple(out)


def check_set(bench: BenchmarkSet) -> BenchmarkSet:
    """``bench`` cut to the quick check's central crops."""
    return dataclasses.replace(bench, name=f"{bench.name} {CHECK_CROP}-px centres", crop=CHECK_CROP)


def check_scores(model: LoadedModel, bench: BenchmarkSet, progress: ProgressFn = no_progress) -> dict[str, float]:
    """fp32 PSNR and the fp16/bf16 drift of ``model`` on the check crops of ``bench``."""
    quick = check_set(bench)
    planes = network_planes(model, InferenceOptions(device="cpu", precision=InferencePrecision.FP32))
    fp32 = evaluate(model.name, planes, quick, model.scale, progress).psnr
    return {"psnr": round(fp32, 4), **{p: round(d, 4) for p, d in precision_drift(model, quick, fp32, progress)}}


def file_check(path: Path, bench: BenchmarkSet, progress: ProgressFn = no_progress) -> dict[str, Any]:
    """The manifest's ``check`` record of ``path``: the crop and, at every scale it serves, :func:`check_scores`."""
    _, meta = read_weights(path)
    scales = {f"x{s}": check_scores(load_model(meta["arch"], s, path), bench, progress) for s in served_scales(meta)}
    return {"crop": CHECK_CROP, "set": bench.name, "scores": scales}


def score_changes(recorded: Scores, measured: Scores, tolerance: float = CHECK_TOLERANCE_DB) -> list[str]:
    """Where ``measured`` PSNR differs from ``recorded`` by more than ``tolerance`` (one line each)."""
    out = []
    for x, sets in measured.items():
        for name, values in sets.items():
            before = recorded.get(x, {}).get(name, {}).get("psnr")
            # Not "> tolerance": a nan PSNR compares false.
            if before is None or not abs(values["psnr"] - before) <= tolerance:
                out.append(f"{x} {name}: {values['psnr']:.4f} dB measured, {before} recorded")
    return out


def file_contexts(path: Path, bench: BenchmarkSet, progress: ProgressFn = no_progress) -> dict[str, ContextMeasure]:
    """The tile context ``path`` needs at every scale it serves, where its network's radius is wide."""
    _, meta = read_weights(path)
    out = {}
    for scale in served_scales(meta):
        model = load_model(meta["arch"], scale, path)
        if needs_measuring(model):
            out[f"x{scale}"] = measure_context(model, bench, progress)
    return out


def score_file(
    path: Path, benches: Sequence[BenchmarkSet], progress: ProgressFn = no_progress, with_drift: bool = True
) -> tuple[Scores, Drift]:
    """fp32 PSNR/SSIM on every set at every scale ``path`` serves, and the fp16/bf16 drift on the first set."""
    _, meta = read_weights(path)
    scores: Scores = {}
    drift: Drift = {}
    for scale in served_scales(meta):
        model = load_model(meta["arch"], scale, path)
        planes = network_planes(model, InferenceOptions(device="cpu", precision=InferencePrecision.FP32))
        results = [evaluate(meta["arch"], planes, b, scale, progress) for b in benches]
        scores[f"x{scale}"] = {r.set: {"psnr": round(r.psnr, 4), "ssim": round(r.ssim, 5)} for r in results}
        if benches and with_drift:
            changes = precision_drift(model, benches[0], results[0].psnr, progress)
            drift[f"x{scale}"] = {p: round(d, 4) for p, d in changes}
    return scores, drift


@dataclass(frozen=True)
class StoredScores:
    """A weights file as it would be stored in a reduced dtype, and what that stored file measures."""

    data: bytes  # the whole file, ready to be written
    scores: Scores
    drift: Drift
    change: dict[str, float]  # "x2" -> the first set's PSNR change from the file as it is


def score_stored(
    path: Path, storage: Storage, benches: Sequence[BenchmarkSet], progress: ProgressFn = no_progress,
    with_drift: bool = True,
) -> StoredScores:
    """Scores of ``path`` re-stored as ``storage``; WeightsError if that moves the first set's PSNR.

    The file itself is untouched: the caller writes ``data`` where it wants it.
    """
    if not benches:
        raise WeightsError(f"{path.name}: storing as {storage.value} needs a set to check it on")
    before, _ = score_file(path, benches[:1], progress, with_drift=False)
    data = stored_as(path, storage)
    with tempfile.TemporaryDirectory(prefix="upscale-store-") as folder:
        # Scored under its own name, as the network loads it from the shipped folder.
        stored = Path(folder) / path.name
        write_bytes_atomic(stored, data)
        scores, drift = score_file(stored, benches, progress, with_drift)
    first = benches[0].name
    change = {x: scores[x][first]["psnr"] - before[x][first]["psnr"] for x in before}
    # Not "> tolerance": a tensor beyond fp16's range makes the PSNR nan, which compares false.
    moved = [x for x, d in change.items() if not abs(d) <= STORAGE_TOLERANCE_DB]
    if moved:
        x = moved[0]
        raise WeightsError(
            f"{path.name}: {storage.value} storage moves {first} {x} PSNR from {before[x][first]['psnr']:.4f} "
            f"to {scores[x][first]['psnr']:.4f} dB (limit {STORAGE_TOLERANCE_DB} dB); keep it in fp32"
        )
    return StoredScores(data, scores, drift, change)

"""The run of a batch: one result per job, each output written atomically; a bad file never stops the others.

The plan (``plan.py``) has already decided which input goes to which output, over all
inputs before sharding, so every shard of a cluster job sees the same plan without
talking to the others.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

from ..errors import UpscaleError, UsageError
from ..files import write_atomic
from ..imaging.image_io import check_writable, load_for_upscale, save_upscaled
from ..inference.engine import upscale_with
from ..inference.loading import LoadedModel
from ..inference.options import InferenceOptions, ResolvedOptions, resolve_options
from ..inference.precision import settle_precision
from ..progress import Progress, ProgressFn, no_progress
from .plan import Job, OutputOptions


@dataclass(frozen=True)
class FileResult:
    """What happened to one input: status is ``ok``, ``skipped`` or ``failed``."""

    input: str
    output: Optional[str]
    status: str
    error: Optional[str]
    seconds: float
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {**asdict(self), "seconds": round(self.seconds, 3), "notes": list(self.notes)}


# --- inputs ------------------------------------------------------------------------


# --- plan --------------------------------------------------------------------------


# --- run ---------------------------------------------------------------------------


def upscale_files(
    jobs: list[Job],
    model: LoadedModel,
    opts: OutputOptions = OutputOptions(),
    engine: Optional[ResolvedOptions] = None,
    progress: ProgressFn = no_progress,
) -> Iterator[FileResult]:
    """One result per job, in order, as each finishes; a failure is reported and the batch goes on.

    KeyboardInterrupt passes through once the current file's temporary output is removed.
    """
    # Resolved by the caller once for every scale and batch (default: auto device and precision).
    resolved = engine if engine is not None else resolve_options(InferenceOptions())
    resolved, _ = settle_precision(resolved, model)  # once for the batch, not per file
    for i, job in enumerate(jobs):
        progress(Progress("files", i, len(jobs), job.src.name))
        yield _run_job(job, model, opts, resolved, progress)
    progress(Progress("files", len(jobs), len(jobs)))


def _run_job(
    job: Job, model: LoadedModel, opts: OutputOptions, engine: ResolvedOptions, progress: ProgressFn
) -> FileResult:
    start = time.perf_counter()
    src, dst = str(job.src), job.dst
    if job.error or dst is None:
        return FileResult(src, None if dst is None else str(dst), "failed", job.error, 0.0)
    if dst.exists() and not opts.overwrite:
        return FileResult(src, str(dst), "skipped", "output exists (use --overwrite)", 0.0)
    try:
        notes = _upscale_one(job.src, dst, job.format, model, opts, engine, progress)
        return FileResult(src, str(dst), "ok", None, time.perf_counter() - start, tuple(notes))
    except UsageError:
        raise  # the options are wrong for every file, not for this one
    except Exception as exc:  # one bad file must not end a batch of thousands; it is reported
        return FileResult(src, None, "failed", _reason(exc), time.perf_counter() - start)


def _upscale_one(
    src: Path, dst: Path, fmt: str, model: LoadedModel, opts: OutputOptions, engine: ResolvedOptions, progress: ProgressFn
) -> list[str]:
    image = load_for_upscale(src, opts.max_pixels)
    check_writable(image.pixels, fmt)  # before the network spends minutes on it
    out = upscale_with(image.pixels, model, engine, progress)

    def encode(f: BinaryIO) -> list[str]:
        return save_upscaled(out, f, fmt, quality=opts.quality, icc_profile=image.icc_profile, exif=image.exif)

    try:
        # 0o666 less the umask, as any program's new file; a re-run clears a killed run's temporaries.
        return [*image.notes, *write_atomic(dst, encode, mode=0o666, clear_stale=True)]
    except OSError as exc:
        raise UpscaleError(f"cannot write {dst}: {exc.strerror or exc}") from None


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, UpscaleError):
        return text
    if isinstance(exc, MemoryError):
        return "out of memory (try a smaller --tile)"
    return f"{type(exc).__name__}: {text}"

"""Upscaling many files: inputs expanded and sharded, outputs named and written atomically.

The work is split into a plan (cheap, pure: which input goes to which output, and
which cannot run at all) and a run (one result per job, a bad file never stops the
others). The plan is computed over all inputs before sharding, so every shard of a
cluster job sees the same plan without talking to the others.
"""

from __future__ import annotations

import glob
import itertools
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Sequence

from PIL import Image

from .engine import LoadedModel, upscale_with
from .files import write_atomic
from .errors import UpscaleError, UsageError
from .inference_options import InferenceOptions, ResolvedOptions, resolve_options
from .image_io import DEFAULT_MAX_PIXELS, check_writable, load_for_upscale, not_a_file_reason, save_upscaled
from .progress import Progress, ProgressFn, no_progress

DEFAULT_NAME = "{stem}_{model}_x{scale}.{ext}"
NAME_FIELDS = ("stem", "model", "scale", "ext")
FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "bmp": "BMP", "tif": "TIFF", "tiff": "TIFF"}
"""Output extensions (and ``--format`` values) -> Pillow format names."""


@dataclass(frozen=True)
class InputFile:
    """An input and its place below the folder or glob root it came from (mirrored under ``-o``)."""

    path: Path
    rel: Path
    named: bool = True  # given by name, not found in a folder or by a glob
    problem: Optional[str] = None  # why nothing can come of it (no such file, a pipe): reported, not fatal


@dataclass(frozen=True)
class Inputs:
    files: list[InputFile]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OutputOptions:
    out: Optional[Path] = None
    name: str = DEFAULT_NAME
    format: Optional[str] = None  # a key of FORMATS; None: the input's own, when writable, else png
    quality: Optional[int] = None
    overwrite: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class Job:
    """One input's work; ``error`` is set when planning already knows it cannot run."""

    src: Path
    dst: Optional[Path]
    format: str = ""
    error: Optional[str] = None


@dataclass(frozen=True)
class Plan:
    jobs: list[Job]
    notes: list[str]


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


def image_suffixes() -> set[str]:
    """Extensions of every format Pillow can open: what a folder scan takes as an image."""
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


def expand_inputs(inputs: list[str], recursive: bool = False) -> Inputs:
    """Files as given, images in folders (``recursive``: and below), glob matches; no repeats.

    A file named on the command line is always taken; a folder or glob takes only
    files with an image extension and notes the rest, special files (pipes, devices)
    and broken links included. What matches nothing, or is no regular file, stays in
    the list with its ``problem``, so the batch reports it and goes on; with no image at
    all, UpscaleError.
    """
    files: list[InputFile] = []
    notes: list[str] = []
    for item in inputs:
        path = Path(item)
        problem = not_a_file_reason(path)  # a symlink loop makes is_dir() and resolve() raise
        if problem is None and path.is_dir():
            found, folder_notes = _scan_folder(path, recursive)
            files += [InputFile(p, p.relative_to(path), named=False) for p in found]
            notes += folder_notes or ([] if found else [f"{item}: a folder with no images"])
        elif problem is None:
            files.append(InputFile(path, Path(path.name)))
        elif glob.has_magic(item) and not os.path.lexists(path):
            matched, glob_notes = _match_glob(item, recursive)
            files += matched
            notes += glob_notes
            files += [] if matched or glob_notes else [InputFile(path, path, problem="the pattern matches no files")]
        else:
            files.append(InputFile(path, path, problem=problem))
    unique: dict[Path, InputFile] = {}
    for f in files:
        unique.setdefault(_resolved(f.path), f)  # the first mention wins
    if all(f.problem for f in unique.values()):  # nothing to do at all: one error now, before a model loads
        why = [f"{f.path}: {f.problem}" for f in unique.values()] + notes
        raise UpscaleError("no images found: " + "; ".join(why or inputs))
    return Inputs(list(unique.values()), notes)


def _resolved(path: Path) -> Path:
    """The real path, or the absolute one where links cannot be followed (a loop, a dangling link)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # Python before 3.13 raises RuntimeError on a symlink loop
        return Path(os.path.abspath(path))


def _scan_folder(folder: Path, recursive: bool) -> tuple[list[Path], list[str]]:
    entries = sorted(folder.rglob("*") if recursive else folder.iterdir())
    visible = [p for p in entries if not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    files, folders, odd = _sort_entries(visible)
    images, others = _split_images(files)
    subfolders = [] if recursive else folders
    parts = [_skipped_note(others)] if others else []
    parts += [f"{len(subfolders)} sub-folder(s) not searched (use -r)"] if subfolders else []
    notes = [f"{folder}: " + "; ".join(parts)] if parts else []
    return images, notes + ([f"{folder}: {_odd_note(odd)}"] if odd else [])


def _match_glob(pattern: str, recursive: bool) -> tuple[list[InputFile], list[str]]:
    files, _, odd = _sort_entries(sorted(Path(p) for p in glob.glob(pattern, recursive=recursive)))
    images, others = _split_images(files)
    parts = Path(pattern).parts[:-1]
    root = Path(*itertools.takewhile(lambda part: not glob.has_magic(part), parts))
    found = [InputFile(p, p.relative_to(root), named=False) for p in images]
    notes = [f"{pattern}: {_skipped_note(others)}"] if others else []
    return found, notes + ([f"{pattern}: {_odd_note(odd)}"] if odd else [])


def _sort_entries(paths: list[Path]) -> tuple[list[Path], list[Path], list[tuple[Path, str]]]:
    """Regular files, folders, and the rest (pipes, devices, loops, dangling links) with why."""
    files: list[Path] = []
    folders: list[Path] = []
    odd: list[tuple[Path, str]] = []
    for p in paths:
        problem = not_a_file_reason(p)
        if problem:
            odd.append((p, problem))
        else:
            (folders if p.is_dir() else files).append(p)
    return files, folders, odd


def _split_images(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    known = image_suffixes()
    return [p for p in paths if p.suffix.lower() in known], [p for p in paths if p.suffix.lower() not in known]


def _skipped_note(others: list[Path]) -> str:
    shown = ", ".join(p.name for p in others[:3]) + (", ..." if len(others) > 3 else "")
    return f"skipped {len(others)} non-image file(s) ({shown})"


def _odd_note(odd: list[tuple[Path, str]]) -> str:
    shown = "; ".join(f"{p.name} is {why}" for p, why in odd[:3]) + ("; ..." if len(odd) > 3 else "")
    return f"skipped {len(odd)} special file(s) or broken link(s): {shown}"


# --- plan --------------------------------------------------------------------------


def check_name_template(template: str) -> None:
    """A usage error unless ``template`` formats with NAME_FIELDS into a relative file name."""
    try:
        name = template.format(stem="a", model="m", scale=2, ext="png")
    except KeyError as exc:
        fields = ", ".join("{%s}" % f for f in NAME_FIELDS)
        raise UsageError(f"--name: unknown field {{{exc.args[0]}}}; use {fields}") from None
    except (ValueError, IndexError) as exc:
        raise UsageError(f"--name: {exc} in {template!r}") from None
    if not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise UsageError(f"--name must give a file name inside the output folder, not {template!r}")


def plan_jobs(inputs: Inputs, model: str, scale: int, opts: OutputOptions) -> Plan:
    """One job per input, in order: its output named, or why it cannot run.

    An output may never be an input, and two inputs may never share an output. Files
    found in folders that are outputs of other inputs (a re-run beside the inputs) are
    dropped. The plan depends on the inputs only, never on which outputs exist yet.
    """
    _check_output_options(opts, inputs)
    to_file = _names_a_file(opts.out)
    runnable = [f for f in inputs.files if not f.problem]
    targets = {f: opts.out if to_file and opts.out else output_path(f, opts, model, scale) for f in runnable}
    producer = {_resolved(dst): f for f, dst in targets.items()}
    kept = {f: dst for f, dst in targets.items() if f.named or producer.get(_resolved(f.path), f) is f}
    dropped = len(targets) - len(kept)
    notes = [f"ignored {dropped} file(s) that are outputs of other inputs"] if dropped else []
    sources = {_resolved(f.path): f.path for f in kept}
    claimed: dict[Path, Path] = {}
    jobs = [_job(f, kept.get(f), sources, claimed, opts) for f in inputs.files if f.problem or f in kept]
    return Plan(jobs, notes)


def _check_output_options(opts: OutputOptions, inputs: Inputs) -> None:
    check_name_template(opts.name)
    if opts.format is not None and opts.format not in FORMATS:
        raise UsageError(f"unknown --format {opts.format!r}; use one of {', '.join(FORMATS)}")
    if _names_a_file(opts.out) and len(inputs.files) > 1:
        raise UsageError(f"-o {opts.out} names one file, but there are several inputs; give a folder")


def check_scales(opts: OutputOptions, scales: Sequence[int]) -> None:
    """Several scales need one output name per scale: a folder, and ``{scale}`` in the name."""
    if len(scales) < 2:
        return
    if _names_a_file(opts.out):
        raise UsageError(f"-o {opts.out} names one file, but there are several scales; give a folder")
    if "{scale}" not in opts.name:
        raise UsageError(f"several scales write one output each, so --name needs {{scale}} (got {opts.name!r})")


def _names_a_file(out: Optional[Path]) -> bool:
    return out is not None and not out.is_dir() and out.suffix.lower()[1:] in FORMATS


def _job(f: InputFile, dst: Optional[Path], sources: dict, claimed: dict, opts: OutputOptions) -> Job:
    if f.problem or dst is None:
        return Job(f.path, None, error=f.problem)
    key = _resolved(dst)
    if key in sources:
        which = "the input" if sources[key] == f.path else f"the input {sources[key]}"
        return Job(f.path, dst, error=f"the output would overwrite {which}")
    if key in claimed:
        return Job(f.path, dst, error=f"{claimed[key]} has the same output name (change --name)")
    claimed[key] = f.path
    return Job(f.path, dst, output_format(dst, opts.format))


def output_path(f: InputFile, opts: OutputOptions, model: str, scale: int) -> Path:
    """``{stem}_{model}_x{scale}.{ext}`` beside the input, or in ``-o DIR`` below the mirrored sub-folders."""
    own = f.path.suffix.lower()[1:]
    ext = opts.format or (own if own in FORMATS else "png")
    name = opts.name.format(stem=f.path.stem, model=model, scale=scale, ext=ext)
    folder = f.path.parent if opts.out is None else opts.out / f.rel.parent
    return folder / name


def output_format(dst: Path, requested: Optional[str]) -> str:
    """The Pillow format to write: ``--format``, else the output's extension."""
    from_name = FORMATS.get(dst.suffix.lower()[1:])
    if requested and from_name and FORMATS[requested] != from_name:
        raise UsageError(f"--format {requested} does not match the output name {dst.name}")
    if not requested and not from_name:
        raise UsageError(f"cannot tell the format of {dst.name}; end --name in .{{ext}} or pass --format")
    return FORMATS[requested] if requested else str(from_name)


def take_shard(jobs: list[Job], k: int, n: int) -> list[Job]:
    """Shard ``k`` of ``n`` (1-based): every n-th job of the sorted plan, starting at the k-th."""
    if not 1 <= k <= n:
        raise UsageError(f"--shard {k}/{n}: K must be between 1 and N")
    return sorted(jobs, key=lambda j: str(j.src))[k - 1 :: n]


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

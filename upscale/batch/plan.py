"""The plan of a batch run: which input goes to which output file, computed over all inputs before sharding."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..errors import UsageError
from ..imaging.image_io import DEFAULT_MAX_PIXELS
from .inputs import InputFile, Inputs, resolved_path


DEFAULT_NAME = "{stem}_{model}_x{scale}.{ext}"
NAME_FIELDS = ("stem", "model", "scale", "ext")
FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "bmp": "BMP", "tif": "TIFF", "tiff": "TIFF"}
"""Output extensions (and ``--format`` values) -> Pillow format names."""


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
    producer = {resolved_path(dst): f for f, dst in targets.items()}
    kept = {f: dst for f, dst in targets.items() if f.named or producer.get(resolved_path(f.path), f) is f}
    dropped = len(targets) - len(kept)
    notes = [f"ignored {dropped} file(s) that are outputs of other inputs"] if dropped else []
    sources = {resolved_path(f.path): f.path for f in kept}
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
    key = resolved_path(dst)
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

"""Upscaling files: inputs expanded, outputs named, written atomically, inputs never touched."""

from __future__ import annotations

import glob
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from PIL import Image, UnidentifiedImageError

from .datasets import IMAGE_EXTENSIONS
from .engine import LoadedModel, upscale_image
from .errors import UpscaleError
from .progress import Progress, ProgressFn, no_progress


@dataclass(frozen=True)
class FileResult:
    """What happened to one input: status is ``ok``, ``skipped`` or ``failed``."""

    input: str
    output: Optional[str]
    status: str
    error: Optional[str]
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def expand_inputs(inputs: list[str], recursive: bool = False) -> list[Path]:
    """Files as given, image files of folders, and glob matches, in order, without repeats."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found += sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        elif path.exists():
            found.append(path)
        elif glob.has_magic(item):
            found += sorted(Path(p) for p in glob.glob(item, recursive=recursive) if Path(p).is_file())
        else:
            raise UpscaleError(f"{item}: no such file or folder")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise UpscaleError(f"no images found in {' '.join(inputs)}")
    return unique


def output_path(src: Path, out: Optional[Path], single: bool, model: str, scale: int) -> Path:
    """``photo_rdn_x4.png`` beside the input, in ``out`` if it is a folder, or ``out`` itself."""
    name = f"{src.stem}_{model}_x{scale}.png"
    if out is None:
        return src.with_name(name)
    if single and not out.is_dir() and out.suffix:
        return out
    return out / name


def _save_atomic(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        image.save(tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _upscale_one(src: Path, dst: Path, model: LoadedModel, engine: dict[str, Any]) -> None:
    try:
        with Image.open(src) as im:
            im.load()
            result = upscale_image(im, model, **engine)
    except (UnidentifiedImageError, OSError) as exc:
        raise UpscaleError(f"cannot read image: {exc}") from None
    _save_atomic(result, dst)


def upscale_files(
    paths: list[Path],
    model: LoadedModel,
    out: Optional[Path] = None,
    overwrite: bool = False,
    progress: ProgressFn = no_progress,
    **engine: Any,
) -> Iterator[FileResult]:
    """Upscale each path; a failure is reported in its result and the batch goes on."""
    for i, src in enumerate(paths):
        progress(Progress("files", i, len(paths), src.name))
        start = time.perf_counter()
        dst = output_path(src, out, len(paths) == 1, model.name, model.scale)
        if dst.resolve() == src.resolve():
            yield FileResult(str(src), str(dst), "failed", "output would overwrite the input", 0.0)
        elif dst.exists() and not overwrite:
            yield FileResult(str(src), str(dst), "skipped", "output exists (use --overwrite)", 0.0)
        else:
            try:
                _upscale_one(src, dst, model, {**engine, "progress": progress})
                yield FileResult(str(src), str(dst), "ok", None, time.perf_counter() - start)
            except UpscaleError as exc:
                yield FileResult(str(src), None, "failed", str(exc), time.perf_counter() - start)
    progress(Progress("files", len(paths), len(paths)))

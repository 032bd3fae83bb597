"""Benchmark sets: find them on disk, or download and verify them.

A library module: it raises ``DatasetError`` / ``DownloadError`` and reports download
progress through a ``ProgressFn``; it never prints or exits.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Optional, Sequence

from upscale.evaluation.dataset_sources import SOURCES, TRANSFORMS, RemoteFile
from upscale.hub.download import check_digest, default_cache_dir, download_to_temp, one_line
from upscale.errors import DatasetError, DownloadError
from upscale.files import write_atomic
from upscale.progress import Progress, ProgressFn, no_progress

__all__ = [
    "IMAGE_EXTENSIONS", "KNOWN_SETS", "SOURCES", "BenchmarkSet", "RemoteFile",
    "fetch_set", "list_images", "pixel_sha256", "resolve_set",
]

KNOWN_SETS: tuple[str, ...] = ("Set5", "Set14", "BSD100", "Urban100", "Manga109")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_CHUNK = 1 << 20
_KNOWN_TEXT = ", ".join(KNOWN_SETS)


@dataclass(frozen=True)
class BenchmarkSet:
    """A set of ground-truth images: ``files`` are sorted by file name.

    ``crop`` > 0 measures only the central ``crop`` x ``crop`` HR pixels of each image
    (the manifest's quick check of a file, evaluation/scoring.py).
    """

    name: str
    root: Path
    files: tuple[Path, ...]
    crop: int = 0


# --------------------------------------------------------------------------- finding sets


def _is_image(path: Path) -> bool:
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def _children(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError as exc:
        raise DatasetError(f"cannot list folder {folder}: {exc.strerror or exc}") from exc


def list_images(folder: Path) -> tuple[Path, ...]:
    """The image files directly in ``folder`` (by extension, any case), sorted by name."""
    files = (p for p in _children(Path(folder)) if _is_image(p) and p.is_file())
    return tuple(sorted(files, key=lambda p: p.name))


def _canonical(name: str) -> Optional[str]:
    return next((k for k in KNOWN_SETS if k.lower() == name.strip().lower()), None)


def _find_set_folder(parent: Path, name: str) -> Optional[Path]:
    """``parent/name`` (or a child of ``parent`` named so in another case) holding images."""
    candidates = [parent / name]
    if parent.is_dir():
        candidates += sorted(p for p in _children(parent) if p.name.lower() == name.lower())
    for folder in candidates:
        if folder.is_dir() and list_images(folder):
            return folder
    return None


def resolve_set(
    name_or_path: str,
    *,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    download: bool = True,
    progress: ProgressFn = no_progress,
) -> BenchmarkSet:
    """A folder of images, or a known set found in ``data_dir``/the cache or downloaded."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        files = list_images(path)
        if not files:
            raise DatasetError(
                f"folder {path} has no images ({' '.join(IMAGE_EXTENSIONS)}); "
                f"give a folder of images or one of the known sets: {_KNOWN_TEXT}"
            )
        return BenchmarkSet(path.resolve().name, path, files)

    name = _canonical(str(name_or_path))
    if name is None:
        raise DatasetError(
            f"unknown benchmark set {str(name_or_path)!r}: not a folder and not one of {_KNOWN_TEXT}"
        )
    if data_dir is None and os.environ.get("UPSCALE_DATA"):
        data_dir = Path(os.environ["UPSCALE_DATA"]).expanduser()
    if cache_dir is None:
        cache_dir = default_cache_dir() / "datasets"
    places = ([Path(data_dir)] if data_dir is not None else []) + [Path(cache_dir)]
    for parent in places:
        folder = _find_set_folder(parent, name)
        if folder is not None:
            return BenchmarkSet(name, folder, list_images(folder))

    looked = " and ".join(str(p / name) for p in places)
    where = f"put its images in $UPSCALE_DATA/{name} (or give the folder's path)"
    if name not in SOURCES:
        raise DatasetError(
            f"benchmark set {name} not found in {looked} and it has no verified download source; {where}"
        )
    if not download:
        raise DatasetError(f"benchmark set {name} not found in {looked} and downloading is off; {where}")
    try:
        root = fetch_set(name, Path(cache_dir) / name, progress=progress)
    except DownloadError as exc:  # offline, most often: say where the set could come from instead
        raise DownloadError(f"benchmark set {name} not found in {looked}, and {exc}; {where}") from exc
    return BenchmarkSet(name, root, list_images(root))


# --------------------------------------------------------------------------- downloading


def pixel_sha256(image) -> str:
    """sha256 of a PIL image's pixels: ``f"{w}x{h}x{c}".encode() + rgb.tobytes()`` (RGB uint8)."""
    import numpy as np

    rgb = np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    h, w, c = rgb.shape
    return hashlib.sha256(f"{w}x{h}x{c}".encode() + rgb.tobytes()).hexdigest()


def _safe_name(name: str) -> str:
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
        raise DatasetError(f"bad file name in download source: {name!r}")
    return name


def _member_parts(name: str, label: str) -> tuple[str, ...]:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise DownloadError(f"unsafe path {name!r} in archive {label}: absolute or contains '..'")
    return tuple(p for p in path.parts if p not in ("", "."))


def _take_images(members: list[tuple[tuple[str, ...], bool, Callable[[], IO[bytes]]]], dest_dir: Path) -> int:
    """Write the image files at the top level, or inside the one top folder if there is one."""
    visible = [m for m in members if m[0] and not any(p.startswith(".") or p == "__MACOSX" for p in m[0])]
    files = [m for m in visible if m[1]]
    one_top = len({parts[0] for parts, _, _ in visible}) == 1
    strip = 1 if files and one_top and all(len(parts) > 1 for parts, _, _ in files) else 0
    count = 0
    for parts, _, opener in files:
        rest = parts[strip:]
        if len(rest) == 1 and _is_image(Path(rest[0])):
            with opener() as stream:
                write_atomic(dest_dir / rest[0], lambda out: shutil.copyfileobj(stream, out, _CHUNK))
            count += 1
    return count


def _extract_images(archive: Path, dest_dir: Path, label: str) -> int:
    """Extract an archive's images into ``dest_dir``; every member name is checked first.

    Only regular files are read (through the archive API, never ``extract``), so links
    and devices are skipped and cannot write outside ``dest_dir``.
    """
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                members = [
                    (_member_parts(i.filename, label), not i.is_dir(), lambda i=i: zf.open(i))
                    for i in zf.infolist()
                ]
                count = _take_images(members, dest_dir)
        else:
            with tarfile.open(archive, "r:*") as tf:
                members = [
                    (_member_parts(i.name, label), i.isfile(), lambda i=i: tf.extractfile(i))
                    for i in tf.getmembers()
                ]
                count = _take_images(members, dest_dir)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise DownloadError(f"cannot read archive {label}: {one_line(exc)}") from exc
    if count == 0:
        raise DownloadError(f"archive {label} holds no images at its top level")
    return count


def _fetch_one(remote: RemoteFile, work: Path) -> None:
    name = _safe_name(remote.name)
    if remote.transform not in TRANSFORMS:
        raise DatasetError(f"unknown transform {remote.transform!r} for {name}; known: {', '.join(TRANSFORMS)}")
    tmp, digest = download_to_temp(remote.url, work, name)
    try:
        if remote.transform == "jpeg_to_png":
            _jpeg_to_png(tmp, work / name, remote.sha256, name)
        else:
            check_digest(name, "sha256", remote.sha256, digest)
            if remote.is_archive:
                _extract_images(tmp, work, name)
            else:
                os.replace(tmp, work / name)
    finally:
        tmp.unlink(missing_ok=True)


def _jpeg_to_png(src: Path, dest: Path, expected: str, label: str) -> None:
    from PIL import Image

    try:
        with Image.open(src) as img:
            img.load()
            actual = pixel_sha256(img)
            hint = " (a PIL built with another JPEG decoder can give other pixels)"
            check_digest(label, "pixel sha256", expected, actual, hint)
            out = img if img.mode in ("L", "RGB") else img.convert("RGB")
            write_atomic(dest, lambda f: out.save(f, format="PNG"))
    except (OSError, ValueError) as exc:  # PIL.UnidentifiedImageError is an OSError
        raise DownloadError(f"cannot decode downloaded {label}: {one_line(exc)}") from exc


def fetch_set(
    name: str,
    dest: Path,
    *,
    progress: ProgressFn = no_progress,
    sources: Optional[Sequence[RemoteFile]] = None,
) -> Path:
    """Download set ``name`` into folder ``dest`` (which must not hold files yet).

    The set is assembled and verified in a temporary folder next to ``dest`` and renamed
    to ``dest`` only when every file verified, so a failed download leaves nothing behind.
    ``sources`` replaces the built-in table entry for ``name``.
    """
    if sources is None:
        if name not in SOURCES:
            raise DatasetError(
                f"no verified download source for {name}; put its images in $UPSCALE_DATA/{name}"
            )
        sources = SOURCES[name]
    sources = tuple(sources)
    if not sources:
        raise DatasetError(f"no files to download for {name}")
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DatasetError(f"cannot download {name} into {dest}: it already exists and is not empty; remove it")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    except OSError as exc:
        raise DatasetError(f"cannot create a download folder in {dest.parent}: {exc.strerror or exc}") from exc
    task, n = f"download {name}", len(sources)
    try:
        for i, remote in enumerate(sources):
            progress(Progress(task=task, done=i, total=n, detail=remote.name))
            _fetch_one(remote, work)
        if not list_images(work):
            raise DownloadError(f"download of {name} produced no images")
        try:
            os.replace(work, dest)  # replaces an empty dest folder; fails if one appeared meanwhile
        except OSError as exc:
            raise DatasetError(f"cannot move the downloaded {name} to {dest}: {exc.strerror or exc}") from exc
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    progress(Progress(task=task, done=n, total=n, detail=""))
    return dest

"""The inputs of a batch run: files, folders and globs expanded into image files, with notes on what was skipped."""

from __future__ import annotations

import glob
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from PIL import Image

from ..errors import UpscaleError
from ..imaging.image_io import not_a_file_reason


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
        unique.setdefault(resolved_path(f.path), f)  # the first mention wins
    if all(f.problem for f in unique.values()):  # nothing to do at all: one error now, before a model loads
        why = [f"{f.path}: {f.problem}" for f in unique.values()] + notes
        raise UpscaleError("no images found: " + "; ".join(why or inputs))
    return Inputs(list(unique.values()), notes)


def resolved_path(path: Path) -> Path:
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

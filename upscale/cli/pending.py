"""Commands whose interface exists but whose work is not built yet (exit code 2)."""

from __future__ import annotations

from typing import List

import typer

from ..errors import NotBuiltError
from .app import VersionFlag, command

_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def _pending(what: str) -> None:
    raise NotBuiltError(f"'upscale {what}' is not built yet in this version")


@command("upscale", context_settings=_EXTRA)
def upscale_command(_version: VersionFlag = False, inputs: List[str] = typer.Argument(None, help="Images, folders or globs.")) -> None:
    """Upscale images (the default command: `upscale photo.jpg --model rdn -x 4`)."""
    _pending("upscale")


@command("train", context_settings=_EXTRA)
def train_command(_version: VersionFlag = False) -> None:
    """Train a model with its paper's recipe."""
    _pending("train")


@command("bench", context_settings=_EXTRA)
def bench_command(_version: VersionFlag = False) -> None:
    """Measure speed and memory of every model."""
    _pending("bench")

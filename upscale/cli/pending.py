"""Commands whose interface exists but whose work is not built yet (exit code 2)."""

from __future__ import annotations

from ..errors import NotBuiltError
from .app import VersionFlag, command

_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def _pending(what: str) -> None:
    raise NotBuiltError(f"'upscale {what}' is not built yet in this version")


@command("train", context_settings=_EXTRA)
def train_command(_version: VersionFlag = False) -> None:
    """Train a model with its paper's recipe."""
    _pending("train")

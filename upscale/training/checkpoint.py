"""Training checkpoints: the whole run state, written atomically, read without pickled code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import UpscaleError
from ..files import write_atomic


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Written atomically and fsynced, so a crash or a full disk never leaves half a checkpoint."""
    write_atomic(path, lambda f: torch.save(state, f))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``: tensors and plain data, never code."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise UpscaleError(f"{path}: cannot read checkpoint ({exc})") from None


def rng_state() -> dict[str, Any]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])

"""The one weights loader: safetensors files that describe themselves.

A weights file holds the tensors and, in its metadata, a JSON record with the
architecture, scale, config, training data, steps, metrics and code version.
Loading never executes code and is strict: missing or unexpected keys are errors.
"""

from __future__ import annotations

import dataclasses
import json
import os
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from torch import nn

from .._version import __version__
from ..errors import WeightsError
from ..files import write_bytes_atomic
from ..models import ModelSpec, get_spec

META_KEY = "upscale"
REPO_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
# pyproject.toml maps the package upscale.weights_data onto weights/, so a wheel holds
# the folder here; a checkout or an editable install has no such folder and uses weights/.
PACKAGED_WEIGHTS = Path(__file__).resolve().parents[1] / "weights_data"


def weights_dir() -> Path:
    """``$UPSCALE_WEIGHTS``, else the installed package data, else the checkout's ``weights/``.

    ``$UPSCALE_WEIGHTS`` replaces the shipped folder rather than adding to it, so a test or
    a user can run with exactly the files (and manifest) of their choice.
    """
    if os.environ.get("UPSCALE_WEIGHTS"):
        return Path(os.environ["UPSCALE_WEIGHTS"]).expanduser()
    return PACKAGED_WEIGHTS if PACKAGED_WEIGHTS.is_dir() else REPO_WEIGHTS


def weights_filename(spec: ModelSpec, scale: int) -> str:
    """``vdsr.safetensors`` for one-model-for-all-scales networks, else ``rdn_x4.safetensors``."""
    stem = spec.name if spec.multi_scale else f"{spec.name}_x{spec.network_scale(scale)}"
    return f"{stem}.safetensors"


def shipped_weights(spec: ModelSpec, scale: int) -> Optional[Path]:
    """The shipped file for ``spec`` at ``scale``, or None if there is none yet.

    A file the manifest lists but the folder lacks (too large for the wheel) comes from
    the user cache, downloaded and sha256-verified first if need be (see hub/fetch.py).
    """
    # Imported here: fetch reads the manifest, and manifest.py imports this module.
    from .fetch import find_shipped

    return find_shipped(weights_dir(), weights_filename(spec, scale))


def served_scales(meta: dict) -> list[int]:
    """The scales a weights file serves, from its metadata: all of a multi-scale network's, else its own."""
    spec = get_spec(meta["arch"])
    return [s for s in spec.scales if spec.multi_scale or spec.network_scale(s) == meta["scale"]]


def has_shipped_weights(spec: ModelSpec, scale: int) -> bool:
    """Whether weights ship for ``spec`` at ``scale``, without downloading any (for listings)."""
    from .fetch import is_shipped

    return is_shipped(weights_dir(), weights_filename(spec, scale))


def describe(spec: ModelSpec, scale: int, config: Any, **extra: Any) -> dict:
    """The metadata record written next to the tensors."""
    return {
        "arch": spec.name,
        "scale": scale,
        "config": dataclasses.asdict(config),
        "code_version": __version__,
        **extra,
    }


class Storage(str, Enum):
    """The dtype a weights file stores its floating-point tensors in; networks always load them as fp32."""

    FP32 = "fp32"
    FP16 = "fp16"

    @property
    def dtype(self) -> torch.dtype:
        return {Storage.FP32: torch.float32, Storage.FP16: torch.float16}[self]


def weights_bytes(state: dict[str, torch.Tensor], meta: dict) -> bytes:
    """The safetensors serialisation of ``state`` with ``meta`` as its record."""
    return save(state, metadata={META_KEY: json.dumps(meta, sort_keys=True)})


def save_weights(path: Path, net: nn.Module, meta: dict, dtype: Optional[torch.dtype] = None) -> None:
    """Write tensors (optionally cast to ``dtype``) and ``meta`` atomically."""
    state = {k: v.detach().to("cpu", dtype or v.dtype).contiguous() for k, v in net.state_dict().items()}
    # Serialised in memory and written by the one atomic writer: fsynced, and readable
    # by others (0644) like any file a user writes, not 0600 as a temporary file is.
    write_bytes_atomic(Path(path), weights_bytes(state, meta))


def stored_as(path: Path, storage: Storage) -> bytes:
    """The bytes of ``path`` with its floating-point tensors stored as ``storage`` (the file is untouched).

    fp16 halves a large file (RDN: 88 -> 44 MB); whether it moves any score is for the
    caller to measure (``evaluation.scoring.score_stored``).
    """
    state, meta = read_weights(path)
    cast = {k: v.to(storage.dtype) if v.is_floating_point() else v for k, v in state.items()}
    return weights_bytes(cast, {**meta, "storage": storage.value})


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and metadata of a weights file."""
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        state = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from None
    if raw is None:
        raise WeightsError(f"{path}: no '{META_KEY}' metadata; not a weights file written by upscale")
    return state, json.loads(raw)


def load_into(net: nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """Copy ``state`` into ``net`` strictly, in the network's own dtypes."""
    own = net.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise WeightsError(
            f"{source}: does not fit the architecture (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    for key, value in state.items():
        if value.shape != own[key].shape:
            raise WeightsError(f"{source}: {key} has shape {tuple(value.shape)}, expected {tuple(own[key].shape)}")
    net.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)

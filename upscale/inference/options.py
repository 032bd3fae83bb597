"""How inference runs: typed options, and the device and precision policy that resolves them once.

A caller states what it wants in :class:`InferenceOptions` (strings from a command
line go through :meth:`InferenceOptions.parse`); :func:`resolve_options` turns that into
a device and an autocast dtype once, before the first image, so a bad choice fails
before any work and every image of a batch runs the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional

import torch

from ..errors import UsageError


class InferencePrecision(str, Enum):
    AUTO = "auto"  # fp16 on CUDA and MPS; on the CPU bf16 where it is measured to pay, else fp32
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"


class AlphaMode(str, Enum):
    """How an alpha plane is upscaled."""

    BICUBIC = "bicubic"  # the MATLAB resize: a network trained on photographs invents texture in a mask
    MODEL = "model"  # the network, for alpha that is itself image-like (soft mattes)


AUTOCAST = {InferencePrecision.FP16: torch.float16, InferencePrecision.BF16: torch.bfloat16}


def _choice(enum: type[Enum], value: object, what: str) -> Enum:
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(str(m.value) for m in enum)  # type: ignore[attr-defined]
        raise UsageError(f"unknown {what} {value!r}; use one of {choices}") from None


@dataclass(frozen=True)
class InferenceOptions:
    """What a caller asks of inference; ``tile`` None picks a tile from free memory, 0 = whole image."""

    tile: Optional[int] = None
    tile_pad: Optional[int] = None  # None: the receptive radius, or the context measured for shipped weights
    device: str = "auto"  # auto, cpu, cuda, cuda:N or mps
    precision: InferencePrecision = InferencePrecision.AUTO
    alpha: AlphaMode = AlphaMode.BICUBIC

    @classmethod
    def parse(
        cls,
        tile: Optional[int] = None,
        tile_pad: Optional[int] = None,
        device: Optional[str] = None,
        precision: Optional[str] = None,
        alpha: str = "bicubic",
    ) -> "InferenceOptions":
        """From plain values (the library's keyword API, a command line); a bad one is a UsageError."""
        if (tile is not None and tile < 0) or (tile_pad is not None and tile_pad < 0):
            raise UsageError("the tile size and the tile padding must be >= 0")
        return cls(
            tile=tile,
            tile_pad=tile_pad,
            device=device or "auto",
            precision=_choice(InferencePrecision, precision or "auto", "precision"),  # type: ignore[arg-type]
            alpha=_choice(AlphaMode, alpha, "alpha mode"),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class ResolvedOptions:
    """Options with the device and the autocast dtype decided: what the engine runs with."""

    device: torch.device
    autocast: Optional[torch.dtype]  # None: float32
    tile: Optional[int]
    tile_pad: Optional[int]
    alpha: AlphaMode
    # auto on the CPU: the engine settles bf16 or fp32 per network (inference/precision.py)
    auto_cpu: bool = False


def pick_device(device: Optional[str]) -> torch.device:
    """``auto``/None: CUDA, then MPS, then the CPU; a named device must exist."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device not in ("cpu", "cuda", "mps") and not str(device).startswith("cuda:"):
        raise UsageError(f"unknown device {device!r}; use auto, cpu, cuda or mps")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("device cuda asked for, but PyTorch sees no CUDA device")
    if device == "mps" and not torch.backends.mps.is_available():
        raise UsageError("device mps asked for, but PyTorch sees no MPS device")
    return torch.device(device)


def pick_autocast(precision: Optional[str], device: torch.device) -> Optional[torch.dtype]:
    """None for fp32; auto = fp16 on CUDA and MPS, fp32 on the CPU until the engine settles it per network.

    fp16 rather than bf16 for inference: its 10-bit mantissa keeps Set5 PSNR within
    0.001 dB of fp32 where bf16's 7 bits cost 0.03-0.05 dB (CPU autocast, shipped
    FSRCNN and ESPCN), and a tile that overflows fp16 is redone in fp32 by the pipeline.
    """
    choice = _choice(InferencePrecision, precision or "auto", "precision")
    if choice is InferencePrecision.AUTO:
        return torch.float16 if device.type in ("cuda", "mps") else None
    return AUTOCAST.get(choice)  # type: ignore[call-overload]


def resolve_options(options: InferenceOptions) -> ResolvedOptions:
    """Decide the device and precision once; raises UsageError for a device that is not there."""
    device = pick_device(options.device)
    autocast = pick_autocast(options.precision, device)
    asked = _choice(InferencePrecision, options.precision or "auto", "precision")
    auto_cpu = asked is InferencePrecision.AUTO and device.type == "cpu"
    return ResolvedOptions(device, autocast, options.tile, options.tile_pad, options.alpha, auto_cpu)

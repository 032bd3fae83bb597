"""The precision and memory layout of a training step: measured on this machine, not guessed.

On CPUs with bf16 instructions (AVX512-BF16, AMX) oneDNN runs bf16 convolutions up
to several times faster than fp32, but only for layers wide enough to use them: a
12-channel FSRCNN layer gains nothing and pays for the casts. So ``auto`` times a
few steps of the actual model at the actual batch in each candidate mode and takes
bf16 only when it is clearly faster. Master weights and optimiser state stay fp32
in every mode (autocast casts on the fly).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Callable, Optional

import torch

from ..errors import UsageError
from ..inference.precision import cpu_has_bf16

BF16_MARGIN = 1.10  # bf16 must be this much faster: its 7-bit mantissa is not free


class Precision(str, Enum):
    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"


@dataclass(frozen=True)
class StepMode:
    """How a training step runs: the autocast precision and whether tensors are channels-last."""

    precision: Precision
    channels_last: bool

    @property
    def autocast(self) -> Optional[torch.dtype]:
        return {Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}.get(self.precision)

    def __str__(self) -> str:
        return f"{self.precision.value}{' channels-last' if self.channels_last else ''}"



def fixed_mode(precision: Precision, device: torch.device) -> StepMode:
    """The mode of an explicitly asked precision (channels-last wherever tensors are reduced)."""
    if device.type == "cpu":
        if precision is Precision.FP16:
            raise UsageError("fp16 training needs a GPU; on the CPU use fp32 or bf16")
        if precision is Precision.BF16 and not cpu_has_bf16():
            raise UsageError("this CPU has no bf16 instructions (AVX512-BF16 or AMX); use fp32")
        return StepMode(precision, channels_last=precision is Precision.BF16)
    return StepMode(precision, channels_last=device.type == "cuda")


def choose_mode(
    requested: Precision, device: torch.device, time_step: Callable[[StepMode], float], fp16: bool = True,
) -> tuple[StepMode, dict[str, float]]:
    """The mode to train in, and the seconds per step measured for each candidate.

    ``auto``: fp16 on CUDA (with a gradient scaler, as before), or bf16 where the step
    cannot take fp16 (``fp16`` False: ``Recipe.takes_fp16``) and the GPU
    has bf16, else fp32; on a CPU with bf16, the faster of fp32 and bf16 by
    ``time_step``, bf16 only with a clear margin; fp32 on any other CPU.
    """
    if requested is not Precision.AUTO:
        return fixed_mode(requested, device), {}
    if device.type != "cpu":
        if fp16:
            return fixed_mode(Precision.FP16, device), {}
        bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return fixed_mode(Precision.BF16 if bf16 else Precision.FP32, device), {}
    fp32 = fixed_mode(Precision.FP32, device)
    if not cpu_has_bf16():
        return fp32, {}
    bf16 = fixed_mode(Precision.BF16, device)
    timings = {str(mode): time_step(mode) for mode in (fp32, bf16)}
    faster = timings[str(fp32)] > BF16_MARGIN * timings[str(bf16)]
    return (bf16 if faster else fp32), timings

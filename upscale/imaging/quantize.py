"""Float samples to a picture's integer type: the one clamp-and-convert of the output path."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Quantizer:
    """Integer samples of ``dtype`` from floats already scaled to ``peak * value + 0.5``.

    Clamped to ``[0, peak]`` and truncated, which for values >= 0 is rounding half up.
    The float input is the caller's scratch: it is clamped in place, so no second
    float copy of an output-sized tensor is made.
    """

    peak: float
    dtype: torch.dtype

    def into(self, scratch: Tensor, out: Tensor) -> Tensor:
        """``out`` (of ``dtype``) filled from ``scratch``, which is clamped in place."""
        return out.copy_(scratch.float().clamp_(0, self.peak))

    def __call__(self, scratch: Tensor) -> Tensor:
        """A new ``dtype`` tensor from ``scratch``, which is clamped in place."""
        return self.into(scratch, torch.empty(scratch.shape, dtype=self.dtype, device=scratch.device))

"""The bicubic baseline, measured the way the published tables measured it.

The published bicubic rows come from the SRCNN demo's Y-only pipeline: Y of the
uint8 HR image (rounded, as MATLAB's rgb2ycbcr on uint8 returns it), resized down
and up in floating point with no rounding in between, and the result rounded to
uint8. Resizing uint8 RGB and measuring Y of the result lands about +0.01 dB and
+0.0005 SSIM higher on Set5, so the baseline keeps to this pipeline.
"""

from __future__ import annotations

import numpy as np

from ..models import ColorSpace
from .degrade import degrade, y_plane_uint8
from .metrics import quantize

__all__ = ["bicubic_planes", "y_plane_uint8"]


def bicubic_planes(hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(reference Y, bicubic Y), both 0..255, for a modcropped uint8 HR image."""
    planes = degrade(hr, scale, ColorSpace.Y, pre_upsample=True)
    return planes.target.astype(np.float64), quantize(planes.upsampled * 255.0)

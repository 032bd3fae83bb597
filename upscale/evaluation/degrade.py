"""The one degradation of the evaluation protocol, shared by eval, the baseline and training.

Y models: the reference is Y of the uint8 HR, rounded to integers (MATLAB's
``rgb2ycbcr`` on uint8); their LR is that plane MATLAB-resized down in floating
point, unrounded, and the pre-upsampled input is the LR resized back up, unrounded
too (the SRCNN demo's pipeline, which the published bicubic rows use).

RGB models: the reference is the uint8 HR itself and the LR is MATLAB's ``imresize``
of it, rounded to uint8 after each pass as ``imresizemex`` does.

Training degrades whole images with this function and crops afterwards, so a
network is trained on exactly what eval will feed it, without patch-border effects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..imaging.color import rgb_to_y
from ..imaging.resize import matlab_imresize
from ..models import ColorSpace
from .metrics import quantize


def y_plane_uint8(image: np.ndarray) -> np.ndarray:
    """Y of a uint8 RGB image rounded to integers (float64), or the gray plane itself."""
    if image.ndim == 2:
        return image.astype(np.float64)
    return quantize(rgb_to_y(image / 255.0) * 255.0)


@dataclass(frozen=True)
class Degraded:
    """One HR image under the protocol, each array in the form the protocol defines it.

    ``target`` is uint8 levels (the rounded Y plane, or the RGB image). ``lr`` is what
    the network is fed: the Y plane in 0..1, unrounded (float64), or the uint8 RGB LR
    image. ``upsampled`` (the pre-upsampled input of SRCNN, VDSR and DRCN) is the LR
    resized back to the target's size, in 0..1, unrounded.
    """

    target: np.ndarray  # uint8, HxW (Y) or HxWx3 (RGB)
    lr: np.ndarray  # float64 0..1 (Y) or uint8 (RGB)
    upsampled: Optional[np.ndarray] = None  # float64 0..1


def degrade(hr: np.ndarray, scale: int, color: ColorSpace, pre_upsample: bool = False) -> Degraded:
    """The protocol's (reference, LR[, pre-upsampled LR]) of a modcropped uint8 HR image."""
    if color is ColorSpace.Y:
        levels = y_plane_uint8(hr)
        target, lr = levels.astype(np.uint8), matlab_imresize(levels / 255.0, 1.0 / scale)
        upsampled = matlab_imresize(lr, float(scale)) if pre_upsample else None
    else:
        target, lr = hr, matlab_imresize(hr, 1.0 / scale)
        upsampled = matlab_imresize(lr / 255.0, float(scale)) if pre_upsample else None
    return Degraded(target, lr, upsampled)

"""BT.601 studio-swing YCbCr, as MATLAB's ``rgb2ycbcr``/``ycbcr2rgb`` compute it.

All functions take float data with RGB in [0, 1] on the last axis (numpy) or on
dim -3 (torch, ``...CHW``) and return Y, Cb, Cr in [0, 1] as well: Y spans
[16, 235]/255. Callers that need MATLAB's uint8 behaviour round themselves.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import torch

Array = Union[np.ndarray, torch.Tensor]

# MATLAB rgb2ycbcr: [Y Cb Cr]' = OFFSET + MATRIX/255 * [R G B]' for R, G, B in [0, 255].
MATRIX = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ]
)
OFFSET = np.array([16.0, 128.0, 128.0])


def _apply(x: Array, matrix: np.ndarray, pre: np.ndarray, post: np.ndarray, channel_axis: int) -> Array:
    """post + matrix @ (x + pre), contracting the channel axis."""
    if isinstance(x, torch.Tensor):
        # One batched matrix product with the bias folded in: a single pass over the
        # pixels (a 3-channel 1x1 conv2d is 25x slower on the CPU).
        flat = x.reshape(-1, 3, x.shape[-2] * x.shape[-1])
        m = torch.as_tensor(matrix, dtype=x.dtype, device=x.device).expand(flat.shape[0], 3, 3)
        bias = torch.as_tensor(matrix @ pre + post, dtype=x.dtype, device=x.device).view(1, 3, 1)
        return torch.baddbmm(bias.expand_as(flat), m, flat).reshape(x.shape)
    arr = np.moveaxis(np.asarray(x, dtype=np.float64), channel_axis, -1)
    out = (arr + pre) @ matrix.T + post
    return np.moveaxis(out, -1, channel_axis)


def rgb_to_ycbcr(rgb: Array) -> Array:
    """RGB in [0, 1] to YCbCr in [0, 1] (studio swing)."""
    axis = -3 if isinstance(rgb, torch.Tensor) else -1
    return _apply(rgb, MATRIX / 255.0, np.zeros(3), OFFSET / 255.0, axis)


def ycbcr_to_rgb(ycc: Array, gain: float = 1.0, offset: float = 0.0) -> Array:
    """Inverse of :func:`rgb_to_ycbcr`, times ``gain`` plus ``offset``; the result is not clipped.

    The affine part rides along in the same pass (callers quantising to 8 or 16 bits
    pass the peak value and 0.5, saving two passes over the output).
    """
    axis = -3 if isinstance(ycc, torch.Tensor) else -1
    inv = np.linalg.inv(MATRIX / 255.0)
    return _apply(ycc, inv * gain, -OFFSET / 255.0, np.full(3, offset), axis)


def rgb_to_y(rgb: Array) -> Array:
    """Only the Y plane: numpy ``HxWx3 -> HxW``, torch ``...3HW -> ...1HW``."""
    if isinstance(rgb, torch.Tensor):
        w = torch.as_tensor(MATRIX[0] / 255.0, dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
        return (rgb * w).sum(dim=-3, keepdim=True) + OFFSET[0] / 255.0
    return np.asarray(rgb, dtype=np.float64) @ (MATRIX[0] / 255.0) + OFFSET[0] / 255.0

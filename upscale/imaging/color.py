"""BT.601 studio-swing YCbCr, as MATLAB's ``rgb2ycbcr``/``ycbcr2rgb`` compute it.

All functions take float data with RGB in [0, 1] on the last axis (numpy) or on
dim -3 (torch, ``...CHW``) and return Y, Cb, Cr in [0, 1] as well: Y spans
[16, 235]/255. Callers that need MATLAB's uint8 behaviour round themselves.
"""

from __future__ import annotations

import functools
from typing import Sequence, Union

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
INVERSE = np.linalg.inv(MATRIX / 255.0)


def _apply(x: Array, matrix: np.ndarray, pre: np.ndarray, post: np.ndarray, channel_axis: int) -> Array:
    """post + matrix @ (x + pre), contracting the channel axis."""
    if isinstance(x, torch.Tensor):
        return _combine_planes(x.unbind(-3), matrix, matrix @ pre + post)
    arr = np.moveaxis(np.asarray(x, dtype=np.float64), channel_axis, -1)
    out = (arr + pre) @ matrix.T + post
    return np.moveaxis(out, -1, channel_axis)


def _combine_planes(planes: Sequence[torch.Tensor], matrix: np.ndarray, bias: np.ndarray) -> torch.Tensor:
    """``bias + matrix @ planes`` as planar ``...3HW``.

    Three multiply-adds per channel, each written straight into its place in the
    output: a 3x3 matrix product over the pixels is memory-bound, and as one ``baddbmm``
    it took 9.2 ms of ESPCN x4's 31 at 256x256 on the 2-core CPU, copy included.
    """
    first = planes[0]
    out = first.new_empty(*first.shape[:-2], 3, *first.shape[-2:])
    for c in range(3):
        channel = out.select(-3, c)
        terms = [(p, float(m)) for p, m in zip(planes, matrix[c]) if m != 0.0]
        torch.add(first.new_tensor(float(bias[c])), terms[0][0], alpha=terms[0][1], out=channel)
        for plane, m in terms[1:]:
            channel.add_(plane, alpha=m)
    return out


def rgb_to_ycbcr(rgb: Array) -> Array:
    """RGB in [0, 1] to YCbCr in [0, 1] (studio swing)."""
    axis = -3 if isinstance(rgb, torch.Tensor) else -1
    return _apply(rgb, MATRIX / 255.0, np.zeros(3), OFFSET / 255.0, axis)


def ycbcr_to_rgb(ycc: Array, gain: float = 1.0, offset: float = 0.0) -> Array:
    """Inverse of :func:`rgb_to_ycbcr`, times ``gain`` plus ``offset``; the result is not clipped.

    The affine part rides along in the same pass (callers quantising to 8 or 16 bits
    pass the peak value and 0.5, saving two passes over the output).
    """
    if isinstance(ycc, torch.Tensor):
        return ycbcr_planes_to_rgb(ycc.narrow(-3, 0, 1), ycc.narrow(-3, 1, 2), gain, offset)
    return _apply(ycc, INVERSE * gain, -OFFSET / 255.0, np.full(3, offset), -1)


def ycbcr_planes_to_rgb(luma: torch.Tensor, chroma: torch.Tensor, gain: float = 1.0, offset: float = 0.0) -> torch.Tensor:
    """:func:`ycbcr_to_rgb` of ``...1HW`` luma and ``...2HW`` chroma, without joining them first."""
    return add_luma(chroma_terms(chroma, gain, offset), luma, gain)


def chroma_terms(chroma: torch.Tensor, gain: float = 1.0, offset: float = 0.0) -> torch.Tensor:
    """What chroma and the constants add to each of R, G and B (times ``gain`` plus ``offset``): ``...3HW``.

    Linear in the chroma, with the constants carried by weights that sum to one, so
    it may be resized in place of the chroma itself: three LR planes go through the
    bicubic instead of two HR planes through the colour matrix's six multiply-adds
    (ESPCN x4 at 256x256 on the 2-core AMD EPYC, family 25 model 1: the conversion
    took 6.3 ms of the pipeline as nine full-size passes).
    """
    inv = INVERSE * gain
    return _combine_planes(chroma.unbind(-3), inv[:, 1:], inv @ (-OFFSET / 255.0) + offset)


@functools.lru_cache(maxsize=16)
def _luma_and_terms_affine(gain: float, offset: float) -> tuple[tuple[float, ...], ...]:
    """Rows ``(m_r, m_g, m_b, bias)`` giving Y and the three chroma terms from RGB, read off
    :func:`rgb_to_ycbcr` and :func:`chroma_terms` at black and the three primaries."""
    points = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    ycc = rgb_to_ycbcr(points.view(4, 3, 1, 1))
    planes = torch.cat([ycc[:, :1], chroma_terms(ycc[:, 1:], gain, offset)], dim=1).view(4, 4)
    bias = planes[0]
    return tuple(tuple((planes[1:, row] - bias[row]).tolist()) + (float(bias[row]),) for row in range(4))


def luma_and_chroma_terms(rgb: torch.Tensor, gain: float = 1.0, offset: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Y, chroma_terms(CbCr, gain, offset))`` of ``N3HW`` RGB: ``N1HW`` and ``N3HW``.

    Both are affine in RGB, so the four planes are one 4x3 matrix product, where the
    conversion and then :func:`chroma_terms` were fifteen passes over the LR tile
    (0.6 ms for ESPCN x4's 256 x 256 on the 2-core AMD EPYC, family 25 model 1; this 0.2).
    """
    affine = rgb.new_tensor(_luma_and_terms_affine(gain, offset))
    n = rgb.shape[0]
    planes = torch.baddbmm(
        affine[:, 3:].expand(n, 4, 1), affine[:, :3].expand(n, 4, 3), rgb.reshape(n, 3, -1)
    ).view(n, 4, *rgb.shape[-2:])
    return planes.narrow(1, 0, 1), planes.narrow(1, 1, 3)


def add_luma(terms: torch.Tensor, luma: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """RGB, planar ``...3HW``, from :func:`chroma_terms` (``...3HW``) and ``...1HW`` luma.

    One broadcast multiply-add. Planar, because the interleaving is cheaper done once on
    the 8-bit result (inference/engine.py) than here on floats: ESPCN x4's 1024 x 1024
    output, combined, clamped and stored as 8-bit pixels, took 7.0 ms written interleaved
    here and 5.4 this way on the 2-core AMD EPYC (family 25 model 1), paired runs.
    """
    return torch.addcmul(terms, luma, terms.new_tensor(luma_weights(gain)).view(3, 1, 1))


def luma_weights(gain: float = 1.0) -> tuple[float, float, float]:
    """What one unit of Y adds to R, G and B (times ``gain``): RGB = chroma terms + these x Y."""
    return tuple(float(v) for v in INVERSE[:, 0] * gain)


def rgb_to_y(rgb: Array) -> Array:
    """Only the Y plane: numpy ``HxWx3 -> HxW``, torch ``...3HW -> ...1HW``."""
    if isinstance(rgb, torch.Tensor):
        w = torch.as_tensor(MATRIX[0] / 255.0, dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
        return (rgb * w).sum(dim=-3, keepdim=True) + OFFSET[0] / 255.0
    return np.asarray(rgb, dtype=np.float64) @ (MATRIX[0] / 255.0) + OFFSET[0] / 255.0

"""MATLAB-compatible bicubic ``imresize``: the degradation model of all nine papers.

Semantics of MATLAB's ``imresize(A, scale, 'bicubic')``:

* Keys cubic kernel with a = -0.5;
* when shrinking, the kernel is stretched by 1/scale (antialiasing);
* symmetric border handling (the edge sample is repeated: ``... 2 1 1 2 ...``);
* output size ``ceil(in * scale)``, height resized before width;
* integer inputs are rounded (half away from zero) and clipped after each pass,
  as MATLAB's ``imresizemex`` does for uint8/uint16.

PIL, OpenCV and ``torch.nn.functional.interpolate`` differ from this and are not
substitutes. One implementation (torch) serves the CPU, the GPU and numpy callers.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional, Sequence, Union

import numpy as np
import torch

from ..errors import UsageError
from .quantize import Quantizer

Array = Union[np.ndarray, torch.Tensor]


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with a = -0.5."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


@lru_cache(maxsize=64)
def contributions(in_len: int, out_len: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and source indices (both ``out_len x taps``) for one dimension.

    A direct reading of MATLAB's ``contributions``: 1-based output coordinate x maps
    to u = x/scale + (1 - 1/scale)/2 in input coordinates; the taps start at
    floor(u - width/2); out-of-range taps are mirrored symmetrically. Computed in
    float64 and cached, since every image of a set reuses the same few shapes.
    """
    antialias = scale < 1
    width = 4.0 / scale if antialias else 4.0
    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    dist = u[:, None] - idx
    weights = scale * cubic(dist * scale) if antialias else cubic(dist)
    weights = weights / weights.sum(dim=1, keepdim=True)
    mirror = torch.cat([torch.arange(in_len), torch.arange(in_len - 1, -1, -1)])
    idx0 = mirror[torch.remainder(idx.long() - 1, 2 * in_len)]
    keep = weights.ne(0).any(dim=0)
    return weights[:, keep].contiguous(), idx0[:, keep].contiguous()


def output_size(in_len: int, scale: float) -> int:
    """MATLAB's ``ceil(in * scale)``, immune to ``1/3 * 255 = 85.00000000000001``."""
    exact = in_len * scale
    return int(round(exact)) if abs(exact - round(exact)) < 1e-9 else math.ceil(exact)


@lru_cache(maxsize=64)
def polyphase(in_len: int, out_len: int, scale: float) -> Optional[tuple[torch.Tensor, int, int, int, int]]:
    """The resize as a strided convolution, when the factor is an integer or its inverse.

    Then MATLAB's rows repeat with a period: upscaling by s, output x + s uses the
    weights of x shifted by one input sample; downscaling by s, output x + 1 uses them
    shifted by s. The symmetric border is the same as padding the input symmetrically,
    so ``(kernel [phases, taps], start, stride, pad_left, pad_right)`` reproduces
    :func:`contributions` exactly, at a fraction of the cost of gathering every tap.
    None when the factor is not integral or the input is too short to pad by mirroring.
    """
    up, down = round(scale), round(1 / scale)
    if abs(scale - up) < 1e-9 and up >= 1 and out_len == in_len * up:
        phases, stride = up, 1
    elif abs(1 / scale - down) < 1e-9 and down > 1 and out_len == math.ceil(in_len / down - 1e-9):
        phases, stride = 1, down
    else:
        return None
    antialias = scale < 1
    width = 4.0 / scale if antialias else 4.0
    taps = math.ceil(width) + 2
    x = torch.arange(1, phases + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    dist = u[:, None] - (left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :])
    weights = scale * cubic(dist * scale) if antialias else cubic(dist)
    weights = weights / weights.sum(dim=1, keepdim=True)
    lo = int(left.min()) - 1  # 0-based first tap of output 0
    span = taps + int(left.max() - left.min())
    kernel = torch.zeros(phases, span, dtype=torch.float64)
    for p in range(phases):
        shift = int(left[p] - left.min())
        kernel[p, shift : shift + taps] = weights[p]
    last = lo + (out_len // phases - 1) * stride + span - 1  # 0-based last tap read
    pad_left, pad_right = max(0, -lo), max(0, last - (in_len - 1))
    if pad_left > in_len or pad_right > in_len:
        return None
    return kernel, lo + pad_left, stride, pad_left, pad_right


def _symmetric_pad(x: torch.Tensor, dim: int, left: int, right: int) -> torch.Tensor:
    """Mirror ``left``/``right`` samples along ``dim``, the edge sample repeated (MATLAB 'symmetric')."""
    n = x.shape[dim]
    parts = [x.narrow(dim, 0, left).flip(dim), x, x.narrow(dim, n - right, right).flip(dim)]
    return torch.cat([p for p in parts if p.shape[dim]], dim=dim)


def _resize_dim_polyphase(x: torch.Tensor, dim: int, plan: tuple[torch.Tensor, int, int, int, int], out_len: int) -> torch.Tensor:
    """One pass along ``dim`` (-1 or -2) as shifted, scaled views of the padded input.

    Each phase is a weighted sum of a handful of strided views; writing phase p into
    every s-th output interleaves the phases without a transpose. On the CPU this
    beats both ``conv2d`` (a poor algorithm for one input channel) and gathering taps.
    """
    kernel, start, stride, pad_left, pad_right = plan
    flat = _symmetric_pad(x, dim, pad_left, pad_right)
    phases = kernel.shape[0]
    count = out_len // phases
    shape = list(x.shape)
    shape[dim] = count
    shape.insert(len(shape) + dim + 1, phases)  # a phase axis right after ``dim``
    out = x.new_empty(shape)
    for p, row in enumerate(kernel.tolist()):
        acc = None
        for j, w in enumerate(row):
            if w == 0.0:
                continue
            view = flat.narrow(dim, start + j, stride * (count - 1) + 1)
            if stride > 1:
                view = view[..., ::stride] if dim == -1 else view[..., ::stride, :]
            acc = view * w if acc is None else acc.add_(view, alpha=w)
        out.select(dim if dim == -1 else -2, p).copy_(acc)
    merged = list(x.shape)
    merged[dim] = out_len
    return out.reshape(merged)


UPSCALE_BLOCK = 16  # output groups per matrix product: a 64 x 20 band at x4, small enough to waste little


@lru_cache(maxsize=64)
def upscale_band(in_len: int, out_len: int, scale: float) -> tuple[torch.Tensor, int, int]:
    """``(band, first, block)`` for :func:`_upscale_by_blocks`: ``block`` groups of the
    polyphase kernel's phases, each shifted one input sample further, in one matrix
    (``block * phases x block + span - 1``), and the kernel's first nonzero tap."""
    kernel = polyphase(in_len, out_len, scale)[0]
    used = kernel.ne(0).any(dim=0).nonzero().flatten()
    first, span = int(used[0]), int(used[-1]) - int(used[0]) + 1
    phases = kernel.shape[0]
    block = min(UPSCALE_BLOCK, out_len // phases)
    band = torch.zeros(block * phases, block + span - 1, dtype=torch.float64)
    for b in range(block):
        band[b * phases : (b + 1) * phases, b : b + span] = kernel[:, first : first + span]
    return band, first, block


def _upscale_by_blocks(
    x: torch.Tensor,
    dim: int,
    out_len: int,
    scale: float,
    plus: Optional[tuple[torch.Tensor, Sequence[float]]] = None,
    quantize: Optional[Quantizer] = None,
) -> torch.Tensor:
    """An integer upscale along ``dim`` (-1 or -2) as one matrix product, for unrounded data.

    Outputs ``s*i .. s*i + s-1`` all read the same few inputs, so ``UPSCALE_BLOCK`` such
    groups are one small band matrix times a window of the padded input, and the product
    lands with the phases already interleaved: every output written once, contiguously.
    The sums are the same taps as :func:`_resize_dim_polyphase`'s; only their rounding
    order may differ, which is why data rounded between passes (MATLAB's uint8
    semantics) keeps that path. ``plus`` is :func:`upscale_plus`'s addend and weights, for
    the row pass of an ``N C H W`` tensor, and ``quantize`` its integer output.
    """
    in_len = x.shape[dim]
    _, start, _, pad_left, pad_right = polyphase(in_len, out_len, scale)
    band, first, block = upscale_band(in_len, out_len, scale)
    band = band.to(x)
    phases, width = out_len // in_len, band.shape[1]
    blocks = -(-in_len // block)
    padded = _symmetric_pad(x, dim, pad_left, pad_right).narrow(dim, start + first, in_len + width - block)
    short = (blocks - 1) * block + width - padded.shape[dim]
    if short > 0:  # the last block reads past the end: zeros, whose outputs are cut off below
        shape = list(padded.shape)
        shape[dim] = short
        padded = torch.cat([padded, padded.new_zeros(shape)], dim=dim)
    if dim == -1:  # rows of windows times the band's transpose: (..., blocks, width) @ (width, block*s)
        windows = padded.unfold(-1, width, block)
        out = (windows.reshape(-1, width) @ band.T).view(*x.shape[:-1], blocks * block * phases)
    elif plus is None:  # the band times columns of windows: (block*s, width) @ (..., blocks, width, W)
        out = torch.matmul(band, padded.unfold(-2, width, block).transpose(-1, -2)).flatten(-3, -2)
    else:  # the same, each plane's product accumulated onto its multiple of the addend
        addend, weights = plus
        windows = padded.unfold(-2, width, block).transpose(-1, -2)
        plane = (blocks, block * phases, x.shape[-1])
        out = x.new_empty(*x.shape[:-2], *plane, dtype=quantize.dtype if quantize else x.dtype)
        # Quantized plane by plane through one plane of float scratch, which stays in cache,
        # instead of a full-size float output and two more passes over it.
        scratch = x.new_empty(plane) if quantize else None
        bands = band.expand(blocks, *band.shape)
        for n in range(x.shape[0]):
            base = addend[n, 0].view(plane)
            for c, weight in enumerate(weights):
                if quantize is None:
                    torch.baddbmm(base, bands, windows[n, c], beta=weight, out=out[n, c])
                else:
                    quantize.into(torch.baddbmm(base, bands, windows[n, c], beta=weight, out=scratch), out[n, c])
        out = out.flatten(-3, -2)
    return out if blocks * block == in_len else out.narrow(dim, 0, out_len)


def upscale_plus(
    x: torch.Tensor, scale: int, addend: torch.Tensor, weights: Sequence[float], quantize: Optional[Quantizer] = None
) -> torch.Tensor:
    """``imresize_tensor(x, scale)`` plus ``weights[c] * addend`` in each channel ``c``,
    as ``quantize``'s integers when given.

    ``x`` is ``N C h w`` float, ``addend`` ``N 1 H W`` at the output's size. Where the
    band-matrix path applies in full blocks, the sum is accumulated in the last matrix
    product, a pass over the output fewer: a Y model's chroma terms plus its luma, ESPCN x4
    at 256x256, 4.5 -> 3.4 ms on the 2-core AMD EPYC (family 25 model 1), paired runs.
    Quantizing each plane as it is summed took the sum, clamp and conversion from 5.4 to
    4.3-4.5 ms on the 2-core AMD EPYC (family 23 model 49).
    """
    h, w = x.shape[-2:]
    plans = (polyphase(h, h * scale, float(scale)), polyphase(w, w * scale, float(scale)))
    fits = x.dim() == 4 and len(weights) == x.shape[1] and addend.shape == (x.shape[0], 1, h * scale, w * scale)
    if fits and scale > 1 and all(p is not None for p in plans) and h % upscale_band(h, h * scale, float(scale))[2] == 0:
        wide = _upscale_by_blocks(x, -1, w * scale, float(scale))
        return _upscale_by_blocks(wide, -2, h * scale, float(scale), (addend.contiguous(), weights), quantize)
    out = torch.addcmul(imresize_tensor(x, float(scale)), addend, x.new_tensor(list(weights)).view(-1, 1, 1))
    return quantize(out) if quantize else out


def _resize_dim_gather(x: torch.Tensor, dim: int, out_len: int, scale: float) -> torch.Tensor:
    """One pass by gathering every tap: any factor, any length (the general path)."""
    weights, idx = contributions(x.shape[dim], out_len, scale)
    weights = weights.to(device=x.device, dtype=x.dtype)
    idx = idx.to(x.device)
    shape = [1] * x.dim()
    shape[dim] = out_len
    out = None
    for k in range(weights.shape[1]):
        term = x.index_select(dim, idx[:, k]) * weights[:, k].reshape(shape)
        out = term if out is None else out.add_(term)
    return out


def _resize_dim(x: torch.Tensor, dim: int, out_len: int, scale: float, quant_max: Optional[float]) -> torch.Tensor:
    plan = polyphase(x.shape[dim], out_len, scale)
    if plan is not None:
        out = _resize_dim_polyphase(x, dim - x.dim(), plan, out_len)
    else:
        out = _resize_dim_gather(x, dim, out_len, scale)
    if quant_max is not None:
        out = torch.floor(out + 0.5).clamp_(0, quant_max)
    return out


def imresize_tensor(
    x: torch.Tensor,
    scale: Optional[float] = None,
    size: Optional[Sequence[int]] = None,
    quantize_max: Optional[float] = None,
) -> torch.Tensor:
    """Resize the last two dimensions of a float tensor ``(..., H, W)``.

    Give either ``scale`` (one factor for both dimensions) or ``size`` = (H, W); with
    ``size`` the factor of each dimension is out/in, as in MATLAB. ``quantize_max``
    rounds and clips after each pass (255 for uint8 data kept in float).
    """
    if not x.is_floating_point():
        raise TypeError("imresize_tensor needs a floating-point tensor")
    in_h, in_w = x.shape[-2], x.shape[-1]
    if (scale is None) == (size is None):
        raise UsageError("give exactly one of scale or size")
    if scale is not None:
        if scale <= 0:
            raise UsageError(f"resize scale must be positive, got {scale}")
        out_h, out_w = output_size(in_h, scale), output_size(in_w, scale)
        scale_h = scale_w = float(scale)
    else:
        out_h, out_w = int(size[0]), int(size[1])
        if out_h <= 0 or out_w <= 0:
            raise UsageError(f"resize size must be positive, got {tuple(size)}")
        scale_h, scale_w = out_h / in_h, out_w / in_w
    plans = (polyphase(in_h, out_h, scale_h), polyphase(in_w, out_w, scale_w))
    if quantize_max is None and all(p is not None and p[0].shape[0] > 1 for p in plans):
        # An unrounded integer upscale, as at inference. The pass order only matters when
        # rounding comes between passes, so the width goes first, on the small image, and the
        # full-size pass is the one whose products are whole rows. On the 2-core AMD EPYC
        # (family 25 model 1), ESPCN x4's chroma, 3 x 256 x 256 -> 1024 x 1024, took 8.1 ms
        # as per-tap shifted views and 4.5 this way (paired runs).
        return _upscale_by_blocks(_upscale_by_blocks(x, -1, out_w, scale_w), -2, out_h, scale_h)
    y = x
    if (out_h, scale_h) != (in_h, 1.0):
        y = _resize_dim(y, y.dim() - 2, out_h, scale_h, quantize_max)
    if (out_w, scale_w) != (in_w, 1.0):
        y = _resize_dim(y, y.dim() - 1, out_w, scale_w, quantize_max)
    return y


def matlab_imresize(
    image: Array, scale: Optional[float] = None, size: Optional[Sequence[int]] = None
) -> Array:
    """MATLAB ``imresize(image, scale, 'bicubic')`` for numpy arrays and tensors.

    numpy: ``HxW`` or ``HxWxC``; uint8/uint16 in, same dtype out (rounded after each
    pass like MATLAB); floating point is computed in float64 and returned as float64.
    torch: ``(..., H, W)`` floating point, computed in its own dtype and device.
    """
    if isinstance(image, torch.Tensor):
        return imresize_tensor(image, scale, size)
    arr = np.asarray(image)
    integer = arr.dtype in (np.uint8, np.uint16)
    if not integer and not np.issubdtype(arr.dtype, np.floating):
        raise UsageError(f"cannot resize an array of dtype {arr.dtype}")
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64))
    if arr.ndim == 3:
        t = t.permute(2, 0, 1)
    elif arr.ndim != 2:
        raise UsageError(f"expected an HxW or HxWxC array, got shape {arr.shape}")
    qmax = float(np.iinfo(arr.dtype).max) if integer else None
    out = imresize_tensor(t, scale, size, quantize_max=qmax)
    if arr.ndim == 3:
        out = out.permute(1, 2, 0)
    out = out.numpy()
    return out.astype(arr.dtype) if integer else out

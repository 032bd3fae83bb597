"""Layers the architectures share: a same-padded convolution initialised for its activation, and its polyphase form."""

from __future__ import annotations

from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Activation = Literal["relu", "leaky_relu", "tanh", "linear"]


def he_conv(
    cin: int, cout: int, kernel: int = 3, *, activation: Activation = "relu", slope: float = 0.0, stride: int = 1
) -> nn.Conv2d:
    """A ``kernel``-square convolution with ``kernel // 2`` padding, He-normal weights and zero biases.

    Same padding keeps the LR and HR grids aligned, which the receptive radius and
    tiling assume. The weights' scale is the one for ``activation`` (He et al. 2015),
    with ``slope`` the negative slope of a leaky ReLU or PReLU after it.
    """
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)
    nn.init.kaiming_normal_(conv.weight, a=slope, nonlinearity=activation)
    nn.init.zeros_(conv.bias)
    return conv


# A channels-last position's ``factor`` phases of one output row are ``factor`` adjacent
# output pixels: moved as one element this wide, the shuffle is a plain transpose.
_WIDE_ELEMENT = {2: torch.int16, 4: torch.int32, 8: torch.int64, 16: torch.complex128}


def pixel_shuffle(x: Tensor, factor: int) -> Tensor:
    """``F.pixel_shuffle``, one strided copy from a channels-last input, the result NCHW.

    For a network's last step, where the phases of a few output channels become the
    image: ``F.pixel_shuffle`` on channels-last phases took 2.25 ms for ESPCN x4's
    16 x 256 x 256 on the 2-core AMD EPYC (family 25 model 1), the strided copy 1.0.
    Without autograd, each run of ``factor`` output pixels moves as one wide element
    (x2 and x4 in float32): 0.49 -> 0.12 ms on the 2-core AMD EPYC (family 23 model 49).
    The values are the same bits (a copy); on any other layout it is ``F.pixel_shuffle`` itself.
    """
    n, c, h, w = x.shape
    if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
        return F.pixel_shuffle(x, factor)
    out_c = c // (factor * factor)
    wide = _WIDE_ELEMENT.get(factor * x.element_size())
    if wide is not None and not x.requires_grad:
        runs = x.permute(0, 2, 3, 1).view(wide).view(n, h, w, out_c, factor)  # (.., out channel, phase row)
        # A fresh tensor, not .contiguous(): with w == 1 that may return a view whose last
        # stride is not 1, which a view as a narrower dtype refuses.
        rows = torch.empty((n, out_c, h, factor, w), dtype=wide, device=x.device)
        rows.copy_(runs.permute(0, 3, 1, 4, 2))  # (n, out channel, h, phase row, w)
        return rows.view(x.dtype).view(n, out_c, h * factor, w * factor)
    phases = x.permute(0, 2, 3, 1).view(n, h, w, out_c, factor, factor)
    return phases.permute(0, 3, 1, 4, 2, 5).reshape(n, out_c, h * factor, w * factor)


def polyphase_weights(conv: nn.Conv2d, factor: int) -> tuple[Tensor, Tensor, int]:
    """Weights, bias and padding of the convolution that, between ``pixel_unshuffle(x, factor)``
    and ``pixel_shuffle(y, factor)``, gives exactly what the stride-1 same-padded ``conv`` gives.

    Output phase ``a`` at coarse position ``i`` (fine position ``factor*i + a``) sums the
    input at fine offsets ``-r..r`` (``r = kernel // 2``), i.e. input phase ``c`` at coarse
    offset ``m`` with ``factor*m + c - a`` in ``-r..r``; so each (output phase, input phase)
    pair is a small correlation whose taps are gathered from the kernel.
    """
    f, k = factor, conv.kernel_size[0]
    r = k // 2
    reach = (r + f - 1) // f  # coarse offsets -reach..reach cover every fine offset in -r..r
    size = 2 * reach + 1
    taps = torch.full((f, f, size), -1, dtype=torch.long)  # (out phase, in phase, coarse offset) -> kernel index
    for a in range(f):
        for c in range(f):
            for m in range(-reach, reach + 1):
                offset = f * m + c - a
                if -r <= offset <= r:
                    taps[a, c, m + reach] = offset + r
    valid = taps >= 0
    index = taps.clamp(min=0).to(conv.weight.device)
    rows = index[:, :, :, None, None, None].expand(f, f, size, f, f, size)  # a c m | b d n
    cols = index[None, None, None].expand(f, f, size, f, f, size)
    mask = (valid[:, :, :, None, None, None] & valid[None, None, None]).to(conv.weight.device)
    w = conv.weight[:, :, rows, cols] * mask  # out, in, a c m b d n
    w = w.permute(0, 2, 5, 1, 3, 6, 4, 7)  # out a b | in c d | m n
    out_ch, in_ch = conv.weight.shape[:2]
    bias = conv.bias.repeat_interleave(f * f) if conv.bias is not None else None
    return w.reshape(out_ch * f * f, in_ch * f * f, size, size), bias, reach


def polyphase_conv(conv: nn.Conv2d, x: Tensor, factor: int, weights: Optional[tuple[Tensor, Tensor, int]] = None) -> Tensor:
    """``conv(x)`` computed at ``1/factor`` of the resolution with ``factor**2`` times the channels.

    A wide kernel with few outputs (SRResNet's 9x9 64->3 last layer) keeps oneDNN far
    from its convolution rate; the same arithmetic as a 5x5 256->12 convolution on the
    half-size grid ran its training step (forward and backward, bf16) 1.6x faster on the
    2-core AMD EPYC. ``x``'s height and width must be multiples of ``factor``.
    """
    weight, bias, pad = weights if weights is not None else polyphase_weights(conv, factor)
    coarse = F.pixel_unshuffle(x, factor).contiguous(memory_format=torch.channels_last)
    return F.pixel_shuffle(F.conv2d(coarse, weight, bias, padding=pad), factor)

"""Convolution with its activation fused in, for CPU inference.

oneDNN applies an elementwise post-op while the convolution's output is still in
cache, so a ``tanh`` or ``relu`` after a conv costs almost nothing instead of a full
pass over memory (ESPCN x4 at 256x256 on the 2-core CPU: the two tanh took about a
quarter of the network's time). PyTorch exposes the fused kernel only as the
private ``torch.ops.mkldnn._convolution_pointwise`` that its own compiler emits, so
it is used when present and working, and the plain ops otherwise; the results agree
to float32 rounding (a test checks every model that uses it).
"""

from __future__ import annotations

import functools
import weakref
from enum import Enum
from typing import Any, Callable, Literal, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.flop_counter import conv_flop_count, flop_registry, register_flop_formula

Activation = Literal["none", "relu", "tanh"]

_ACT = {"none": lambda t: t, "relu": torch.relu, "tanh": torch.tanh}
_FUSED = getattr(torch.ops.mkldnn, "_convolution_pointwise", None)
_state = {"usable": None}


@functools.lru_cache(maxsize=1)  # the CPU does not change: asked once, not per layer and tile
def _fused_tanh_is_fast() -> bool:
    """Whether oneDNN's fused tanh beats a plain convolution and the sigmoid identity below.

    With AVX-512 it does (ESPCN's tanh nearly free on the 2-core AMD EPYC, family 25 model 17).
    With AVX2 only, both oneDNN's tanh and ATen's are accurate to an ulp and slow: on the
    2-core AMD EPYC family 25 model 1, ESPCN's 1->64 5x5 conv at 256x256 took 2.4 ms plain,
    14.6 ms with the fused tanh and 6.6 ms through ``2 sigmoid(2z) - 1``.
    """
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def _fused_flops(x_shape: Sequence[int], w_shape: Sequence[int], *_: Any, out_shape: Sequence[int] = (), **__: Any) -> int:
    return conv_flop_count(list(x_shape), list(w_shape), list(out_shape))


# So `upscale bench` counts the fused kernel's multiply-adds like a plain convolution's.
if _FUSED is not None and _FUSED not in flop_registry:
    register_flop_formula(_FUSED)(_fused_flops)


def _fused_usable(x: Tensor) -> bool:
    if _state["usable"] is False or x.device.type != "cpu" or x.dtype != torch.float32:
        return False
    if torch.is_grad_enabled() or not torch.backends.mkldnn.is_available():
        return False
    if torch.compiler.is_compiling():  # export and compile trace the plain, portable ops
        return False
    if torch.is_autocast_enabled(x.device.type):  # autocast only knows the plain convolution
        return False
    return _FUSED is not None


class Float32(Enum):
    """When a layer steps out of autocast into float32.

    An SR network's first layer sees the image and its last one writes it; bf16's
    8-bit mantissa there costs PSNR that the middle layers do not (ESPCN x2 on Set5:
    -0.11 dB in inference). The output layer matters in training too, where the
    loss is measured on its output; the input layer only matters for what a user
    gets, and in training its float32 tanh and casts cost ESPCN's bf16 step about a
    tenth (ESPCN x3, 3,000 steps: input and output in float32, Set5 -0.014 dB
    against fp32 training; output only, -0.015 dB and 12% faster; neither, -0.055 dB).
    """

    NEVER = "never"
    INFERENCE = "inference"  # where gradients are off
    ALWAYS = "always"


def _leaves_autocast(x: Tensor, when: Float32) -> bool:
    if when is Float32.NEVER or not torch.is_autocast_enabled(x.device.type):
        return False
    return when is Float32.ALWAYS or not torch.is_grad_enabled()


def in_float32(block: Callable[[Tensor], Tensor], x: Tensor, when: Float32 = Float32.ALWAYS) -> Tensor:
    """``block(x)``, with autocast off (and ``x`` in float32) when autocast is on and ``when`` says so."""
    if _leaves_autocast(x, when):
        with torch.autocast(x.device.type, enabled=False):
            return block(x.float())
    return block(x)


def _conv_weight(conv: nn.Conv2d, weight: Tensor) -> Tensor:
    """``weight`` as :func:`_fused_conv` hands it to oneDNN: a one-channel first layer's as ``k x 1`` columns."""
    if conv.in_channels == 1 and conv.kernel_size[0] > 1 and _same_size(conv):
        return weight[:, 0].transpose(1, 2).unsqueeze(-1).contiguous(memory_format=torch.channels_last)
    return weight


def _fused_conv(x: Tensor, conv: nn.Conv2d, weight: Tensor, bias: Tensor, act: str) -> Tensor:
    """oneDNN's fused ``act(conv(x))`` with ``conv``'s geometry and the given weight (from
    :func:`_conv_weight`) and bias.

    A one-channel input (a Y model's first layer) runs as ``k`` copies of itself, each
    shifted one column further, under a ``k x 1`` kernel: the same products and sums, and
    oneDNN's kernel for a few input channels beats its one-channel path (ESPCN x4 at
    256x256 on the 2-core AMD EPYC, family 25 model 1: the whole network 3.5% faster,
    paired runs, the output bit for bit the same).
    """
    k = conv.kernel_size[0]
    if conv.in_channels == 1 and k > 1 and _same_size(conv):
        pad = k // 2
        n, _, h, w = x.shape
        padded = F.pad(x, (pad, pad))
        shifted = x.new_empty(n, h, w, k)  # channels-last: channel j is the image moved j - pad columns
        for j in range(k):
            shifted[..., j] = padded[:, 0, :, j : j + w]
        return _FUSED(shifted.permute(0, 3, 1, 2), weight, bias, [pad, 0], [1, 1], [1, 1], 1, act, [], "")
    return _FUSED(x, weight, bias, list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups, act, [], "")


def conv_act(x: Tensor, conv: nn.Conv2d, act: Activation, float32: Float32 = Float32.NEVER) -> Tensor:
    """``act(conv(x))``, fused on the CPU in inference; ``float32`` says when it leaves autocast."""
    if _leaves_autocast(x, float32):
        return in_float32(lambda t: conv_act(t, conv, act), x)
    if _fused_usable(x):
        slow_tanh = act == "tanh" and not _fused_tanh_is_fast()
        # tanh(z) = 2 sigmoid(2z) - 1, with the 2z from weights doubled (exact: a power of two)
        # and the sigmoid fused, which oneDNN does fast everywhere (ESPCN x4 at 256x256 on the
        # family 25 model 1 EPYC: 2-5% faster than ATen's sigmoid as its own pass; a stack of
        # such layers folds the 2s - 1 into the next one too: tanh_stack). The layer's operands
        # come from the same cache as a stack's, unfolded.
        weight, bias, _ = _fold(conv, 2.0 if slow_tanh else 1.0, folded=False)
        try:
            out = _fused_conv(x, conv, weight, bias, "sigmoid" if slow_tanh else act)
            return out.mul_(2).sub_(1) if slow_tanh else out
        except RuntimeError:  # a build whose oneDNN lacks the kernel: use the plain ops from now on
            _state["usable"] = False
    return _ACT[act](F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups))


def tanh_is_slow(x: Tensor) -> bool:
    """Whether ``x`` is CPU float32 inference on a CPU whose fused tanh is slow (:func:`tanh_stack`'s case)."""
    return _fused_usable(x) and not _fused_tanh_is_fast()


def _same_size(conv: nn.Conv2d) -> bool:
    k = conv.kernel_size
    plain = conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1 and conv.bias is not None
    return plain and k[0] == k[1] and k[0] % 2 == 1 and conv.padding == (k[0] // 2,) * 2 and conv.padding_mode == "zeros"


def _border_terms(conv: nn.Conv2d, gain: float) -> Tensor:
    """``gain`` times the weight of the taps that fall outside the image, by position class.

    ``(1, out, 2p+1, 2p+1)``: row ``i < p`` is an output ``i`` rows from the top edge, row
    ``p`` the interior (all zero), rows past ``p`` the same from the bottom; columns alike.
    """
    p = conv.padding[0]
    classes = torch.arange(2 * p + 1, device=conv.weight.device)
    offset = classes[:, None] + classes[None, :] - p  # (class, tap): where the tap reads in a (2p+1)-wide image
    inside = (offset >= 0) & (offset <= 2 * p)
    missing = ~(inside[:, None, :, None] & inside[None, :, None, :])  # (row class, col class, tap row, tap col)
    # Elementwise, not a convolution: bench's FLOP count stays the network's own.
    per_tap = conv.weight.sum(dim=1)[:, None, None]  # (out, 1, 1, k, k)
    return (per_tap * missing.to(per_tap)).sum(dim=(-2, -1))[None] * gain


def _add_border(y: Tensor, terms: Tensor) -> Tensor:
    """``y`` plus ``terms`` (from :func:`_border_terms`) on its ``p``-wide border, in place."""
    p = terms.shape[-1] // 2
    h, w = y.shape[-2:]
    rows = ((slice(0, p), slice(0, p)), (slice(p, h - p), slice(p, p + 1)), (slice(h - p, h), slice(p + 1, None)))
    cols = ((slice(0, p), slice(0, p)), (slice(p, w - p), slice(p, p + 1)), (slice(w - p, w), slice(p + 1, None)))
    for i, (y_rows, t_rows) in enumerate(rows):
        for j, (y_cols, t_cols) in enumerate(cols):
            if (i, j) != (1, 1):  # the interior misses no tap
                y[..., y_rows, y_cols] += terms[..., t_rows, t_cols]
    return y


def tanh_stack(x: Tensor, hidden: Sequence[nn.Conv2d], last: nn.Conv2d) -> Tensor:
    """``last(tanh(... tanh(hidden[0](x))))`` for :func:`tanh_is_slow`'s case: a stack of
    same-size convolutions with tanh between them.

    ``tanh(z) = 2 sigmoid(2z) - 1``: the first sigmoid is fused into its convolution, and
    each ``2s - 1`` is folded into the next layer (weights doubled, bias less the weight's
    sum), so no pass over memory is spent on it. Folding is exact but at the border: the
    zero padding of ``tanh`` is 1/2 in ``s``, so the taps that fall outside the image are
    added back there, per output position class (:func:`_border_terms`). On the 2-core AMD
    EPYC (family 25 model 1), ESPCN x4's network at 256x256 ran 8% faster so than with the
    affine as its own passes, paired runs.
    """
    convs = (*hidden, last)
    reach = max(conv.padding[0] for conv in convs[1:])
    if not tanh_is_slow(x) or not all(_same_size(conv) for conv in convs) or min(x.shape[-2:]) <= 2 * reach:
        for conv in hidden:  # too small a tile for the border classes: the layers one by one
            x = conv_act(x, conv, "tanh")
        return conv_act(x, last, "none")
    try:
        return _folded_stack(x, convs, last)
    except RuntimeError:  # a build whose oneDNN lacks the kernel: as conv_act, the plain ops from now on
        _state["usable"] = False
        return tanh_stack(x, hidden, last)


# The scaled or folded weights, biases and border terms of fused layers, by layer: derived once
# per set of weights, not per tile (about forty small operations that took ESPCN x4's
# network on an 8x8 picture from 1.10 to 0.77 ms on the 2-core AMD EPYC,
# family 23 model 49). Keyed by the module, so dropped with it,
# and checked against the parameters' storage and version, so an update or a move to
# another device derives them again. The entry holds the storages it was derived from, so
# their addresses cannot be handed to new weights while it stands.
_FOLDS: "weakref.WeakKeyDictionary[nn.Conv2d, tuple[tuple[Any, ...], tuple[Any, ...], tuple[Tensor, Tensor, Optional[Tensor]]]]" = (
    weakref.WeakKeyDictionary()
)


def _fold(conv: nn.Conv2d, gain: float, folded: bool) -> tuple[Tensor, Tensor, Optional[Tensor]]:
    """``conv``'s weight (as :func:`_conv_weight`) and bias times ``gain``; with ``folded``,
    its input's ``2s - 1`` folded in and the border terms that fold needs (else None).

    ``empty_like`` keeps the weight's exact strides: a one-channel weight's channels-last
    strides decide oneDNN's output layout (imaging/layout.py), and a plain ``*`` drops them.
    """
    w, b = conv.weight, conv.bias
    # Parameters made inside inference_mode keep no version counter: those are derived each time.
    key = None if w.is_inference() or b.is_inference() else (gain, folded, w.data_ptr(), w._version, b.data_ptr(), b._version)
    cached = _FOLDS.get(conv)
    if key is not None and cached is not None and cached[0] == key:
        return cached[2]
    weight = torch.mul(w, 2 * gain if folded else gain, out=torch.empty_like(w))
    bias = (b - w.sum(dim=(1, 2, 3)) if folded else b) * gain
    operands = (_conv_weight(conv, weight), bias, _border_terms(conv, gain) if folded else None)
    if key is not None:
        _FOLDS[conv] = (key, (w.untyped_storage(), b.untyped_storage()), operands)
    return operands


def _folded_stack(x: Tensor, convs: Sequence[nn.Conv2d], last: nn.Conv2d) -> Tensor:
    out = x
    for i, conv in enumerate(convs):
        gain = 2.0 if conv is not last else 1.0  # a hidden layer's output feeds sigmoid(2z)
        folded = i > 0  # its input is s, where the layer expects 2s - 1
        weight, bias, border = _fold(conv, gain, folded)
        act = "sigmoid" if conv is not last and not folded else "none"  # a fold's border fix comes before its sigmoid
        out = _fused_conv(out, conv, weight, bias, act)
        if border is not None:
            out = _add_border(out, border)
            if conv is not last:
                out = out.sigmoid_()
    return out

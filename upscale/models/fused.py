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
from enum import Enum
from typing import Any, Callable, Literal, Sequence

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


def conv_act(x: Tensor, conv: nn.Conv2d, act: Activation, float32: Float32 = Float32.NEVER) -> Tensor:
    """``act(conv(x))``, fused on the CPU in inference; ``float32`` says when it leaves autocast."""
    if _leaves_autocast(x, float32):
        return in_float32(lambda t: conv_act(t, conv, act), x)
    if _fused_usable(x):
        weight, bias = conv.weight, conv.bias
        slow_tanh = act == "tanh" and not _fused_tanh_is_fast()
        if slow_tanh:
            # tanh(z) = 2 sigmoid(2z) - 1, with the 2z from weights doubled (exact: a power of two)
            # and the sigmoid fused, which oneDNN does fast everywhere (ESPCN x4 at 256x256 on the
            # family 25 model 1 EPYC: 2-5% faster than ATen's sigmoid as its own pass; folding the
            # 2s - 1 into the next layer's weights too measured no faster). empty_like keeps the
            # weight's exact strides: a one-channel weight's channels-last strides decide oneDNN's
            # output layout (imaging/layout.py), and `* 2` drops them.
            weight = torch.mul(conv.weight, 2, out=torch.empty_like(conv.weight))
            bias = conv.bias * 2
        try:
            out = _FUSED(
                x, weight, bias, list(conv.padding), list(conv.stride),
                list(conv.dilation), conv.groups, "sigmoid" if slow_tanh else act, [], "",
            )
            return out.mul_(2).sub_(1) if slow_tanh else out
        except RuntimeError:  # a build whose oneDNN lacks the kernel: use the plain ops from now on
            _state["usable"] = False
    return _ACT[act](F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups))

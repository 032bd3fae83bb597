"""bf16 and fp16 convolutions emulated with float32 kernels, for measuring precision drift anywhere.

oneDNN's reduced-precision convolution reads bf16 (or fp16) inputs and weights,
accumulates in float32 and writes its result in the reduced type. On a CPU without
those kernels (no AVX512-BF16 or AMX), PyTorch falls back to reference code that is
about 200x slower than float32: a 64->64 3x3 convolution on a 128x128 map took 8.6 s
against 0.042 s on a 2-core AMD EPYC (Zen 2), which puts the Set5 drift of RDN, that
``upscale weights add`` records, hours away. Every reduced-precision input is exact in
float32, so running the float32 kernel on them and rounding its result back gives the
same numbers up to the order of accumulation (one unit in the last place at some
pixels). Only convolutions are replaced: autocast still decides what runs reduced,
and every other op runs as it would.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

from .precision import cpu_has_bf16, cpu_has_fp16

REDUCED = (torch.bfloat16, torch.float16)
# Under inference_mode autocast hands the dispatcher aten::conv2d itself; with autograd,
# the decomposed aten::convolution. Transposed convolutions are emulated the same way,
# though no shipped network runs one at inference (FSRCNN's deconvolution runs as a
# convolution and a pixel shuffle).
CONVOLUTIONS = frozenset({"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "convolution", "_convolution"})


def native_kernels(dtype: torch.dtype) -> bool:
    """Whether this CPU convolves in ``dtype`` at speed (float32 always does)."""
    return {torch.bfloat16: cpu_has_bf16, torch.float16: cpu_has_fp16}.get(dtype, lambda: True)()


class Float32Convolutions(TorchDispatchMode):
    """Within it, a convolution on bf16/fp16 tensors runs the float32 kernel and rounds its result back."""

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        first = args[0] if args else None
        if func.overloadpacket.__name__ in CONVOLUTIONS and isinstance(first, torch.Tensor) and first.dtype in REDUCED:
            widen = lambda t: t.float() if isinstance(t, torch.Tensor) and t.dtype in REDUCED else t  # noqa: E731
            return func(*tree_map(widen, args), **tree_map(widen, kwargs)).to(first.dtype)
        return func(*args, **kwargs)

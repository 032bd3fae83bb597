"""The per-tile super-resolution pipeline a model's spec calls for.

A pure function of an LR tile: colour handling (Y models see BT.601 Y and get
their chroma from the MATLAB bicubic; RGB models see RGB; gray stays gray),
pre-upsampling for SRCNN/VDSR/DRCN, the network, and the MATLAB-bicubic resize
for scales a network serves through another (LapSRN x3 through x4).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Callable, Optional

import torch
from torch import nn

from ..imaging.color import luma_and_chroma_terms, luma_weights
from ..imaging.layout import channels_last
from ..imaging.quantize import Quantizer
from ..imaging.resize import imresize_tensor, upscale_plus
from ..models import ColorSpace, InputKind, ModelSpec

BICUBIC_REACH = 2  # the Keys kernel reaches 2 source pixels when upsampling


def pipeline_radius(spec: ModelSpec, scale: int) -> int:
    """How far, in LR pixels, an output pixel of the whole pipeline can see."""
    net_scale = spec.network_scale(scale)
    if spec.input_kind is InputKind.PRE_UPSAMPLED:
        reach = math.ceil(spec.receptive_radius / scale) + BICUBIC_REACH
    else:
        reach = spec.receptive_radius + (1 if net_scale != scale else 0)
    return max(reach, BICUBIC_REACH)


def make_pipeline(
    spec: ModelSpec,
    net: nn.Module,
    scale: int,
    autocast_dtype: Optional[torch.dtype] = None,
    gain: float = 1.0,
    offset: float = 0.0,
    quantize: Optional[Quantizer] = None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``N,C,h,w -> N,C,h*scale,w*scale`` (C = 1 gray or 3 RGB).

    The output is ``gain * value + offset`` (``value`` in [0, 1] scale), folded into the
    colour conversion where there is one: floats, unclamped, or ``quantize``'s integers
    (a Y model's quantized plane by plane as the colour is summed, resize.upscale_plus).
    """
    affine = gain != 1.0 or offset != 0.0

    def output(y: torch.Tensor) -> torch.Tensor:  # gain * y + offset, as integers when asked
        y = y.mul_(gain).add_(offset) if affine else y
        return quantize(y) if quantize else y

    net_scale = spec.network_scale(scale)

    def run_network(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if spec.input_kind is InputKind.PRE_UPSAMPLED:
            x = imresize_tensor(x, float(scale))
        x = channels_last(x)
        ctx = torch.autocast(x.device.type, dtype=autocast_dtype) if autocast_dtype else nullcontext()
        with ctx:
            y = net(x).float().contiguous()
        if autocast_dtype is torch.float16 and not torch.isfinite(y).all():
            y = net(x).float().contiguous()  # fp16 overflowed (max 65504): this tile again in fp32
        if net_scale != scale and spec.input_kind is InputKind.LR:
            y = imresize_tensor(y, size=(h * scale, w * scale))
        return y

    def pipeline(x: torch.Tensor) -> torch.Tensor:
        gray = x.shape[-3] == 1
        if spec.color_space is ColorSpace.RGB:
            out = run_network(x.expand(-1, 3, -1, -1) if gray else x)
            return output(out.mean(dim=-3, keepdim=True) if gray else out)
        if gray:  # a gray plane is the luma: the papers feed it as is
            return output(run_network(x))
        y, terms = luma_and_chroma_terms(x, gain, offset)
        luma = run_network(y)
        # The chroma's share of R, G and B, resized at LR size (color.chroma_terms says why),
        # the luma's share added in the resize's last pass
        return upscale_plus(terms, scale, luma, luma_weights(gain), quantize)

    return pipeline

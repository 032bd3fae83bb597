"""FSRCNN: an hourglass CNN on the LR luma with a learned deconvolution at the end.

Paper: Chao Dong, Chen Change Loy, Xiaoou Tang, "Accelerating the Super-Resolution
Convolutional Neural Network", ECCV 2016.

We build FSRCNN (d, s, m) = (56, 12, 4); FSRCNN-s is ``(32, 5, 1)``. PReLU slopes are
per channel (172 in all). Deviation: the authors crop their Caffe
deconvolution output; we use the usual PyTorch port, a 9x9 transposed convolution with
stride = scale, padding 4 and output_padding scale - 1, which gives exactly scale x the
input size. Init: He for the PReLU convolutions, Gaussian sigma 0.001 for the
deconvolution (paper).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .fused import Float32, in_float32
from .layers import he_conv, pixel_shuffle
from .recipe import Loss, Recipe, Supervision
from .registry import ColorSpace, InputKind, ModelSpec, OpenCVPeer, register


@dataclass(frozen=True)
class FSRCNNConfig:
    """(d, s, m) of the paper: feature width, shrunk width, mapping depth."""

    features: int = 56
    shrunk: int = 12
    mapping_layers: int = 4


def receptive_radius(cfg: FSRCNNConfig) -> int:
    # 5x5 feature conv (2) + m 3x3 mapping convs; the 9x9 deconvolution reaches at
    # most 2 LR pixels from floor(y / scale) (x2 and x3; 1 at x4).
    return 2 + cfg.mapping_layers + 2


RADIUS = receptive_radius(FSRCNNConfig())


def _conv_prelu(cin: int, cout: int, kernel: int) -> list[nn.Module]:
    return [he_conv(cin, cout, kernel, activation="leaky_relu", slope=0.25), nn.PReLU(cout, init=0.25)]


class FSRCNN(nn.Module):
    """Feature extraction, shrinking, mapping, expanding, deconvolution."""

    def __init__(self, cfg: FSRCNNConfig, scale: int) -> None:
        super().__init__()
        d, s = cfg.features, cfg.shrunk
        layers = _conv_prelu(1, d, 5) + _conv_prelu(d, s, 1)
        for _ in range(cfg.mapping_layers):
            layers += _conv_prelu(s, s, 3)
        layers += _conv_prelu(s, d, 1)
        self.body = nn.Sequential(*layers)
        self.deconv = nn.ConvTranspose2d(d, 1, 9, stride=scale, padding=4, output_padding=scale - 1)
        nn.init.normal_(self.deconv.weight, std=0.001)
        if self.deconv.bias is not None:
            nn.init.zeros_(self.deconv.bias)

    def forward(self, x: Tensor) -> Tensor:
        # The feature layer (in inference) and the deconvolution (always: the loss is
        # measured on it) stay float32 under autocast: in bf16 they cost FSRCNN x2
        # 0.07 dB on Set5, the middle layers almost nothing.
        features = self.body[2:](in_float32(self.body[:2], x, Float32.INFERENCE))
        # The deconvolution runs as the exactly equivalent convolution with scale^2 outputs
        # and a pixel shuffle (Shi et al., CVPR 2016): on the CPU about 3x faster at inference
        # and 1.3x per training step (x4, batch 128). With gradients on, the rearranged weights are rebuilt
        # from the deconvolution's own parameters every call, so those are what is trained.
        weight, bias, pad = subpixel_weights(self.deconv) if torch.is_grad_enabled() else self._subpixel()
        phases = in_float32(lambda f: F.conv2d(f, weight, bias, padding=pad), features)
        return pixel_shuffle(phases, self.deconv.stride[0])

    def _subpixel(self) -> tuple[Tensor, Tensor, int]:
        """The rearranged weights, rebuilt only when the deconvolution's weights change."""
        key = (self.deconv.weight._version, self.deconv.weight.data_ptr(), self.deconv.weight.device)
        if getattr(self, "_subpixel_key", None) != key:
            self._subpixel_cache = subpixel_weights(self.deconv)
            self._subpixel_key = key
        return self._subpixel_cache


def subpixel_weights(deconv: nn.ConvTranspose2d) -> tuple[Tensor, Tensor, int]:
    """Conv weights, bias and padding that reproduce ``deconv`` exactly after a pixel shuffle.

    Output ``s*m + p`` of a stride-s transposed conv with padding ``q`` sums
    ``x[m - d] * w[s*d + p + q]`` over the offsets d that keep the tap in the kernel, so
    phase p is a correlation with the taps ``w[s*d + p + q]`` laid out at offset -d.
    """
    s, q, k = deconv.stride[0], deconv.padding[0], deconv.kernel_size[0]
    reach = max((s - 1 + q) // s, (k - 1 - q) // s)  # every d with 0 <= s*d + p + q < k, any p
    size = 2 * reach + 1
    w = deconv.weight[:, 0]  # (in, k, k): one output channel
    weight = w.new_zeros(s, s, w.shape[0], size, size)
    for p in range(s):
        for d in range(-reach, reach + 1):
            tap = s * d + p + q
            if 0 <= tap < k:
                for pp in range(s):
                    for dd in range(-reach, reach + 1):
                        tap2 = s * dd + pp + q
                        if 0 <= tap2 < k:
                            weight[p, pp, :, reach - d, reach - dd] = w[:, tap, tap2]
    bias = deconv.bias.repeat(s * s) if deconv.bias is not None else None
    return weight.reshape(s * s, w.shape[0], size, size), bias, reach


class DeconvolutionFSRCNN(nn.Module):
    """FSRCNN with its last layer run as the transposed convolution itself, for export.

    FSRCNN's forward rebuilds the subpixel weights from the deconvolution's parameters;
    traced, that rebuild becomes hundreds of Gather and ScatterElements nodes and their
    index tables (x3: 4.4 MB of ONNX for 51 kB of weights). ONNX has ConvTranspose, so
    the graph is the paper's network, with the state dict's names and sizes. In ONNX
    Runtime (x3, 200x300, one thread) it ran in 72 ms against 80 ms for a convolution
    with the precomputed subpixel weights and a DepthToSpace, whose file is 1.4x larger.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        if not isinstance(net, FSRCNN):
            raise TypeError(f"DeconvolutionFSRCNN wraps an FSRCNN, not a {type(net).__name__}")
        self.body = net.body
        self.deconv = net.deconv

    def forward(self, x: Tensor) -> Tensor:
        return self.deconv(self.body(x))


def build(cfg: FSRCNNConfig, scale: int) -> nn.Module:
    return FSRCNN(cfg, scale)


# The paper's training recipe, and in its notes where we depart from it (Adam and the
# extendable WSD schedule everywhere: see upscale/training/recipes.py).
RECIPE = Recipe(
    Loss.MSE, Supervision.FINAL, lr=1e-3, batch=128, patch=16, steps=300_000,
    scale_aug=(0.6, 0.7, 0.8, 0.9, 1.0),
    notes="Paper: SGD 1e-3 (deconv 1e-4), LR sub-images 10/7/6 px, 91 images then General-100, "
    "x3 first with the other scales fine-tuned from it; we use Adam 1e-3 (WSD), 16 px LR patches, "
    "all training sets at once, each scale from scratch; augmentation as the paper (0.6-0.9 scaling, rotations).",
)

# Published Y-channel (PSNR, SSIM or None) by (set, scale): the RCAN paper (Zhang et al., ECCV 2018), Table 3.
PUBLISHED = {
    ("Set5", 2): (37.05, 0.956),
    ("Set5", 3): (33.18, 0.914),
    ("Set5", 4): (30.72, 0.866),
    ("Set14", 2): (32.66, 0.909),
    ("Set14", 3): (29.37, 0.824),
    ("Set14", 4): (27.61, 0.755),
    ("BSD100", 2): (31.53, 0.892),
    ("BSD100", 3): (28.53, 0.791),
    ("BSD100", 4): (26.98, 0.715),
}

# Parameter counts of the paper or its reference code, by the scale the network runs at
# (tests allow 3%): weights, biases, PReLU slopes, BN affine, learned scalars.
REFERENCE_PARAMETERS = {2: 12_637, 3: 12_637, 4: 12_637}  # weights + biases; our 172 per-channel PReLU slopes add 1.4%


register(
    ModelSpec(
        name="fsrcnn",
        paper="Dong, Loy, Tang, Accelerating the Super-Resolution Convolutional Neural "
        "Network, ECCV 2016",
        scales=(2, 3, 4),
        input_kind=InputKind.LR,
        color_space=ColorSpace.Y,
        config_cls=FSRCNNConfig,
        build=build,
        receptive_radius=RADIUS,
        radius_of=lambda cfg, _scale: receptive_radius(cfg),
        scale_specific=("deconv.",),
        export_module=DeconvolutionFSRCNN,
        recipe=RECIPE,
        published=PUBLISHED,
        reference_parameters=REFERENCE_PARAMETERS,
        opencv_peer=OpenCVPeer("fsrcnn", "FSRCNN_x{scale}.pb", (2, 3, 4)),
    )
)

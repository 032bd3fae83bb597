"""SRDenseNet_All: dense blocks joined by dense skip connections, then two deconvolutions.

Paper: Tong Tong, Gen Li, Xiejie Liu, Qinquan Gao, "Image Super-Resolution Using Dense
Skip Connections", ICCV 2017. There is no official code; this is our reading.

* Low-level features: conv 3x3 1->128 + ReLU. The paper does not give the width; 128
  (= growth x layers, the width of one block's output) is the yjn870/SRDenseNet-pytorch
  interpretation (a Caffe port uses 8).
* 8 dense blocks of 8 conv 3x3 + ReLU layers, growth rate 16. Inside a block the first
  layer sees the block input and every later layer the concatenation of the block's own
  earlier outputs (the figure's 16, 32, ..., 128 labels), so a block emits 128 maps.
* Dense skip connections (_All): each block's input is the concatenation of the
  low-level features and every earlier block's output, and the bottleneck (1x1 conv to
  256 + ReLU) sees the low-level features and all 8 block outputs (1152 maps). This is
  again yjn870's reading and gives about 2.66M parameters; feeding each block only its
  predecessor's output would give about 2.14M.
* Upsampling: two 3x3 transposed convs, 256 maps, stride 2 (padding 1, output_padding 1,
  exactly 2x each) + ReLU, then conv 3x3 256->1, linear.
Generalisation: the paper is x4 only. x2 uses one stride-2 deconvolution; x3 one 3x3
deconvolution with stride 3 (no overlap, exactly 3x). Init: He, biases zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .layers import he_conv
from .recipe import Loss, Recipe, Supervision
from .registry import ColorSpace, InputKind, ModelSpec, register


@dataclass(frozen=True)
class SRDenseNetConfig:
    """Widths and depths of SRDenseNet_All."""

    low_features: int = 128
    blocks: int = 8
    layers_per_block: int = 8
    growth: int = 16
    bottleneck: int = 256


def receptive_radius(cfg: SRDenseNetConfig) -> int:
    # low-level conv + every 3x3 in the blocks; the deconvolutions and the final 3x3 at
    # HR reach one more LR pixel from floor(y / scale) in all.
    return 1 + cfg.blocks * cfg.layers_per_block + 1


RADIUS = receptive_radius(SRDenseNetConfig())


def _deconv(channels: int, stride: int) -> nn.ConvTranspose2d:
    # k=3: stride 2 needs padding 1 + output_padding 1 for 2x; stride 3 tiles exactly.
    pad = 1 if stride == 2 else 0
    deconv = nn.ConvTranspose2d(
        channels, channels, 3, stride=stride, padding=pad, output_padding=pad
    )
    nn.init.kaiming_normal_(deconv.weight, nonlinearity="relu")
    if deconv.bias is not None:
        nn.init.zeros_(deconv.bias)
    return deconv


class _DenseBlock(nn.Module):
    """``layers`` convs; returns the concatenation of their outputs only."""

    def __init__(self, in_channels: int, growth: int, layers: int) -> None:
        super().__init__()
        widths = [in_channels] + [growth * i for i in range(1, layers)]
        self.convs = nn.ModuleList(he_conv(w, growth, 3) for w in widths)

    def forward(self, x: Tensor) -> Tensor:
        outputs = [torch.relu(self.convs[0](x))]
        for conv in self.convs[1:]:
            outputs.append(torch.relu(conv(torch.cat(outputs, 1))))
        return torch.cat(outputs, 1)


class SRDenseNet(nn.Module):
    """Low-level conv, densely connected blocks, bottleneck, deconvolutions."""

    def __init__(self, cfg: SRDenseNetConfig, scale: int) -> None:
        super().__init__()
        block_out = cfg.growth * cfg.layers_per_block
        self.low = he_conv(1, cfg.low_features, 3)
        self.blocks = nn.ModuleList(
            _DenseBlock(cfg.low_features + i * block_out, cfg.growth, cfg.layers_per_block)
            for i in range(cfg.blocks)
        )
        self.bottleneck = he_conv(cfg.low_features + cfg.blocks * block_out, cfg.bottleneck, 1)
        strides = (2, 2) if scale == 4 else (scale,)
        upsample: list[nn.Module] = []
        for stride in strides:
            upsample += [_deconv(cfg.bottleneck, stride), nn.ReLU(inplace=True)]
        self.upsample = nn.Sequential(*upsample)
        self.reconstruct = he_conv(cfg.bottleneck, 1, 3)

    def forward(self, x: Tensor) -> Tensor:
        stream = torch.relu(self.low(x))
        for block in self.blocks:
            stream = torch.cat([stream, block(stream)], 1)
        features = torch.relu(self.bottleneck(stream))
        return self.reconstruct(self.upsample(features))


def build(cfg: SRDenseNetConfig, scale: int) -> nn.Module:
    return SRDenseNet(cfg, scale)


# The paper's training recipe, and in its notes where we depart from it (Adam and the
# extendable WSD schedule everywhere: see upscale/training/recipes.py).
RECIPE = Recipe(
    Loss.MSE, Supervision.FINAL, lr=1e-4, batch=32, patch=25, steps=300_000,
    notes="Paper: 50,000 ImageNet images, HR 100 / LR 25 patches, Adam 1e-4; we have far fewer images.",
)

# Published Y-channel (PSNR, SSIM or None) by (set, scale): the RDN paper (Zhang et al., CVPR 2018), Table 3.
PUBLISHED = {
    ("Set5", 4): (32.02, 0.8934),
    ("Set14", 4): (28.5, 0.7782),
    ("BSD100", 4): (27.53, 0.7337),
}

# Parameter counts of the paper or its reference code, by the scale the network runs at
# (tests allow 3%): weights, biases, PReLU slopes, BN affine, learned scalars.
REFERENCE_PARAMETERS = {4: 2_660_000, 2: 2_660_000 - 590_080, 3: 2_660_000 - 590_080}
# x4 is the reference's ~2.66M; the paper has no x2/x3, where our generalisation
# drops one 3x3 256->256 deconvolution (589,824 weights + 256 biases).


register(
    ModelSpec(
        name="srdensenet",
        paper="Tong et al., Image Super-Resolution Using Dense Skip Connections, ICCV 2017",
        scales=(2, 3, 4),
        input_kind=InputKind.LR,
        color_space=ColorSpace.Y,
        config_cls=SRDenseNetConfig,
        build=build,
        receptive_radius=RADIUS,
        radius_of=lambda cfg, _scale: receptive_radius(cfg),
        scale_specific=("upsample.",),
        recipe=RECIPE,
        published=PUBLISHED,
        reference_parameters=REFERENCE_PARAMETERS,
    )
)

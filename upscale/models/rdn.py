"""RDN: residual dense blocks fused globally, then a sub-pixel upsampler.

Paper: Yulun Zhang, Yapeng Tian, Yu Kong, Bineng Zhong, Yun Fu, "Residual Dense Network
for Image Super-Resolution", CVPR 2018.

The benchmarked D=16, C=8, G=G0=64 network (the official training log prints it): SFE1
conv 3x3 3->64, SFE2 conv 3x3 64->64; 16 RDBs, each 8 dense conv 3x3 + ReLU layers
(inputs 64, 128, ..., 512 maps, 64 out), local feature fusion 1x1 576->64 and a local
residual; global feature fusion 1x1 1024->64 then 3x3 64->64, plus the SFE1 output;
upsampler conv 64->64*s^2 + PixelShuffle(s) (x4: two x2 steps), then conv 3x3 64->3.
Deviation: the official Torch code subtracts the dataset mean and works on 0-255
values; we feed [0, 1] RGB unchanged. Init: He for the ReLU convs, PyTorch's default
(fan-in uniform) for the linear fusion, upsampling and output convs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .recipe import Loss, Recipe, Supervision
from .registry import ColorSpace, InputKind, ModelSpec, register


@dataclass(frozen=True)
class RDNConfig:
    """D blocks of C layers with growth G; G0 features between blocks."""

    blocks: int = 16
    layers_per_block: int = 8
    growth: int = 64
    features: int = 64


def receptive_radius(cfg: RDNConfig) -> int:
    # SFE1, SFE2, every dense 3x3, the GFF 3x3 and the first upsampling conv run at LR;
    # the later upsampling conv and the output conv reach one more LR pixel in all.
    return 2 + cfg.blocks * cfg.layers_per_block + 1 + 1 + 1


RADIUS = receptive_radius(RDNConfig())


def _conv(cin: int, cout: int, kernel: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, padding=kernel // 2)


def _relu_conv(cin: int, cout: int) -> nn.Conv2d:
    conv = _conv(cin, cout, 3)
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


class _ResidualDenseBlock(nn.Module):
    """Dense layers, a 1x1 local feature fusion and a local residual."""

    def __init__(self, features: int, growth: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(_relu_conv(features + i * growth, growth) for i in range(layers))
        self.fuse = _conv(features + layers * growth, features, 1)

    def forward(self, x: Tensor) -> Tensor:
        stream = x
        for conv in self.convs:
            stream = torch.cat([stream, torch.relu(conv(stream))], 1)
        return x + self.fuse(stream)


def _upsampler(features: int, scale: int) -> nn.Sequential:
    steps = (2, 2) if scale == 4 else (scale,)
    layers: list[nn.Module] = []
    for step in steps:
        layers += [_conv(features, features * step * step, 3), nn.PixelShuffle(step)]
    return nn.Sequential(*layers)


class RDN(nn.Module):
    """Shallow features, D residual dense blocks, global fusion, upsampling."""

    def __init__(self, cfg: RDNConfig, scale: int) -> None:
        super().__init__()
        g0 = cfg.features
        self.sfe1 = _conv(3, g0, 3)
        self.sfe2 = _conv(g0, g0, 3)
        self.blocks = nn.ModuleList(
            _ResidualDenseBlock(g0, cfg.growth, cfg.layers_per_block) for _ in range(cfg.blocks)
        )
        self.fuse = nn.Sequential(_conv(cfg.blocks * g0, g0, 1), _conv(g0, g0, 3))
        self.upsample = _upsampler(g0, scale)
        self.output = _conv(g0, 3, 3)

    def forward(self, x: Tensor) -> Tensor:
        shallow = self.sfe1(x)
        h, block_outputs = self.sfe2(shallow), []
        for block in self.blocks:
            h = block(h)
            block_outputs.append(h)
        h = shallow + self.fuse(torch.cat(block_outputs, 1))
        return self.output(self.upsample(h))


def build(cfg: RDNConfig, scale: int) -> nn.Module:
    return RDN(cfg, scale)


# The paper's training recipe, and in its notes where we depart from it (Adam and the
# extendable WSD schedule everywhere: see upscale/training/recipes.py).
RECIPE = Recipe(
    Loss.L1, Supervision.FINAL, lr=1e-4, batch=16, patch=48, steps=300_000,
    notes="Paper: DIV2K, L1, Adam 1e-4 halved every 200k of 1M iterations, 32-48 px LR patches, "
    "x3/x4 fine-tuned from x2; we hold 1e-4 and decay at the end (WSD), and have far less data.",
)

# Published Y-channel (PSNR, SSIM or None) by (set, scale): the RDN paper (Zhang et al., CVPR 2018), Table 3.
PUBLISHED = {
    ("Set5", 2): (38.24, 0.9614),
    ("Set5", 3): (34.71, 0.9296),
    ("Set5", 4): (32.47, 0.899),
    ("Set14", 2): (34.01, 0.9212),
    ("Set14", 3): (30.57, 0.8468),
    ("Set14", 4): (28.81, 0.7871),
    ("BSD100", 2): (32.34, 0.9017),
    ("BSD100", 3): (29.26, 0.8093),
    ("BSD100", 4): (27.72, 0.7419),
}

# Parameter counts of the paper or its reference code, by the scale the network runs at
# (tests allow 3%): weights, biases, PReLU slopes, BN affine, learned scalars.
REFERENCE_PARAMETERS = {2: 22_123_395, 3: 22_308_035, 4: 22_271_107}


register(
    ModelSpec(
        name="rdn",
        paper="Zhang et al., Residual Dense Network for Image Super-Resolution, CVPR 2018",
        scales=(2, 3, 4),
        input_kind=InputKind.LR,
        color_space=ColorSpace.RGB,
        config_cls=RDNConfig,
        build=build,
        receptive_radius=RADIUS,
        radius_of=lambda cfg, _scale: receptive_radius(cfg),
        scale_specific=("upsample.",),
        recipe=RECIPE,
        published=PUBLISHED,
        reference_parameters=REFERENCE_PARAMETERS,
    )
)

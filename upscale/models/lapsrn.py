"""LapSRN: a Laplacian pyramid that adds a predicted residual at every x2 level.

Paper: Wei-Sheng Lai, Jia-Bin Huang, Narendra Ahuja, Ming-Hsuan Yang, "Deep Laplacian
Pyramid Networks for Fast and Accurate Super-Resolution", CVPR 2017 (LapSRN, not the
TPAMI 2018 MS-LapSRN).

Layer list read from the official MatConvNet code: input conv 3x3 1->64 + LReLU(0.2);
per level: depth x [conv 3x3 64->64 + LReLU] -> transposed conv 3x3 64->64 stride 2 +
LReLU (the features of the next level) -> conv 3x3 64->1 (the residual); the image
branch of each level is a 4x4 stride-2 transposed conv 1->1, no bias, initialised as
bilinear upsampling, and the level's output is that upsampled image plus the residual.
Every conv and feature deconv has a bias: with the 3x3 feature deconv this reproduces
the released models' counts exactly (407,441 x2, 814,242 x4, 667,123 x8); a 4x4 one
would not. Depth 10 for x2/x4 and 5 for x8, as released. x3 runs the x4 network and the
engine resizes (``scale_map``), as the authors did. Deviation: MatConvNet crops the
transposed convs; we use padding 1 and output_padding 1 on the 3x3 one (exactly 2x).
Init (official opts): input conv N(0, 0.001^2), the rest He for LReLU(0.2). The bilinear
image branch is exact inside the image; zero padding darkens its outermost row and
column by a quarter, as in the original.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ModelError
from .layers import he_conv
from .recipe import Loss, Recipe, Supervision
from .registry import ColorSpace, InputKind, ModelSpec, OpenCVPeer, register

NETWORK_SCALES = (2, 4, 8)


@dataclass(frozen=True)
class LapSRNConfig:
    """``depth`` None means the released depth: 10 convs per level for x2/x4, 5 for x8."""

    channels: int = 64
    depth: int | None = None


def _depth(cfg: LapSRNConfig, scale: int) -> int:
    if cfg.depth is not None:
        return cfg.depth
    return 5 if scale == 8 else 10


def _scale_radius(depth: int, levels: int) -> int:
    # Level l (0-based) runs at 2^l x the LR size, so its depth convs reach depth / 2^l
    # LR pixels; the input conv, deconvs and residual conv add 2 in all. Checked
    # against exact interval arithmetic for depths 1..30 and 1..4 levels.
    return 2 + -(-depth * ((1 << levels) - 1) // (1 << (levels - 1)))


def receptive_radius(cfg: LapSRNConfig) -> int:
    return max(_scale_radius(_depth(cfg, s), int(math.log2(s))) for s in NETWORK_SCALES)


RADIUS = receptive_radius(LapSRNConfig())


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return he_conv(cin, cout, activation="leaky_relu", slope=0.2)


def _bilinear_upsampler() -> nn.ConvTranspose2d:
    up = nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1, bias=False)
    taps = torch.tensor([0.25, 0.75, 0.75, 0.25])
    with torch.no_grad():
        up.weight.copy_(torch.outer(taps, taps).view(1, 1, 4, 4))
    return up


class _Level(nn.Module):
    """One x2 step: new features, a residual from them, an upsampled image plus it."""

    def __init__(self, channels: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [_conv(channels, channels), nn.LeakyReLU(0.2, inplace=True)]
        deconv = nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, output_padding=1)
        nn.init.kaiming_normal_(deconv.weight, a=0.2, nonlinearity="leaky_relu")
        if deconv.bias is not None:
            nn.init.zeros_(deconv.bias)
        layers += [deconv, nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        self.residual = _conv(channels, 1)
        self.upsample_image = _bilinear_upsampler()

    def forward(self, features: Tensor, image: Tensor) -> tuple[Tensor, Tensor]:
        features = self.features(features)
        return features, self.upsample_image(image) + self.residual(features)


class LapSRN(nn.Module):
    """log2(scale) levels; every level's output is a supervised prediction."""

    def __init__(self, cfg: LapSRNConfig, scale: int) -> None:
        super().__init__()
        entry = nn.Conv2d(1, cfg.channels, 3, padding=1)
        nn.init.normal_(entry.weight, std=0.001)
        if entry.bias is not None:
            nn.init.zeros_(entry.bias)
        self.entry = nn.Sequential(entry, nn.LeakyReLU(0.2, inplace=True))
        levels = int(math.log2(scale))
        self.levels = nn.ModuleList(_Level(cfg.channels, _depth(cfg, scale)) for _ in range(levels))

    def forward_intermediates(self, x: Tensor) -> list[Tensor]:
        """The x2, x4, ... predictions, coarsest first."""
        features, image, outputs = self.entry(x), x, []
        for level in self.levels:
            features, image = level(features, image)
            outputs.append(image)
        return outputs

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_intermediates(x)[-1]


def build(cfg: LapSRNConfig, scale: int) -> nn.Module:
    if scale not in NETWORK_SCALES:
        raise ModelError(f"lapsrn networks run at x2, x4 or x8, not x{scale}")
    if cfg.depth is not None and cfg.depth < 1:
        raise ModelError(f"lapsrn depth must be at least 1, got {cfg.depth}")
    return LapSRN(cfg, scale)


# The paper's training recipe, and in its notes where we depart from it (Adam and the
# extendable WSD schedule everywhere: see upscale/training/recipes.py).
RECIPE = Recipe(
    Loss.CHARBONNIER, Supervision.LEVELS, lr=1e-4, batch=64, patch=32, steps=300_000,
    scale_aug=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    notes="Paper: SGD lr 1e-5 halved every 50 epochs, 128 px HR patches, Charbonnier at every level; "
    "we use Adam 1e-4 (WSD) with the same patches (LR 32 at x4) and losses.",
)

# Published Y-channel (PSNR, SSIM or None) by (set, scale): the RDN paper (Zhang et al., CVPR 2018), Table 3.
PUBLISHED = {
    ("Set5", 2): (37.52, 0.9591),
    ("Set5", 3): (33.82, 0.9227),
    ("Set5", 4): (31.54, 0.8855),
    ("Set5", 8): (26.15, 0.738),
    ("Set14", 2): (33.08, 0.913),
    ("Set14", 3): (29.79, 0.832),
    ("Set14", 4): (28.19, 0.772),
    ("Set14", 8): (24.35, 0.62),
    ("BSD100", 2): (31.8, 0.895),
    ("BSD100", 3): (28.82, 0.7973),
    ("BSD100", 4): (27.32, 0.728),
    ("BSD100", 8): (24.54, 0.586),
}

# Parameter counts of the paper or its reference code, by the scale the network runs at
# (tests allow 3%): weights, biases, PReLU slopes, BN affine, learned scalars.
REFERENCE_PARAMETERS = {2: 407_441, 4: 814_242, 8: 667_123}  # released models; x3 runs x4


register(
    ModelSpec(
        name="lapsrn",
        paper="Lai et al., Deep Laplacian Pyramid Networks for Fast and Accurate "
        "Super-Resolution, CVPR 2017",
        scales=(2, 3, 4, 8),
        input_kind=InputKind.LR,
        color_space=ColorSpace.Y,
        config_cls=LapSRNConfig,
        build=build,
        receptive_radius=RADIUS,  # 17, from x4 (x2: 12, x8: 11)
        radius_of=lambda cfg, scale: _scale_radius(_depth(cfg, scale), int(math.log2(scale))),
        scale_map={3: 4},
        recipe=RECIPE,
        published=PUBLISHED,
        reference_parameters=REFERENCE_PARAMETERS,
        opencv_peer=OpenCVPeer("lapsrn", "LapSRN_x{scale}.pb", (2, 4, 8)),
    )
)

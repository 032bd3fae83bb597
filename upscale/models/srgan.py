"""SRResNet (the SRGAN generator) and the SRGAN discriminator.

Paper: Christian Ledig, Lucas Theis, Ferenc Huszar, Jose Caballero, Andrew Cunningham,
Alejandro Acosta, Andrew Aitken, Alykhan Tejani, Johannes Totz, Zehan Wang, Wenzhe Shi,
"Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network",
CVPR 2017.

Two models share the generator, SRResNet: ``srresnet`` is it trained on MSE, and ``srgan``
the same network trained on from those weights against the discriminator (the paper's
two phases; ``--init`` takes srresnet's file). SRResNet: k9n64 conv + PReLU -> 16 residual blocks
[k3n64 conv, BN, PReLU, k3n64 conv, BN, + skip] -> k3n64 conv, BN, + long skip ->
upsampling -> k9n3 conv. PReLU slopes are scalars (one per PReLU), which gives the
reference count of 1,549,462 at x4 (BN affine parameters included; conv biases are kept
before BN as in common ports). Generalisation: the paper is x4 only (two [k3n256 conv,
PixelShuffle(2), PReLU] steps); x2 uses one such step and x3 one step with a 64->576
conv and PixelShuffle(3). Deviation: the paper scales HR targets to [-1, 1]; our
contract is [0, 1] in and out, so the last conv is linear and the trainer decides the
target range. BatchNorm is kept because the paper uses it; inference must run in eval
mode (per-pixel running statistics), which also keeps tiling exact.

``Discriminator`` follows the paper's figure: k3n64s1 + LReLU(0.2), then seven
conv-BN-LReLU blocks (k3n64s2, k3n128s1, k3n128s2, k3n256s1, k3n256s2, k3n512s1,
k3n512s2), Dense(1024), LReLU, Dense(1). Deviation: adaptive average pooling to 6x6
before the dense layers (the feature size of the paper's 96x96 patches, so there it is
the identity) lets any patch size work; it returns logits, no sigmoid.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from .layers import he_conv, polyphase_conv, polyphase_weights
from .recipe import AdversarialRecipe, Loss, Recipe, Schedule, Supervision
from .registry import ColorSpace, InputKind, ModelSpec, register


@dataclass(frozen=True)
class SRResNetConfig:
    """B = 16 residual blocks of 64 channels."""

    residual_blocks: int = 16
    channels: int = 64


def receptive_radius(cfg: SRResNetConfig) -> int:
    # 9x9 head (4) + two 3x3 per block + the body's last 3x3 + the first upsampling 3x3
    # at LR; the rest of the upsampler and the 9x9 tail at HR reach 2 more LR pixels.
    return 4 + 2 * cfg.residual_blocks + 1 + 1 + 2


RADIUS = receptive_radius(SRResNetConfig())


def _conv(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    return he_conv(cin, cout, kernel, activation="leaky_relu", slope=0.25, stride=stride)


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, 3),
            nn.BatchNorm2d(channels),
            nn.PReLU(),
            _conv(channels, channels, 3),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _upsampler(channels: int, scale: int) -> nn.Sequential:
    steps = (2, 2) if scale == 4 else (scale,)
    layers: list[nn.Module] = []
    for step in steps:
        layers += [_conv(channels, channels * step * step, 3), nn.PixelShuffle(step), nn.PReLU()]
    return nn.Sequential(*layers)


TAIL_PHASES = 2  # the tail's polyphase factor: 5x5 256->12 on the half grid (3 and 4 measured slower)


class SRResNet(nn.Module):
    """The SRGAN generator."""

    def __init__(self, cfg: SRResNetConfig, scale: int) -> None:
        super().__init__()
        c = cfg.channels
        self.head = nn.Sequential(_conv(3, c, 9), nn.PReLU())
        blocks = [_ResidualBlock(c) for _ in range(cfg.residual_blocks)]
        self.body = nn.Sequential(*blocks, _conv(c, c, 3), nn.BatchNorm2d(c))
        self.upsample = _upsampler(c, scale)
        self.tail = _conv(c, 3, 9)

    def forward(self, x: Tensor) -> Tensor:
        h = self.head(x)
        features = self.upsample(h + self.body(h))
        if features.shape[-2] % TAIL_PHASES or features.shape[-1] % TAIL_PHASES:
            return self.tail(features)
        # The 9x9 64->3 last layer runs as its exact polyphase form (models/layers.py): with
        # three outputs it ran at a fifth of the convolution rate. With gradients on, the
        # rearranged weights are rebuilt from the tail's own parameters every call.
        weights = polyphase_weights(self.tail, TAIL_PHASES) if torch.is_grad_enabled() else self._tail_weights()
        return polyphase_conv(self.tail, features, TAIL_PHASES, weights)

    def _tail_weights(self) -> tuple[Tensor, Optional[Tensor], int]:
        """The rearranged tail weights, rebuilt only when the tail's weights change."""
        key = (self.tail.weight._version, self.tail.weight.data_ptr(), self.tail.weight.device, self.tail.weight.dtype)
        if getattr(self, "_tail_key", None) != key:
            self._tail_cache = polyphase_weights(self.tail, TAIL_PHASES)
            self._tail_key = key
        return self._tail_cache


class PlainSRResNet(nn.Module):
    """SRResNet with its last layer as the plain 9x9 convolution, for export.

    Traced, the polyphase rebuild would put gathers and index tables into the graph;
    the plain form is the paper's network with the state dict's names and sizes.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        if not isinstance(net, SRResNet):
            raise TypeError(f"PlainSRResNet wraps an SRResNet, not a {type(net).__name__}")
        self.head, self.body, self.upsample, self.tail = net.head, net.body, net.upsample, net.tail

    def forward(self, x: Tensor) -> Tensor:
        h = self.head(x)
        return self.tail(self.upsample(h + self.body(h)))


@dataclass(frozen=True)
class DiscriminatorConfig:
    """The paper's widths; ``pool_size`` is our addition for arbitrary patch sizes."""

    in_channels: int = 3
    channels: int = 64
    dense_features: int = 1024
    pool_size: int = 6


class Discriminator(nn.Module):
    """Classifies HR patches as real or generated; returns one logit per image."""

    def __init__(self, cfg: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or DiscriminatorConfig()
        c = cfg.channels
        layers: list[nn.Module] = [_conv(cfg.in_channels, c, 3), nn.LeakyReLU(0.2, inplace=True)]
        widths = [c, c, 2 * c, 2 * c, 4 * c, 4 * c, 8 * c, 8 * c]
        for cin, cout, stride in zip(widths[:-1], widths[1:], (2, 1, 2, 1, 2, 1, 2), strict=True):
            layers += [
                _conv(cin, cout, 3, stride),
                nn.BatchNorm2d(cout),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(cfg.pool_size))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(widths[-1] * cfg.pool_size**2, cfg.dense_features),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(cfg.dense_features, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def build(cfg: SRResNetConfig, scale: int) -> nn.Module:
    return SRResNet(cfg, scale)


# The paper's training recipes, and in their notes where we depart from them (Adam and the
# extendable WSD schedule everywhere: see upscale/training/recipes.py).
SRRESNET_RECIPE = Recipe(
    Loss.MSE, Supervision.FINAL, lr=1e-4, batch=16, patch=24, steps=300_000,
    notes="Paper: 350k ImageNet images, 96 px HR patches, Adam 1e-4, 1M iterations; "
    "targets in [0, 1] rather than [-1, 1].",
)
SRGAN_RECIPE = Recipe(
    Loss.MSE, Supervision.FINAL, lr=1e-4, batch=16, patch=24, steps=200_000, schedule=Schedule.STEP,
    adversarial=AdversarialRecipe(adversarial_weight=1e-3),
    notes="Paper: from SRResNet, 1e5 iterations at Adam 1e-4 and 1e5 at 1e-5, one discriminator and one "
    "generator update in turn, content loss VGG54 + 1e-3 x the adversarial loss. The content loss is VGG54 "
    "when VGG19 weights are on disk, else MSE on [-1, 1] images as in the paper (its SRGAN-MSE variant); the "
    "metadata says which.",
)

# Published Y-channel (PSNR, SSIM or None) by (set, scale): the SRGAN paper (Ledig et al., CVPR 2017),
# Table 2. Its SSIM is on another scale than everyone else's (its own bicubic Set5 x4 0.8211,
# against 0.8104 in the standard tables), so it is left out.
SRRESNET_PUBLISHED = {
    ("Set5", 4): (32.05, None),
    ("Set14", 4): (28.49, None),
    ("BSD100", 4): (27.58, None),
}
SRGAN_PUBLISHED = {
    ("Set5", 4): (29.40, None),
    ("Set14", 4): (26.02, None),
    ("BSD100", 4): (25.16, None),
}

# Parameter counts of the paper or its reference code, by the scale the network runs at
# (tests allow 3%): weights, biases, PReLU slopes, BN affine, learned scalars.
REFERENCE_PARAMETERS = {4: 1_549_462, 2: 1_549_462 - 147_713, 3: 1_549_462 - 2 * 147_713 + 332_353}
# x4 is the reference's SRResNet; x2 drops one [conv 64->256 + PReLU] step
# (147,713) and x3 replaces both steps by one conv 64->576 + PReLU (332,353).


SRRESNET = register(
    ModelSpec(
        name="srresnet",
        paper="Ledig et al., Photo-Realistic Single Image Super-Resolution Using a "
        "Generative Adversarial Network, CVPR 2017",
        scales=(2, 3, 4),
        input_kind=InputKind.LR,
        color_space=ColorSpace.RGB,
        config_cls=SRResNetConfig,
        build=build,
        receptive_radius=RADIUS,
        radius_of=lambda cfg, _scale: receptive_radius(cfg),
        scale_specific=("upsample.",),
        export_module=PlainSRResNet,
        recipe=SRRESNET_RECIPE,
        published=SRRESNET_PUBLISHED,
        reference_parameters=REFERENCE_PARAMETERS,
    )
)
# SRGAN: the same generator, trained on from SRResNet's weights against a discriminator.
register(
    dataclasses.replace(
        SRRESNET, name="srgan", recipe=SRGAN_RECIPE, published=SRGAN_PUBLISHED, discriminator=Discriminator,
        starts_from=SRRESNET.name,
    )
)

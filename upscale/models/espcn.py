"""ESPCN: three LR-space convolutions and a sub-pixel shuffle.

Paper: Wenzhe Shi, Jose Caballero, Ferenc Huszar, Johannes Totz, Andrew P. Aitken, Rob
Bishop, Daniel Rueckert, Zehan Wang, "Real-Time Single Image and Video Super-Resolution
Using an Efficient Sub-Pixel Convolutional Neural Network", CVPR 2016.

(f1, n1) = (5, 64), (f2, n2) = (3, 32), f3 = 3 with scale^2 outputs, tanh after the first
two layers, then periodic shuffling. The paper reports x3 and x4 only; x2 is the same
network with 4 output channels. The paper states no init; we use He-style normal init
with tanh's gain, and zero padding so the output is exactly scale x the input.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .fused import Float32, conv_act, tanh_is_slow, tanh_stack
from .layers import he_conv, pixel_shuffle
from .recipe import Loss, Recipe, Supervision
from .registry import ColorSpace, InputKind, ModelSpec, OpenCVPeer, register


@dataclass(frozen=True)
class ESPCNConfig:
    """Widths of the two hidden layers."""

    features: tuple[int, int] = (64, 32)


class ESPCN(nn.Module):
    """Features in LR space; the last layer emits the scale^2 sub-pixel phases."""

    def __init__(self, cfg: ESPCNConfig, scale: int) -> None:
        super().__init__()
        n1, n2 = cfg.features
        self.body = nn.Sequential(
            he_conv(1, n1, 5, activation="tanh"),
            nn.Tanh(),
            he_conv(n1, n2, 3, activation="tanh"),
            nn.Tanh(),
            he_conv(n2, scale * scale, 3, activation="linear"),
            nn.PixelShuffle(scale),
        )

    def forward(self, x: Tensor) -> Tensor:
        conv1, _, conv2, _, conv3, shuffle = self.body
        if tanh_is_slow(x):
            phases = tanh_stack(x, (conv1, conv2), conv3)
        else:
            hidden = conv_act(conv_act(x, conv1, "tanh", Float32.INFERENCE), conv2, "tanh")
            phases = conv_act(hidden, conv3, "none", Float32.ALWAYS)
        return pixel_shuffle(phases, shuffle.upscale_factor)


def build(cfg: ESPCNConfig, scale: int) -> nn.Module:
    return ESPCN(cfg, scale)


# The paper's training recipe, and in its notes where we depart from it (Adam and the
# extendable WSD schedule everywhere: see upscale/training/recipes.py).
RECIPE = Recipe(
    Loss.MSE, Supervision.FINAL, lr=1e-3, batch=64, patch=17, steps=300_000,
    notes="Paper: 17r HR sub-images, lr 0.01 to 1e-4 on plateaus, Gaussian-blur degradation; "
    "we use Adam 1e-3 (WSD) and the MATLAB-bicubic degradation of the benchmarks.",
)

# Published Y-channel (PSNR, SSIM or None) by (set, scale): secondary quotations of the paper's ImageNet-trained model, PSNR only; the paper has no x2.
PUBLISHED = {
    ("Set5", 3): (33.0, None),
    ("Set5", 4): (30.9, None),
    ("Set14", 3): (29.42, None),
    ("Set14", 4): (27.73, None),
}

# Parameter counts of the paper or its reference code, by the scale the network runs at
# (tests allow 3%): weights, biases, PReLU slopes, BN affine, learned scalars.
REFERENCE_PARAMETERS = {2: 21_284, 3: 22_729, 4: 24_752}


register(
    ModelSpec(
        name="espcn",
        paper="Shi et al., Real-Time Single Image and Video Super-Resolution Using an "
        "Efficient Sub-Pixel Convolutional Neural Network, CVPR 2016",
        scales=(2, 3, 4),
        input_kind=InputKind.LR,
        color_space=ColorSpace.Y,
        config_cls=ESPCNConfig,
        build=build,
        receptive_radius=4,  # 2 + 1 + 1; the shuffle maps output y to LR y // scale
        scale_specific=("body.4.",),
        recipe=RECIPE,
        published=PUBLISHED,
        reference_parameters=REFERENCE_PARAMETERS,
        opencv_peer=OpenCVPeer("espcn", "ESPCN_x{scale}.pb", (2, 3, 4)),
    )
)

"""VDSR: twenty 3x3 layers that predict the residual of the bicubic-upsampled luma.

Paper: Jiwon Kim, Jung Kwon Lee, Kyoung Mu Lee, "Accurate Image Super-Resolution Using
Very Deep Convolutional Networks", CVPR 2016.

One network serves x2, x3 and x4 (it was trained on all three mixed), so the spec is
``multi_scale``. Output = input + predicted residual. Zero padding 1 everywhere, as in
the official MatConvNet code; He init as in the paper (training starts the last layer
at zero: the recipe's ``zero_output``).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from ..errors import ModelError
from .layers import he_conv
from .recipe import Clip, Loss, Recipe, Supervision
from .registry import ColorSpace, InputKind, ModelSpec, register


@dataclass(frozen=True)
class VDSRConfig:
    """Depth counts every conv layer, the first (1 -> 64) and the last (64 -> 1) too."""

    layers: int = 20
    channels: int = 64


def receptive_radius(cfg: VDSRConfig) -> int:
    return cfg.layers  # one pixel per 3x3 layer


RADIUS = receptive_radius(VDSRConfig())


class VDSR(nn.Module):
    """A plain conv/ReLU stack with a global residual connection."""

    def __init__(self, cfg: VDSRConfig) -> None:
        super().__init__()
        c = cfg.channels
        layers: list[nn.Module] = [he_conv(1, c), nn.ReLU(inplace=True)]
        for _ in range(cfg.layers - 2):
            layers += [he_conv(c, c), nn.ReLU(inplace=True)]
        layers.append(he_conv(c, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)

    def residual_layers(self) -> list[nn.Module]:
        """The layer whose output is added to the bicubic input (the recipe starts it at zero)."""
        return [self.body[-1]]


def build(cfg: VDSRConfig, scale: int) -> nn.Module:
    if cfg.layers < 2:
        raise ModelError(f"vdsr needs at least 2 layers, got {cfg.layers}")
    return VDSR(cfg)


# The paper's training recipe, and in its notes where we depart from it (Adam and the
# extendable WSD schedule everywhere: see upscale/training/recipes.py).
# Two departures measured on the first 1,000 steps from scratch (Set5 x2 / x3 / x4, bf16 on
# the 2-core AMX Xeon): Adam at 1e-4 with the paper's He init everywhere reached 33.64 /
# 31.54 / 29.36 (bicubic 33.66 / 30.39 / 28.42): a He-initialised last layer adds noise to the
# bicubic input that the network first has to unlearn. 5e-4 reached 34.05 / 31.78 / 29.63,
# and 5e-4 with the last layer started at zero (the network starts as bicubic) 35.88 /
# 32.48 / 30.40.
RECIPE = Recipe(
    Loss.MSE, Supervision.FINAL, lr=5e-4, batch=64, patch=48, steps=300_000, weight_decay=1e-4,
    clip=Clip.ADJUSTABLE, clip_value=0.4, multi_scale=(2, 3, 4), zero_output=True,
    notes="Paper: SGD lr 0.1 /10 every 20 epochs, 41x41 patches, He init, adjustable clipping theta/lr; "
    "we use Adam 5e-4 (WSD), 48x48 patches (divisible by 2, 3 and 4), the last layer started at zero "
    "(the network starts as bicubic), the same clipping rule (under Adam it bounds nothing), "
    "and the paper's weight decay 1e-4 decoupled (AdamW): added to Adam's gradient it held VDSR at bicubic.",
)

# Published Y-channel (PSNR, SSIM or None) by (set, scale): as quoted by huangzehao/Super-Resolution.Benckmark (2-3 sources agree).
PUBLISHED = {
    ("Set5", 2): (37.53, 0.9587),
    ("Set5", 3): (33.66, 0.9213),
    ("Set5", 4): (31.35, 0.8838),
    ("Set14", 2): (33.03, 0.9124),
    ("Set14", 3): (29.77, 0.8314),
    ("Set14", 4): (28.01, 0.7674),
    ("BSD100", 2): (31.9, 0.896),
    ("BSD100", 3): (28.82, 0.7976),
    ("BSD100", 4): (27.29, 0.7251),
}

# Parameter counts of the paper or its reference code, by the scale the network runs at
# (tests allow 3%): weights, biases, PReLU slopes, BN affine, learned scalars.
REFERENCE_PARAMETERS = {2: 665_921, 3: 665_921, 4: 665_921}


register(
    ModelSpec(
        name="vdsr",
        paper="Kim, Lee, Lee, Accurate Image Super-Resolution Using Very Deep "
        "Convolutional Networks, CVPR 2016",
        scales=(2, 3, 4),
        input_kind=InputKind.PRE_UPSAMPLED,
        color_space=ColorSpace.Y,
        config_cls=VDSRConfig,
        build=build,
        receptive_radius=RADIUS,
        radius_of=lambda cfg, _scale: receptive_radius(cfg),
        multi_scale=True,
        recipe=RECIPE,
        published=PUBLISHED,
        reference_parameters=REFERENCE_PARAMETERS,
    )
)

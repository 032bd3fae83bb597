"""SRCNN: three convolutions on the bicubic-upsampled luma.

Paper: Chao Dong, Chen Change Loy, Kaiming He, Xiaoou Tang, "Image Super-Resolution
Using Deep Convolutional Networks", IEEE TPAMI 2016 (first published as "Learning a
Deep Convolutional Network for Image Super-Resolution", ECCV 2014).

We build the 9-5-5 model (64/32 filters) behind the standard benchmark rows; the ECCV
9-1-5 model is ``kernel_sizes=(9, 1, 5)``. Deviation: the official training net has no
padding (33 -> 21 px) and the official MATLAB test pads by replicating the border; we
zero-pad every layer ("same") so the output has the input's size and an output pixel
depends only on inputs within the receptive radius, which tiled inference relies on.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from ..errors import ModelError
from .recipe import Loss, Recipe, Supervision
from .registry import ColorSpace, InputKind, ModelSpec, register


@dataclass(frozen=True)
class SRCNNConfig:
    """The TPAMI 9-5-5 network."""

    filters: tuple[int, int] = (64, 32)
    kernel_sizes: tuple[int, int, int] = (9, 5, 5)
    init_std: float = 0.001  # the paper's Gaussian init; biases start at zero


def receptive_radius(cfg: SRCNNConfig) -> int:
    return sum(k // 2 for k in cfg.kernel_sizes)


RADIUS = receptive_radius(SRCNNConfig())


class SRCNN(nn.Module):
    """Patch extraction, non-linear mapping and a linear reconstruction."""

    def __init__(self, cfg: SRCNNConfig) -> None:
        super().__init__()
        (n1, n2), (f1, f2, f3) = cfg.filters, cfg.kernel_sizes
        self.body = nn.Sequential(
            nn.Conv2d(1, n1, f1, padding=f1 // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(n1, n2, f2, padding=f2 // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(n2, 1, f3, padding=f3 // 2),
        )
        for module in self.body:
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=cfg.init_std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


def build(cfg: SRCNNConfig, scale: int) -> nn.Module:
    """One network per scale; the scale only changes what it was trained on."""
    if any(k % 2 == 0 for k in cfg.kernel_sizes):
        raise ModelError(
            f"srcnn kernel sizes must be odd for 'same' padding, got {cfg.kernel_sizes}"
        )
    return SRCNN(cfg)


# The paper's training recipe, and in its notes where we depart from it (Adam and the
# extendable WSD schedule everywhere: see upscale/training/recipes.py).
RECIPE = Recipe(
    Loss.MSE, Supervision.FINAL, lr=3e-4, batch=128, patch=33, steps=300_000,
    notes="Paper: SGD lr 1e-4 (1e-5 last layer) for 15M iterations on 33x33 sub-images; "
    "we use Adam 3e-4 (WSD schedule), 'same' padding and the whole patch as target.",
)

# Published Y-channel (PSNR, SSIM or None) by (set, scale): the RDN paper (Zhang et al., CVPR 2018), Table 3.
PUBLISHED = {
    ("Set5", 2): (36.66, 0.9542),
    ("Set5", 3): (32.75, 0.909),
    ("Set5", 4): (30.48, 0.8628),
    ("Set14", 2): (32.45, 0.9067),
    ("Set14", 3): (29.3, 0.8215),
    ("Set14", 4): (27.5, 0.7513),
    ("BSD100", 2): (31.36, 0.8879),
    ("BSD100", 3): (28.41, 0.7863),
    ("BSD100", 4): (26.9, 0.7101),
}

# Parameter counts of the paper or its reference code, by the scale the network runs at
# (tests allow 3%): weights, biases, PReLU slopes, BN affine, learned scalars.
REFERENCE_PARAMETERS = {2: 57_281, 3: 57_281, 4: 57_281}


register(
    ModelSpec(
        name="srcnn",
        paper="Dong et al., Image Super-Resolution Using Deep Convolutional Networks, TPAMI 2016",
        scales=(2, 3, 4),
        input_kind=InputKind.PRE_UPSAMPLED,
        color_space=ColorSpace.Y,
        config_cls=SRCNNConfig,
        build=build,
        receptive_radius=RADIUS,  # 4 + 2 + 2 for the 9-5-5 kernels
        radius_of=lambda cfg, _scale: receptive_radius(cfg),
        recipe=RECIPE,
        published=PUBLISHED,
        reference_parameters=REFERENCE_PARAMETERS,
    )
)

"""DRCN: one 3x3 convolution applied recursively, with a prediction after every pass.

Paper: Jiwon Kim, Jung Kwon Lee, Kyoung Mu Lee, "Deeply-Recursive Convolutional Network
for Image Super-Resolution", CVPR 2016.

Our reading of the unfolded network: embedding net (conv 1->256, ReLU, conv 256->256,
ReLU) -> inference net, one shared conv 256->256 + ReLU applied 16 times -> after every
recursion the shared reconstruction net (conv 256->256, ReLU, conv 256->1) plus the
input skip gives a prediction; the output is the weighted sum of the 16 predictions
with learned scalars w_d, initialised to 1/16 and not renormalised (the paper writes a
plain weighted sum). This gives 1,775,105 + 16 parameters, the reference figure.
``forward_intermediates`` returns the 16 predictions and then the weighted output, for
recursive supervision. Init: He for every conv (our choice; over 16 shared recursions
it grows activations about 4x, which training absorbs in a few steps), except that the
recipe starts the reconstruction's last conv at zero (``zero_output``), so the fresh
network is its bicubic input (the ensemble weights sum to 1), as VDSR's recipe does; zero
padding keeps the size of the bicubic-upsampled input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ModelError
from .layers import he_conv
from .recipe import Clip, Loss, Recipe, Supervision
from .registry import ColorSpace, InputKind, ModelSpec, register


@dataclass(frozen=True)
class DRCNConfig:
    """256 filters and 16 recursions (a 41x41 receptive field)."""

    channels: int = 256
    recursions: int = 16


def receptive_radius(cfg: DRCNConfig) -> int:
    return 2 + cfg.recursions + 2  # embedding, recursions, reconstruction


RADIUS = receptive_radius(DRCNConfig())


class DRCN(nn.Module):
    """Embedding, shared recursion, shared reconstruction, learned ensemble."""

    def __init__(self, cfg: DRCNConfig) -> None:
        super().__init__()
        c = cfg.channels
        self.recursions = cfg.recursions
        self.embed = nn.Sequential(
            he_conv(1, c), nn.ReLU(inplace=True), he_conv(c, c), nn.ReLU(inplace=True)
        )
        self.recursive = he_conv(c, c)
        self.reconstruct = nn.Sequential(he_conv(c, c), nn.ReLU(inplace=True), he_conv(c, 1))
        self.ensemble = nn.Parameter(torch.full((cfg.recursions,), 1.0 / cfg.recursions))

    def _predictions(self, x: Tensor) -> list[Tensor]:
        h = self.embed(x)
        predictions = []
        for _ in range(self.recursions):
            h = torch.relu(self.recursive(h))
            predictions.append(self.reconstruct(h) + x)
        return predictions

    def _combine(self, predictions: list[Tensor]) -> Tensor:
        return sum(
            (w * p for w, p in zip(self.ensemble, predictions, strict=True)),
            torch.zeros_like(predictions[0]),
        )

    def forward_intermediates(self, x: Tensor) -> list[Tensor]:
        """The D intermediate predictions, then the weighted final output."""
        predictions = self._predictions(x)
        return predictions + [self._combine(predictions)]

    def forward(self, x: Tensor) -> Tensor:
        return self._combine(self._predictions(x))

    def residual_layers(self) -> list[nn.Module]:
        """The layer whose output is added to the bicubic input in every prediction."""
        return [self.reconstruct[-1]]


def build(cfg: DRCNConfig, scale: int) -> nn.Module:
    if cfg.recursions < 1:
        raise ModelError(f"drcn needs at least one recursion, got {cfg.recursions}")
    return DRCN(cfg)


# The paper's training recipe, and in its notes where we depart from it (Adam and the
# extendable WSD schedule everywhere: see upscale/training/recipes.py).
RECIPE = Recipe(
    Loss.MSE, Supervision.RECURSIVE, lr=1e-4, batch=64, patch=42, steps=200_000, weight_decay=1e-4,
    clip=Clip.NORM, clip_value=1.0, alpha_steps=100_000, zero_output=True,
    notes="Paper: SGD lr 0.01, 41x41 patches, recursive supervision with alpha decaying, beta 1e-4; "
    "we use Adam 1e-4 (WSD), gradient-norm clipping at 1, 42x42 patches (divisible by 2 and 3), "
    "alpha falling linearly to 0 over the first 100k steps, the weight decay 1e-4 decoupled (AdamW), "
    "and the reconstruction's last conv started at zero (the network starts as bicubic; worth 1.7 dB "
    "early to VDSR).",
)

# Published Y-channel (PSNR, SSIM or None) by (set, scale): as quoted by huangzehao/Super-Resolution.Benckmark (2-3 sources agree).
PUBLISHED = {
    ("Set5", 2): (37.63, 0.9588),
    ("Set5", 3): (33.82, 0.9226),
    ("Set5", 4): (31.53, 0.8854),
    ("Set14", 2): (33.04, 0.9118),
    ("Set14", 3): (29.76, 0.8311),
    ("Set14", 4): (28.02, 0.767),
    ("BSD100", 2): (31.85, 0.8942),
    ("BSD100", 3): (28.8, 0.7963),
    ("BSD100", 4): (27.23, 0.7233),
}

# Parameter counts of the paper or its reference code, by the scale the network runs at
# (tests allow 3%): weights, biases, PReLU slopes, BN affine, learned scalars.
REFERENCE_PARAMETERS = {s: 1_775_105 + 16 for s in (2, 3, 4)}  # + the 16 ensemble weights


register(
    ModelSpec(
        name="drcn",
        paper="Kim, Lee, Lee, Deeply-Recursive Convolutional Network for Image "
        "Super-Resolution, CVPR 2016",
        scales=(2, 3, 4),
        input_kind=InputKind.PRE_UPSAMPLED,
        color_space=ColorSpace.Y,
        config_cls=DRCNConfig,
        build=build,
        receptive_radius=RADIUS,
        radius_of=lambda cfg, _scale: receptive_radius(cfg),
        recipe=RECIPE,
        published=PUBLISHED,
        reference_parameters=REFERENCE_PARAMETERS,
    )
)

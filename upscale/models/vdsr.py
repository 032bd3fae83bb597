"""VDSR: twenty 3x3 layers that predict the residual of the bicubic-upsampled luma.

Paper: Jiwon Kim, Jung Kwon Lee, Kyoung Mu Lee, "Accurate Image Super-Resolution Using
Very Deep Convolutional Networks", CVPR 2016.

One network serves x2, x3 and x4 (it was trained on all three mixed), so the spec is
``multi_scale``. Output = input + predicted residual. Zero padding 1 everywhere, as in
the official MatConvNet code; He init as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from ..errors import ModelError
from .registry import ColorSpace, InputKind, ModelSpec, register


@dataclass(frozen=True)
class VDSRConfig:
    """Depth counts every conv layer, the first (1 -> 64) and the last (64 -> 1) too."""

    layers: int = 20
    channels: int = 64


def receptive_radius(cfg: VDSRConfig) -> int:
    return cfg.layers  # one pixel per 3x3 layer


RADIUS = receptive_radius(VDSRConfig())


def _conv(cin: int, cout: int) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, 3, padding=1)
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


class VDSR(nn.Module):
    """A plain conv/ReLU stack with a global residual connection."""

    def __init__(self, cfg: VDSRConfig) -> None:
        super().__init__()
        c = cfg.channels
        layers: list[nn.Module] = [_conv(1, c), nn.ReLU(inplace=True)]
        for _ in range(cfg.layers - 2):
            layers += [_conv(c, c), nn.ReLU(inplace=True)]
        layers.append(_conv(c, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def build(cfg: VDSRConfig, scale: int) -> nn.Module:
    if cfg.layers < 2:
        raise ModelError(f"vdsr needs at least 2 layers, got {cfg.layers}")
    return VDSR(cfg)


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
    )
)

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

from torch import Tensor, nn

from .registry import ColorSpace, InputKind, ModelSpec, register


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
    conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
    nn.init.kaiming_normal_(conv.weight, a=0.25, nonlinearity="leaky_relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return [conv, nn.PReLU(cout, init=0.25)]


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
        return self.deconv(self.body(x))


def build(cfg: FSRCNNConfig, scale: int) -> nn.Module:
    return FSRCNN(cfg, scale)


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
    )
)

"""The layer every architecture builds on: a same-padded convolution initialised for its activation."""

from __future__ import annotations

from typing import Literal

from torch import nn

Activation = Literal["relu", "leaky_relu", "tanh", "linear"]


def he_conv(
    cin: int, cout: int, kernel: int = 3, *, activation: Activation = "relu", slope: float = 0.0, stride: int = 1
) -> nn.Conv2d:
    """A ``kernel``-square convolution with ``kernel // 2`` padding, He-normal weights and zero biases.

    Same padding keeps the LR and HR grids aligned, which the receptive radius and
    tiling assume. The weights' scale is the one for ``activation`` (He et al. 2015),
    with ``slope`` the negative slope of a leaky ReLU or PReLU after it.
    """
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)
    nn.init.kaiming_normal_(conv.weight, a=slope, nonlinearity=activation)
    nn.init.zeros_(conv.bias)
    return conv

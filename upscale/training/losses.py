"""Training losses, and how a recipe's supervision turns network outputs into one loss."""

from __future__ import annotations

from typing import Callable, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..imaging.resize import imresize_tensor
from .recipes import Recipe

CHARBONNIER_EPS = 1e-3  # LapSRN: sqrt(d^2 + 1e-6)


def charbonnier(pred: Tensor, target: Tensor) -> Tensor:
    return torch.sqrt((pred - target) ** 2 + CHARBONNIER_EPS**2).mean()


PIXEL_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "charbonnier": charbonnier,
}


def drcn_alpha(recipe: Recipe, step: int) -> float:
    """Weight of the intermediate predictions: 1 at the start, 0 after ``alpha_steps`` steps.

    A number of steps rather than a fraction of the run, so that extending a run
    does not change the loss of steps already taken.
    """
    return max(0.0, 1.0 - step / max(1, recipe.alpha_steps))


class Intermediates(nn.Module):
    """Makes ``forward`` return every supervised output, so DDP sees the call it must sync."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.net.forward_intermediates(x)


def training_module(recipe: Recipe, net: nn.Module) -> nn.Module:
    """The module whose forward the training step calls."""
    return net if recipe.supervision == "final" else Intermediates(net)


def supervised_loss(recipe: Recipe, outputs: Union[Tensor, list[Tensor]], y: Tensor, step: int) -> Tensor:
    """The loss of one batch, given what ``training_module(recipe, net)`` returned."""
    pixel = PIXEL_LOSSES[recipe.loss]
    if recipe.supervision == "final":
        return pixel(outputs, y)
    if recipe.supervision == "levels":  # LapSRN: every level against the HR resized to its size
        return sum(pixel(o, y if o.shape == y.shape else imresize_tensor(y, size=o.shape[-2:])) for o in outputs)
    if recipe.supervision == "recursive":  # DRCN: the 16 predictions, then the weighted output
        *partial, final = outputs
        alpha = drcn_alpha(recipe, step)
        return alpha * sum(pixel(o, y) for o in partial) / len(partial) + (1 - alpha) * pixel(final, y)
    raise ValueError(f"unknown supervision {recipe.supervision!r}")

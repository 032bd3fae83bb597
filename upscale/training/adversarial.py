"""SRGAN's adversarial phase: a discriminator, its optimiser, and the generator's content loss.

Each step updates the discriminator once on real and generated patches, then the
generator once on content + ``adversarial_weight`` x the adversarial loss (k = 1 in
the paper). The content loss is VGG54 when VGG19 weights are on disk, else the
pixel MSE of the paper's SRGAN-MSE variant; which one ran is in the weights' metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ModelError, UsageError
from ..models import ModelSpec
from .recipes import Recipe
from .vgg import find_vgg_weights, load_vgg54

# The paper computes the MSE on HR images in [-1, 1], twice our [0, 1] range, so its MSE is
# four times ours; scaling ours by 4 keeps the paper's balance against 1e-3 x the adversarial
# loss (and against VGG54, whose 1/12.75 feature scale was chosen to match that MSE).
PAPER_MSE_SCALE = 4.0


class Adversary:
    def __init__(
        self,
        spec: ModelSpec,
        recipe: Recipe,
        device: torch.device,
        autocast: Optional[torch.dtype],
        wrap: Callable[[nn.Module], nn.Module],
        vgg_weights: Optional[Path],
    ) -> None:
        if spec.discriminator is None:
            raise ModelError(f"{spec.name}'s recipe is adversarial, but its module registers no discriminator")
        if autocast is torch.float16 and not recipe.takes_fp16:
            raise UsageError(f"{spec.name}'s adversarial training runs in bf16 or fp32, not fp16")
        self.autocast = autocast
        self.weight = recipe.adversarial.adversarial_weight
        self.disc_net = spec.discriminator().to(device)
        self.disc = wrap(self.disc_net)
        self.optimizer = torch.optim.Adam(self.disc_net.parameters(), lr=recipe.lr, betas=(0.9, 0.999))
        path = find_vgg_weights(vgg_weights)
        self.vgg = load_vgg54(path).to(device) if path else None
        self.variant = "srgan-vgg54" if self.vgg is not None else "srgan-mse"
        self.vgg_source = path.name if path else None

    def content(self, sr: Tensor, hr: Tensor) -> Tensor:
        if self.vgg is None:
            return PAPER_MSE_SCALE * F.mse_loss(sr, hr)
        return F.mse_loss(self.vgg(sr), self.vgg(hr))

    def step(self, generator: nn.Module, g_optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor,
             lr: float) -> dict[str, float]:
        """One discriminator and one generator update; returns both losses."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        amp = dict(device_type=x.device.type, dtype=self.autocast, enabled=self.autocast is not None)
        n = y.shape[0]
        real, fake = torch.ones(n, 1, device=y.device), torch.zeros(n, 1, device=y.device)
        with torch.autocast(**amp):
            sr = generator(x)
            logits = self.disc(torch.cat([y, sr.detach()]))
        d_loss = F.binary_cross_entropy_with_logits(logits.float(), torch.cat([real, fake]))
        self.optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.optimizer.step()
        with torch.autocast(**amp):
            content = self.content(sr, y)
            fooled = F.binary_cross_entropy_with_logits(self.disc(sr).float(), real)
        g_loss = content.float() + self.weight * fooled
        g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        g_optimizer.step()
        return {"loss": float(g_loss.detach()), "content": float(content.detach()), "d_loss": float(d_loss.detach())}

    def state(self) -> dict[str, Any]:
        return {"disc": self.disc_net.state_dict(), "optimizer": self.optimizer.state_dict(), "variant": self.variant}

    def load(self, state: dict[str, Any]) -> None:
        if state["variant"] != self.variant:
            raise UsageError(f"the run used {state['variant']}, but this resume would use {self.variant}")
        self.disc_net.load_state_dict(state["disc"])
        self.optimizer.load_state_dict(state["optimizer"])

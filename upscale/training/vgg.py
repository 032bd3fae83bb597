"""VGG19 features for SRGAN's VGG54 content loss, built here and loaded from a local file.

The network is the 16-conv VGG19 of Simonyan & Zisserman (ICLR 2015); only its
``features`` part up to conv5_4's ReLU is built (VGG54 in the SRGAN paper). Weights
come from a local torchvision-format state dict (``features.N.weight``), given by
``--vgg-weights`` or found in the torch hub cache; nothing is downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import torch
from torch import Tensor, nn

from ..errors import WeightsError

# Channels per conv, "M" = 2x2 max-pool; the 16 convs of VGG19 (configuration E).
LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
HUB_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's file name for the ImageNet weights
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
FEATURE_SCALE = 1 / 12.75  # SRGAN rescales the VGG feature maps by this factor


def _features() -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for item in LAYERS:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=False)]
            channels = int(item)
    return nn.Sequential(*layers)


class VGG54(nn.Module):
    """conv5_4 features (after its ReLU) of an ImageNet-normalised RGB input in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _features()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        return self.features((x - self.mean) / self.std) * FEATURE_SCALE


def find_vgg_weights(explicit: Optional[Path]) -> Optional[Path]:
    """``explicit``, else the torch hub cache's VGG19 file, else None."""
    if explicit is not None:
        if not explicit.is_file():
            raise WeightsError(f"--vgg-weights {explicit}: no such file")
        return explicit
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints" / HUB_FILE
    return hub if hub.is_file() else None


def load_vgg54(path: Path) -> VGG54:
    """VGG54 with the ``features.*`` tensors of ``path`` (the classifier's are ignored)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise WeightsError(f"{path}: cannot read VGG19 weights ({exc})") from None
    model = VGG54()
    own = model.features.state_dict()
    features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    missing = sorted(set(own) - set(features))
    if missing:
        raise WeightsError(f"{path}: not VGG19 weights (missing {missing[:3]})")
    model.features.load_state_dict({k: features[k] for k in own}, strict=True)
    return model.eval()

"""One typed training recipe per model: the paper's recipe, and where we depart from it.

Every recipe uses Adam: the papers' SGD schedules (SRCNN's 15M iterations, VDSR's
lr 0.1 with adjustable clipping, LapSRN's 1e-5 for 1000 epochs) are impractical on a
lent GPU. Each departure is written in the recipe's ``notes`` and ends up in the
weights' metadata. Patch sizes are LR pixels for LR-input models and HR pixels for
pre-upsampled ones (SRCNN, VDSR, DRCN), as their papers state them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from ..errors import ModelError
from ..models import InputKind, get_spec


@dataclass(frozen=True)
class AdversarialRecipe:
    """The adversarial phase (SRGAN): started from the MSE-trained generator."""

    lr: float = 1e-4
    steps: int = 200_000  # paper: 1e5 at lr 1e-4, then 1e5 at 1e-5
    adversarial_weight: float = 1e-3
    batch: int = 16


@dataclass(frozen=True)
class Recipe:
    loss: str  # "mse" | "l1" | "charbonnier"
    supervision: str  # "final" | "levels" (LapSRN pyramid) | "recursive" (DRCN)
    lr: float
    batch: int
    patch: int  # LR px for LR models, HR px for pre-upsampled models
    steps: int
    schedule: str = "cosine"  # "cosine" | "step"
    step_every: int = 0  # for "step": multiply by step_gamma every this many steps
    step_gamma: float = 0.5
    warmup: int = 0
    weight_decay: float = 0.0
    clip: str = "none"  # "none" | "norm" | "adjustable" (VDSR: |g| <= theta / lr)
    clip_value: float = 0.0
    augment: bool = True
    scale_aug: tuple[float, ...] = ()
    multi_scale: tuple[int, ...] = ()  # scales mixed within one batch (VDSR)
    alpha_decay: float = 0.5  # DRCN: fraction of the run over which alpha falls from 1 to 0
    adversarial: Optional[AdversarialRecipe] = None
    notes: str = ""


RECIPES: dict[str, Recipe] = {
    "srcnn": Recipe(
        "mse", "final", lr=3e-4, batch=128, patch=33, steps=300_000,
        notes="Paper: SGD lr 1e-4 (1e-5 last layer) for 15M iterations on 33x33 sub-images; "
        "we use Adam 3e-4 with a cosine schedule, 'same' padding and the whole patch as target.",
    ),
    "fsrcnn": Recipe(
        "mse", "final", lr=1e-3, batch=128, patch=16, steps=300_000,
        scale_aug=(0.6, 0.7, 0.8, 0.9, 1.0),
        notes="Paper: SGD 1e-3 (deconv 1e-4), LR sub-images 10/7/6 px, 91 images then General-100, "
        "x3 first with the other scales fine-tuned from it; we use Adam 1e-3 cosine, 16 px LR patches, "
        "all training sets at once, each scale from scratch; augmentation as the paper (0.6-0.9 scaling, rotations).",
    ),
    "espcn": Recipe(
        "mse", "final", lr=1e-3, batch=64, patch=17, steps=300_000,
        notes="Paper: 17r HR sub-images, lr 0.01 to 1e-4 on plateaus, Gaussian-blur degradation; "
        "we use Adam 1e-3 cosine and the MATLAB-bicubic degradation of the benchmarks.",
    ),
    "vdsr": Recipe(
        "mse", "final", lr=1e-4, batch=64, patch=48, steps=300_000, weight_decay=1e-4,
        clip="adjustable", clip_value=0.4, multi_scale=(2, 3, 4),
        notes="Paper: SGD lr 0.1 /10 every 20 epochs, 41x41 patches, adjustable clipping theta/lr; "
        "we use Adam 1e-4 cosine, 48x48 patches (divisible by 2, 3 and 4), the same clipping rule.",
    ),
    "drcn": Recipe(
        "mse", "recursive", lr=1e-4, batch=64, patch=42, steps=200_000, weight_decay=1e-4,
        clip="norm", clip_value=1.0,
        notes="Paper: SGD lr 0.01, 41x41 patches, recursive supervision with alpha decaying, beta 1e-4; "
        "we use Adam 1e-4 cosine, gradient-norm clipping at 1, 42x42 patches (divisible by 2 and 3), "
        "alpha falling linearly to 0 over the first half.",
    ),
    "lapsrn": Recipe(
        "charbonnier", "levels", lr=1e-4, batch=64, patch=32, steps=300_000,
        scale_aug=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
        notes="Paper: SGD lr 1e-5 halved every 50 epochs, 128 px HR patches, Charbonnier at every level; "
        "we use Adam 1e-4 cosine with the same patches (LR 32 at x4) and losses.",
    ),
    "srdensenet": Recipe(
        "mse", "final", lr=1e-4, batch=32, patch=25, steps=300_000,
        notes="Paper: 50,000 ImageNet images, HR 100 / LR 25 patches, Adam 1e-4; we have far fewer images.",
    ),
    "rdn": Recipe(
        "l1", "final", lr=1e-4, batch=16, patch=48, steps=300_000, schedule="step", step_every=100_000,
        notes="Paper: DIV2K, L1, Adam 1e-4 halved every 200k of 1M iterations, 32-48 px LR patches, "
        "x3/x4 fine-tuned from x2; we halve every 100k of 300k and have far less data.",
    ),
    "srgan": Recipe(
        "mse", "final", lr=1e-4, batch=16, patch=24, steps=300_000,
        adversarial=AdversarialRecipe(),
        notes="SRResNet (MSE) pre-training, paper: 350k ImageNet images, 96 px HR patches, Adam 1e-4, "
        "1M iterations; targets in [0, 1] rather than [-1, 1]. The adversarial phase (--gan) alternates "
        "one discriminator and one generator update, content loss VGG54 when VGG19 weights are on disk, "
        "else MSE (the paper's SRGAN-MSE variant), plus 1e-3 x the adversarial loss.",
    ),
}


def recipe_for(name: str) -> Recipe:
    """The recipe of a registered model; a model without one is an error, not a default."""
    spec = get_spec(name)
    if spec.name not in RECIPES:
        raise ModelError(f"{spec.name} has no training recipe in upscale/training/recipes.py")
    return RECIPES[spec.name]


def hr_patch_size(name: str, scales: tuple[int, ...], patch: int) -> int:
    """HR patch side: LR patch x scale, or the HR patch rounded down to suit every scale."""
    spec = get_spec(name)
    if spec.input_kind is InputKind.LR:
        (scale,) = scales
        return patch * scale
    step = math.lcm(*scales)
    return max(step, patch - patch % step)

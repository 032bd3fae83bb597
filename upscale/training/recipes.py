"""One typed training recipe per model: the paper's recipe, and where we depart from it.

Every recipe uses Adam: the papers' SGD schedules (SRCNN's 15M iterations, VDSR's
lr 0.1 with adjustable clipping, LapSRN's 1e-5 for 1000 epochs) are impractical on a
lent GPU, let alone on the 2-core CPUs where this project trains. Every recipe
uses the warm-up/stable/decay schedule (``Schedule.WSD``) so that a run can be
extended across sessions; by default the decay takes the last fifth of the steps.
Each departure is written in the recipe's ``notes`` and ends up in the weights'
metadata. Patch sizes are LR pixels for LR-input models and HR pixels for
pre-upsampled ones (SRCNN, VDSR, DRCN), as their papers state them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional

from ..errors import ModelError
from ..models import InputKind, get_spec


class Loss(str, Enum):
    MSE = "mse"
    L1 = "l1"
    CHARBONNIER = "charbonnier"


class Supervision(str, Enum):
    FINAL = "final"  # the network's output only
    LEVELS = "levels"  # LapSRN: every pyramid level
    RECURSIVE = "recursive"  # DRCN: every recursion, then the ensemble


class Schedule(str, Enum):
    """How the learning rate moves.

    ``wsd`` (warm-up, stable, decay) holds the base rate after the warm-up for as long
    as a campaign needs, then decays it over the last ``decay_steps`` steps, once those
    are asked for: a run can be extended any number of times before its decay, and
    every step keeps the rate it had. ``step`` multiplies the rate by ``step_gamma``
    every ``step_every`` steps (the papers' schedules, and SRGAN's adversarial phase).
    """

    WSD = "wsd"
    STEP = "step"


class Clip(str, Enum):
    NONE = "none"
    NORM = "norm"  # global gradient norm <= clip_value
    ADJUSTABLE = "adjustable"  # VDSR: |g| <= clip_value / lr


@dataclass(frozen=True)
class AdversarialRecipe:
    """The adversarial phase (SRGAN): started from the MSE-trained generator."""

    lr: float = 1e-4
    steps: int = 200_000  # paper: 1e5 at lr 1e-4, then 1e5 at 1e-5
    adversarial_weight: float = 1e-3
    batch: int = 16


@dataclass(frozen=True)
class Recipe:
    loss: Loss
    supervision: Supervision
    lr: float
    batch: int
    patch: int  # LR px for LR models, HR px for pre-upsampled models
    steps: int
    schedule: Schedule = Schedule.WSD
    step_every: int = 0  # for "step": multiply by step_gamma every this many steps
    step_gamma: float = 0.5
    warmup: int = 0
    decay_steps: int = 0  # for "wsd": the rate falls to 0 over the last this many steps (0: not yet)
    weight_decay: float = 0.0
    clip: Clip = Clip.NONE
    clip_value: float = 0.0
    augment: bool = True
    scale_aug: tuple[float, ...] = ()
    multi_scale: tuple[int, ...] = ()  # scales mixed within one batch (VDSR)
    alpha_steps: int = 0  # DRCN: steps over which alpha falls from 1 to 0
    adversarial: Optional[AdversarialRecipe] = None
    notes: str = ""


# Fields that only say when the learning rate changes; a resumed run may change them
# as long as no step already taken would have had another rate (see lr_history_agrees).
SCHEDULE_FIELDS = frozenset({"steps", "schedule", "step_every", "step_gamma", "warmup", "decay_steps", "notes"})


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """Plain data (strings, numbers, lists) for checkpoints and metadata."""

    def plain(value: Any) -> Any:
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(recipe))


def recipe_from_dict(data: dict[str, Any]) -> Recipe:
    """The recipe a checkpoint recorded; fields it predates take their defaults."""
    names = {f.name for f in dataclasses.fields(Recipe)}
    values = {k: v for k, v in data.items() if k in names}
    for key, enum in (("loss", Loss), ("supervision", Supervision), ("schedule", Schedule), ("clip", Clip)):
        if key in values:
            values[key] = enum(values[key])
    for key in ("scale_aug", "multi_scale"):
        if key in values:
            values[key] = tuple(values[key])
    if values.get("adversarial") is not None:
        values["adversarial"] = AdversarialRecipe(**values["adversarial"])
    return Recipe(**values)


def lr_factor(recipe: Recipe, step: int) -> float:
    """Multiplier of the base learning rate at ``step``."""
    if step < recipe.warmup:
        return (step + 1) / recipe.warmup
    if recipe.schedule is Schedule.STEP:
        return recipe.step_gamma ** (step // recipe.step_every) if recipe.step_every else 1.0
    decay_start = recipe.steps - recipe.decay_steps
    if recipe.decay_steps <= 0 or step < decay_start:
        return 1.0
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - decay_start) / recipe.decay_steps)))


def first_lr_difference(a: Recipe, b: Recipe, steps: int) -> Optional[int]:
    """The first step below ``steps`` whose learning rate differs between ``a`` and ``b``, if any."""
    return next((t for t in range(steps) if a.lr * lr_factor(a, t) != b.lr * lr_factor(b, t)), None)


DEFAULT_DECAY_FRACTION = 0.2  # of --steps, when --decay-steps is not given

RECIPES: dict[str, Recipe] = {
    "srcnn": Recipe(
        Loss.MSE, Supervision.FINAL, lr=3e-4, batch=128, patch=33, steps=300_000,
        notes="Paper: SGD lr 1e-4 (1e-5 last layer) for 15M iterations on 33x33 sub-images; "
        "we use Adam 3e-4 (WSD schedule), 'same' padding and the whole patch as target.",
    ),
    "fsrcnn": Recipe(
        Loss.MSE, Supervision.FINAL, lr=1e-3, batch=128, patch=16, steps=300_000,
        scale_aug=(0.6, 0.7, 0.8, 0.9, 1.0),
        notes="Paper: SGD 1e-3 (deconv 1e-4), LR sub-images 10/7/6 px, 91 images then General-100, "
        "x3 first with the other scales fine-tuned from it; we use Adam 1e-3 (WSD), 16 px LR patches, "
        "all training sets at once, each scale from scratch; augmentation as the paper (0.6-0.9 scaling, rotations).",
    ),
    "espcn": Recipe(
        Loss.MSE, Supervision.FINAL, lr=1e-3, batch=64, patch=17, steps=300_000,
        notes="Paper: 17r HR sub-images, lr 0.01 to 1e-4 on plateaus, Gaussian-blur degradation; "
        "we use Adam 1e-3 (WSD) and the MATLAB-bicubic degradation of the benchmarks.",
    ),
    "vdsr": Recipe(
        Loss.MSE, Supervision.FINAL, lr=1e-4, batch=64, patch=48, steps=300_000, weight_decay=1e-4,
        clip=Clip.ADJUSTABLE, clip_value=0.4, multi_scale=(2, 3, 4),
        notes="Paper: SGD lr 0.1 /10 every 20 epochs, 41x41 patches, adjustable clipping theta/lr; "
        "we use Adam 1e-4 (WSD), 48x48 patches (divisible by 2, 3 and 4), the same clipping rule.",
    ),
    "drcn": Recipe(
        Loss.MSE, Supervision.RECURSIVE, lr=1e-4, batch=64, patch=42, steps=200_000, weight_decay=1e-4,
        clip=Clip.NORM, clip_value=1.0, alpha_steps=100_000,
        notes="Paper: SGD lr 0.01, 41x41 patches, recursive supervision with alpha decaying, beta 1e-4; "
        "we use Adam 1e-4 (WSD), gradient-norm clipping at 1, 42x42 patches (divisible by 2 and 3), "
        "alpha falling linearly to 0 over the first 100k steps.",
    ),
    "lapsrn": Recipe(
        Loss.CHARBONNIER, Supervision.LEVELS, lr=1e-4, batch=64, patch=32, steps=300_000,
        scale_aug=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
        notes="Paper: SGD lr 1e-5 halved every 50 epochs, 128 px HR patches, Charbonnier at every level; "
        "we use Adam 1e-4 (WSD) with the same patches (LR 32 at x4) and losses.",
    ),
    "srdensenet": Recipe(
        Loss.MSE, Supervision.FINAL, lr=1e-4, batch=32, patch=25, steps=300_000,
        notes="Paper: 50,000 ImageNet images, HR 100 / LR 25 patches, Adam 1e-4; we have far fewer images.",
    ),
    "rdn": Recipe(
        Loss.L1, Supervision.FINAL, lr=1e-4, batch=16, patch=48, steps=300_000,
        notes="Paper: DIV2K, L1, Adam 1e-4 halved every 200k of 1M iterations, 32-48 px LR patches, "
        "x3/x4 fine-tuned from x2; we hold 1e-4 and decay at the end (WSD), and have far less data.",
    ),
    "srgan": Recipe(
        Loss.MSE, Supervision.FINAL, lr=1e-4, batch=16, patch=24, steps=300_000,
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

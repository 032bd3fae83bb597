"""What training does with a model's recipe (each model module states its own).

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
from enum import Enum
from typing import Any, Optional

from ..errors import ModelError
from ..models import InputKind, get_spec
from ..models.recipe import AdversarialRecipe, Clip, Loss, Recipe, Schedule, Supervision

__all__ = ["AdversarialRecipe", "Clip", "Loss", "Recipe", "Schedule", "Supervision"]


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

def recipe_for(name: str) -> Recipe:
    """The recipe of a registered model; a model without one is an error, not a default."""
    spec = get_spec(name)
    if spec.recipe is None:
        raise ModelError(f"{spec.name} has no training recipe (its module registers none)")
    return spec.recipe


def hr_patch_size(name: str, scales: tuple[int, ...], patch: int) -> int:
    """HR patch side: LR patch x scale, or the HR patch rounded down to suit every scale."""
    spec = get_spec(name)
    if spec.input_kind is InputKind.LR:
        (scale,) = scales
        return patch * scale
    step = math.lcm(*scales)
    return max(step, patch - patch % step)

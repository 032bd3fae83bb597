"""What a training run is asked to do: its configuration, its result, and the recipe with the overrides applied."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import UsageError
from ..models import ModelSpec
from .data import PatchSpec
from .precision import Precision
from .recipes import DEFAULT_DECAY_FRACTION, Recipe, hr_patch_size, recipe_for


@dataclass(frozen=True)
class TrainConfig:
    """What the user asked for; ``None`` fields take the model's recipe value."""

    model: str
    scale: int
    data: tuple[Path, ...]
    out: Path
    val: Optional[str] = "Set5"
    steps: Optional[int] = None
    decay_steps: Optional[int] = None  # default: the last fifth of the steps
    batch: Optional[int] = None
    patch: Optional[int] = None
    lr: Optional[float] = None
    augment: Optional[bool] = None
    device: str = "auto"
    precision: Precision = Precision.AUTO
    seed: int = 0
    workers: Optional[int] = None
    log_every: int = 100
    val_every: int = 5000
    checkpoint_every: int = 5000
    checkpoint_minutes: float = 5.0
    time_limit: Optional[float] = None  # seconds; stop at a step boundary before it runs out
    resume: bool = False
    compile: bool = False
    export: Optional[Path] = None
    init: Optional[Path] = None  # start from these weights (SRResNet's for SRGAN)
    vgg_weights: Optional[Path] = None
    cache: Optional[Path] = None  # degraded training images (default: the user cache)
    ema: Optional[float] = None  # decay of a weight average that validation and export use


@dataclass(frozen=True)
class TrainResult:
    steps: int
    total_steps: int
    best_psnr: Optional[float]
    checkpoint: Path
    exported: Optional[Path]
    mode: str  # precision and layout the steps ran in
    time_limited: bool  # stopped by the time limit before the last step
    val_scales: tuple[int, ...] = ()  # the scales best_psnr is the mean of


def resolve_recipe(cfg: TrainConfig) -> Recipe:
    """The recipe with the command line's overrides applied."""
    recipe = recipe_for(cfg.model)
    overrides = {"steps": cfg.steps, "batch": cfg.batch, "patch": cfg.patch, "lr": cfg.lr, "augment": cfg.augment}
    recipe = dataclasses.replace(recipe, **{k: v for k, v in overrides.items() if v is not None})
    if cfg.augment is False:  # no augmentation at all: no flips, rotations or rescaling
        recipe = dataclasses.replace(recipe, scale_aug=())
    for name in ("steps", "batch", "patch"):
        if getattr(recipe, name) < 1:
            raise UsageError(f"--{name} must be at least 1")
    decay = cfg.decay_steps if cfg.decay_steps is not None else round(DEFAULT_DECAY_FRACTION * recipe.steps)
    if not 0 <= decay <= recipe.steps:
        raise UsageError(f"--decay-steps must lie between 0 and --steps ({recipe.steps}), got {decay}")
    recipe = dataclasses.replace(recipe, decay_steps=decay)
    if recipe.adversarial is not None:  # SRGAN's second half runs at a tenth of the learning rate
        recipe = dataclasses.replace(recipe, step_every=max(1, recipe.steps // 2), step_gamma=0.1)
    return recipe


def patch_spec_for(spec: ModelSpec, recipe: Recipe, scales: tuple[int, ...]) -> PatchSpec:
    """How training patches of ``spec`` are cut under ``recipe`` (the trainer and ``bench --train``)."""
    return PatchSpec(
        scales=scales,
        hr_patch=hr_patch_size(spec.name, scales, recipe.patch),
        color=spec.color_space.value,
        pre_upsample=spec.pre_upsampled,
        augment=recipe.augment,
        scale_aug=recipe.scale_aug,
    )

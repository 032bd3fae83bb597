"""The types of a training recipe, so that each model module can state its paper's recipe.

They are plain data; what training does with them lives in ``upscale/training``.
Patch sizes are LR pixels for LR-input models and HR pixels for pre-upsampled ones
(SRCNN, VDSR, DRCN), as their papers state them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional


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
    """Adversarial training (SRGAN): a discriminator beside the generator, from trained generator weights."""

    adversarial_weight: float = 1e-3  # of the adversarial loss, beside the content loss


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
    # The layers the network names in residual_layers() start at zero, so a network that adds
    # them to an interpolation of its input starts as that interpolation, instead of it plus
    # the noise random layers add (VDSR).
    zero_output: bool = False
    adversarial: Optional[AdversarialRecipe] = None
    notes: str = ""

    @property
    def takes_fp16(self) -> bool:
        """Whether its step can run under fp16 autocast: the adversarial step has no gradient scaler."""
        return self.adversarial is None

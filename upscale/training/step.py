"""One optimiser step: the supervised update, gradient clipping, the optimiser and the step timer."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from ..imaging.layout import channels_last, channels_last_module
from ..models import ModelSpec
from .adversarial import Adversary
from .losses import supervised_loss, training_module
from .precision import StepMode
from .recipes import Clip, Recipe


def clip_gradients(recipe: Recipe, net: nn.Module, lr: float) -> None:
    if recipe.clip is Clip.NORM:
        torch.nn.utils.clip_grad_norm_(net.parameters(), recipe.clip_value)
    elif recipe.clip is Clip.ADJUSTABLE:  # VDSR: the bound grows as the learning rate falls
        torch.nn.utils.clip_grad_value_(net.parameters(), recipe.clip_value / lr)


def supervised_update(
    recipe: Recipe,
    module: nn.Module,
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    autocast: Optional[torch.dtype],
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    step: int,
) -> float:
    """One optimiser step on the recipe's loss; the training loop and ``bench --train`` share it."""
    with torch.autocast(x.device.type, dtype=autocast, enabled=autocast is not None):
        loss = supervised_loss(recipe, module(x), y, step)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    clip_gradients(recipe, net, lr)
    scaler.step(optimizer)
    scaler.update()
    return float(loss.detach())


def make_optimizer(recipe: Recipe, net: nn.Module) -> torch.optim.Optimizer:
    """Adam, with the recipe's weight decay decoupled from the gradient (AdamW).

    The papers' decay (VDSR, DRCN: 1e-4) was tuned for SGD. Added to Adam's gradient it
    is normalised with it: where the image loss's gradients are small, it pulls every
    weight towards zero by up to the learning rate a step. VDSR's hidden weights fell to
    half their He scale in 2,000 steps that way, and its output stayed at bicubic.
    """
    return torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)


def time_steps(
    spec: ModelSpec, recipe: Recipe, net: nn.Module, mode: StepMode, x: torch.Tensor, y: torch.Tensor,
    device: torch.device, steps: int, vgg_weights: Optional[Path] = None,
) -> list[float]:
    """Seconds of each of ``steps`` optimiser steps in ``mode`` after a warm-up.

    An adversarial recipe's step is the whole of it, discriminator update included, as
    ``upscale train`` runs it (with the VGG19 file ``vgg_weights``, or the one found where
    ``upscale train`` looks). Runs on copies with their own optimisers, so the caller's
    network, its optimiser and the random state are untouched.
    """
    net = copy.deepcopy(net).to(device)
    if mode.channels_last:
        channels_last_module(net)
    module = training_module(recipe, net)
    optimizer = make_optimizer(recipe, net)
    scaler = torch.amp.GradScaler(enabled=mode.autocast is torch.float16)
    adversary = None
    if recipe.adversarial is not None:
        wrap = channels_last_module if mode.channels_last else (lambda m: m)
        with torch.random.fork_rng(devices=[]):  # the discriminator's init draws from the CPU generator
            adversary = Adversary(spec, recipe, device, mode.autocast, wrap, vgg_weights)
    x, y = x.to(device), y.to(device)
    x = channels_last(x) if mode.channels_last else x
    times = []
    for i in range(steps + 1):  # the first is a warm-up: allocator, oneDNN/cuDNN kernel choice
        start = time.perf_counter()
        if adversary is not None:
            adversary.step(module, optimizer, x, y, recipe.lr)
        else:
            supervised_update(recipe, module, net, optimizer, scaler, mode.autocast, x, y, recipe.lr, 0)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i:
            times.append(time.perf_counter() - start)
    return times

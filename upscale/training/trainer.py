"""The training loop, top to bottom: setup -> loop {lr, step, log, validate, checkpoint} -> export.

One function per stage. The library reports through two callbacks: ``progress`` for a
bar and ``log`` for one record per interval (the CLI decides how to show them); every
record also goes to ``OUT/log.jsonl``, so a run's history sits beside its checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..datasets import resolve_set
from ..engine import LoadedModel, pick_autocast, pick_device
from ..errors import UpscaleError, UsageError
from ..evaluate import evaluate
from ..layout import channels_last, channels_last_module
from ..methods import network_planes
from ..models import create_model, get_spec
from ..progress import Progress, ProgressFn, no_progress
from ..weights import describe, load_into, read_weights, save_weights, weights_filename
from . import distributed
from .adversarial import Adversary
from .checkpoint import load_checkpoint, restore_rng, rng_state, save_checkpoint
from .data import PatchDataset, PatchSpec, load_hr_images, make_loader
from .losses import supervised_loss, training_module
from .recipes import Recipe, hr_patch_size, recipe_for

LogFn = Callable[[dict], None]


@dataclass(frozen=True)
class TrainConfig:
    """What the user asked for; ``None`` fields take the model's recipe value."""

    model: str
    scale: int
    data: tuple[Path, ...]
    out: Path
    val: Optional[str] = "Set5"
    steps: Optional[int] = None
    batch: Optional[int] = None
    patch: Optional[int] = None
    lr: Optional[float] = None
    augment: Optional[bool] = None
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    workers: Optional[int] = None
    log_every: int = 100
    val_every: int = 5000
    checkpoint_every: int = 5000
    checkpoint_minutes: float = 5.0
    resume: bool = False
    compile: bool = False
    export: Optional[Path] = None
    init: Optional[Path] = None  # start from these weights (the SRResNet ones for --gan)
    gan: bool = False  # SRGAN's adversarial phase
    vgg_weights: Optional[Path] = None


@dataclass(frozen=True)
class TrainResult:
    steps: int
    best_psnr: Optional[float]
    checkpoint: Path
    exported: Optional[Path]


def resolve_recipe(cfg: TrainConfig) -> Recipe:
    """The recipe with the command line's overrides applied."""
    recipe = recipe_for(cfg.model)
    if cfg.gan:
        adv = recipe.adversarial
        if adv is None:
            raise UsageError(f"--gan: {cfg.model} has no adversarial phase (only srgan does)")
        recipe = dataclasses.replace(recipe, lr=adv.lr, steps=adv.steps, batch=adv.batch, schedule="step")
    overrides = {"steps": cfg.steps, "batch": cfg.batch, "patch": cfg.patch, "lr": cfg.lr, "augment": cfg.augment}
    recipe = dataclasses.replace(recipe, **{k: v for k, v in overrides.items() if v is not None})
    if cfg.augment is False:  # no augmentation at all: no flips, rotations or rescaling
        recipe = dataclasses.replace(recipe, scale_aug=())
    for name in ("steps", "batch", "patch"):
        if getattr(recipe, name) < 1:
            raise UsageError(f"--{name} must be at least 1")
    if cfg.gan:  # the paper's second half runs at a tenth of the learning rate
        recipe = dataclasses.replace(recipe, step_every=max(1, recipe.steps // 2), step_gamma=0.1)
    return recipe


def lr_factor(recipe: Recipe, step: int) -> float:
    """Multiplier of the base learning rate at ``step``: warm-up, then cosine or step decay."""
    if step < recipe.warmup:
        return (step + 1) / recipe.warmup
    if recipe.schedule == "step":
        return recipe.step_gamma ** (step // recipe.step_every) if recipe.step_every else 1.0
    progress = (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def clip_gradients(recipe: Recipe, net: nn.Module, lr: float) -> None:
    if recipe.clip == "norm":
        torch.nn.utils.clip_grad_norm_(net.parameters(), recipe.clip_value)
    elif recipe.clip == "adjustable":  # VDSR: the bound grows as the learning rate falls
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
        loss = supervised_loss(recipe, module(x), y, step, recipe.steps)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    clip_gradients(recipe, net, lr)
    scaler.step(optimizer)
    scaler.update()
    return float(loss.detach())


class Run:
    """The state of one training run: built once, then stepped."""

    def __init__(self, cfg: TrainConfig, log: LogFn) -> None:
        self.cfg, self.log = cfg, log
        self.spec = get_spec(cfg.model)
        self.spec.check_scale(cfg.scale)
        self.net_scale = self.spec.network_scale(cfg.scale)
        self.recipe = resolve_recipe(cfg)
        self.device = pick_device(cfg.device)
        self.dist = distributed.setup(self.device.type)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.backends.cudnn.benchmark = True
        self.autocast = pick_autocast(cfg.precision, self.device)
        self.scales = self.recipe.multi_scale or (self.net_scale,)
        torch.manual_seed(cfg.seed)
        self.net = create_model(self.spec.name, cfg.scale).to(self.device)
        self.module = self._wrap(training_module(self.recipe, self.net))
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.recipe.lr, weight_decay=self.recipe.weight_decay)
        self.scaler = torch.amp.GradScaler(enabled=self.autocast is torch.float16)
        self.step, self.best_psnr, self.best_step = 0, None, None
        self.last_psnr: Optional[float] = None
        self.init_meta = self._load_init(cfg.init) if cfg.init else None
        self.adversary = self._adversary() if cfg.gan else None
        self.images = load_hr_images(cfg.data, warn=lambda m: log({"warning": m}) if self.dist.main else None)

    def _load_init(self, path: Path) -> dict:
        state, meta = read_weights(path)
        if meta.get("arch") != self.spec.name:
            raise UsageError(f"--init {path}: weights of {meta.get('arch')!r}, not {self.spec.name!r}")
        load_into(self.net, {k: v.to(self.device) for k, v in state.items()}, path)
        return {"file": path.name, "steps": meta.get("steps"), "variant": meta.get("variant")}

    def _adversary(self) -> Adversary:
        if self.init_meta is None:
            raise UsageError("--gan starts from the MSE-trained generator: pass --init WEIGHTS")
        if self.autocast is torch.float16:
            raise UsageError("--gan runs in bf16 or fp32, not fp16")
        adv = self.recipe.adversarial
        return Adversary(self.spec, adv, self.device, self._wrap, self.cfg.vgg_weights)

    def _wrap(self, module: nn.Module) -> nn.Module:
        if self.device.type == "cuda":
            module = channels_last_module(module)
        if self.cfg.compile:
            module = torch.compile(module)
        if self.dist.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            module = DistributedDataParallel(module, device_ids=ids)
        return module

    @property
    def checkpoint_path(self) -> Path:
        return self.cfg.out / "last.pt"

    def loader(self) -> Any:
        hr = hr_patch_size(self.spec.name, self.scales, self.recipe.patch)
        spec = PatchSpec(
            scales=self.scales,
            hr_patch=hr,
            color=self.spec.color_space.value,
            pre_upsample=self.spec.input_kind.value == "pre_upsampled",
            augment=self.recipe.augment,
            scale_aug=self.recipe.scale_aug,
        )
        length = self.recipe.steps * self.dist.world * self.recipe.batch
        dataset = PatchDataset(self.images, spec, self.cfg.seed, length)
        workers = self.cfg.workers if self.cfg.workers is not None else (4 if self.device.type == "cuda" else 0)
        return make_loader(
            dataset, self.recipe.batch, self.step, self.recipe.steps, self.dist.rank, self.dist.world,
            workers=workers, pin_memory=self.device.type == "cuda",
        )

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        lr = self.recipe.lr * lr_factor(self.recipe, self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x = x.to(self.device, non_blocking=True)
        if self.device.type == "cuda":
            x = channels_last(x)
        y = y.to(self.device, non_blocking=True)
        if self.adversary is not None:
            values = self.adversary.step(self.module, self.optimizer, x, y, self.autocast, lr)
        else:
            values = {"loss": self.supervised_step(x, y, lr)}
        self.step += 1
        if not math.isfinite(values["loss"]):
            raise UpscaleError(f"loss became {values['loss']} at step {self.step}; lower --lr or check the data")
        return values

    def supervised_step(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> float:
        return supervised_update(
            self.recipe, self.module, self.net, self.optimizer, self.scaler, self.autocast, x, y, lr, self.step
        )

    def validate(self, bench: Any) -> float:
        model = LoadedModel(self.spec, self.cfg.scale, self.net)
        planes = network_planes(model, tile=0, device=str(self.device), precision="fp32")
        psnr = evaluate(self.spec.name, planes, bench, self.cfg.scale).psnr
        self.net.train()
        self.last_psnr = psnr
        if self.adversary is None and (self.best_psnr is None or psnr > self.best_psnr):
            self.best_psnr, self.best_step = psnr, self.step
            save_weights(self.cfg.out / "best.safetensors", self.net, self.metadata())
        return psnr

    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "best_psnr": self.best_psnr,
            "best_step": self.best_step,
            "rng": rng_state(),
            "config": {"model": self.spec.name, "scale": self.cfg.scale, "seed": self.cfg.seed},
            "recipe": dataclasses.asdict(self.recipe),
            "adversary": self.adversary.state() if self.adversary else None,
        }

    def load(self, state: dict[str, Any]) -> None:
        want = {"model": self.spec.name, "scale": self.cfg.scale, "seed": self.cfg.seed}
        if state["config"] != want:
            raise UsageError(f"{self.checkpoint_path} is a run of {state['config']}, not {want}")
        if state["recipe"] != dataclasses.asdict(self.recipe):
            raise UsageError(f"{self.checkpoint_path} was trained with another recipe; resume with the same flags")
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.best_psnr, self.best_step = state["step"], state["best_psnr"], state["best_step"]
        restore_rng(state["rng"])
        if self.adversary is not None:
            self.adversary.load(state["adversary"])

    def metadata(self) -> dict:
        data = [{"folder": p.name, "images": sum(1 for im in self.images if im.path.parent == p)} for p in self.cfg.data]
        return describe(
            self.spec,
            self.net_scale,
            self.spec.config_cls(),
            training_data=data,
            excluded=["BSD200/302003 (Set5 woman is a crop of it)"],
            steps=self.step,
            val={"set": self.cfg.val, "psnr": self.best_psnr, "step": self.best_step} if self.cfg.val else None,
            recipe=dataclasses.asdict(self.recipe),
            precision=str(self.autocast or torch.float32),
            seed=self.cfg.seed,
            init=self.init_meta,
            variant=self.adversary.variant if self.adversary else "mse",
            vgg_weights=self.adversary.vgg_source if self.adversary else None,
        )


def _start(run: Run) -> None:
    """Resume from ``last.pt`` when asked; refuse to overwrite a run that was not asked to resume."""
    path = run.checkpoint_path
    if run.cfg.resume:
        if not path.is_file():
            raise UsageError(f"--resume: no checkpoint at {path}")
        run.load(load_checkpoint(path))
    elif path.exists():
        raise UsageError(f"{path} exists; pass --resume to continue that run or choose another --out")


def _append_log(path: Path, record: dict) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def train(cfg: TrainConfig, progress: ProgressFn = no_progress, log: LogFn = lambda r: None) -> TrainResult:
    """Train ``cfg.model`` at ``cfg.scale`` to ``cfg.out``; resumable, rank 0 writes everything."""
    run = Run(cfg, log)
    main = run.dist.main
    cfg.out.mkdir(parents=True, exist_ok=True)
    _start(run)

    def record(entry: dict) -> None:
        if main:
            log(entry)
            _append_log(cfg.out / "log.jsonl", entry)
    bench = resolve_set(cfg.val) if cfg.val and main else None
    steps, batch = run.recipe.steps, run.recipe.batch
    record({"event": "start", "model": run.spec.name, "scale": cfg.scale, "step": run.step, "steps": steps,
            "batch": batch, "world": run.dist.world, "device": str(run.device), "images": len(run.images)})
    last_save, window, window_start, window_steps = time.monotonic(), {}, time.monotonic(), 0
    try:
        run.net.train()
        for x, y, _ in run.loader():
            values = run.train_step(x, y)
            window = {k: window.get(k, 0.0) + v for k, v in values.items()}
            window_steps += 1
            psnr = f" | {cfg.val} {run.last_psnr:.2f} dB" if run.last_psnr is not None else ""
            progress(Progress("train", run.step, steps, f"loss {values['loss']:.5f}{psnr}"))
            if run.step % cfg.log_every == 0 or run.step == steps:
                elapsed = time.monotonic() - window_start
                means = {k: v / window_steps for k, v in window.items()}
                record({"step": run.step, **means, "lr": run.optimizer.param_groups[0]["lr"],
                        "samples_per_s": window_steps * batch * run.dist.world / max(elapsed, 1e-9)})
                window, window_start, window_steps = {}, time.monotonic(), 0
            if bench is not None and (run.step % cfg.val_every == 0 or run.step == steps):
                record({"step": run.step, "val_set": bench.name, "val_psnr": run.validate(bench)})
            due = run.step % cfg.checkpoint_every == 0 or time.monotonic() - last_save > 60 * cfg.checkpoint_minutes
            if main and due:  # the other ranks need not wait: the next all-reduce keeps them in step
                save_checkpoint(run.checkpoint_path, run.state())
                last_save = time.monotonic()
    except KeyboardInterrupt:
        if main:
            save_checkpoint(run.checkpoint_path, run.state())
        raise
    finally:
        distributed.teardown(run.dist)
    if main:
        save_checkpoint(run.checkpoint_path, run.state())
    exported = export_weights(run, cfg.export) if cfg.export and main else None
    record({"event": "end", "step": run.step, "best_psnr": run.best_psnr, "exported": str(exported) if exported else None})
    return TrainResult(run.step, run.best_psnr, run.checkpoint_path, exported)


def export_weights(run: Run, folder: Path) -> Path:
    """The inference weights (the best validated ones if validation ran) with their metadata."""
    # A generator that has a discriminator but was trained without it is the MSE variant.
    variant = "mse" if run.spec.discriminator is not None and run.adversary is None else None
    target = folder / weights_filename(run.spec, run.cfg.scale, variant)
    best = run.cfg.out / "best.safetensors"
    if best.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(best.read_bytes())
        tmp.replace(target)
    else:
        save_weights(target, run.net, run.metadata())
    return target

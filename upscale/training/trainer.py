"""The training loop, top to bottom: setup -> loop {lr, step, log, validate, checkpoint} -> export.

One function per stage. The library reports through two callbacks: ``progress`` for a
bar and ``log`` for one record per interval (the CLI decides how to show them); every
record also goes to ``OUT/log.jsonl``, so a run's history sits beside its checkpoints.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from statistics import fmean
from typing import Any, Callable, Optional

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import UpscaleError, UsageError
from ..evaluation.datasets import resolve_set
from ..evaluation.evaluate import evaluate
from ..evaluation.restorers import network_planes
from ..files import write_bytes_atomic
from ..hub.weights import describe, save_weights, weights_filename
from ..imaging.layout import channels_last, channels_last_module
from ..inference.loading import from_module
from ..inference.options import InferenceOptions, InferencePrecision, pick_device
from ..machine import settle_vector_math
from ..models import create_model, get_spec
from ..progress import Progress, ProgressFn, no_progress
from . import distributed
from .adversarial import Adversary
from .average import WeightAverage, check_decay
from .cache import default_training_cache
from .checkpoint import load_checkpoint, restore_rng, rng_state, save_checkpoint
from .config import TrainConfig, TrainResult, patch_spec_for, resolve_recipe
from .data import EXCLUDED, PatchDataset, PatchSpec, find_training_files, make_loader
from .init import init_from_file, start_as_interpolation
from .losses import training_module
from .precision import Precision, StepMode, choose_mode
from .recipes import SCHEDULE_FIELDS, first_lr_difference, lr_factor, recipe_from_dict, recipe_to_dict
from .step import make_optimizer, supervised_update, time_steps

LogFn = Callable[[dict], None]


class Run:
    """The state of one training run: built once, then stepped."""

    def __init__(self, cfg: TrainConfig, log: LogFn, progress: ProgressFn = no_progress) -> None:
        self.cfg, self.log = cfg, log
        self.spec = get_spec(cfg.model)
        self.spec.check_scale(cfg.scale)
        self.net_scale = self.spec.network_scale(cfg.scale)
        self.recipe = resolve_recipe(cfg)
        self.device = pick_device(cfg.device)
        self.dist = distributed.setup(self.device.type)
        # Before the training cache is built (minutes): a missing validation set fails now.
        self.val_set = resolve_set(cfg.val) if cfg.val and self.dist.main else None
        if self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.backends.cudnn.benchmark = True
        self.scales = self.recipe.multi_scale or (self.net_scale,)
        torch.manual_seed(cfg.seed)
        self.net = create_model(self.spec.name, cfg.scale).to(self.device)
        if self.recipe.zero_output:  # before --init and --resume, whose tensors replace it
            start_as_interpolation(self.net)
        self.step, self.best_psnr, self.best_step = 0, None, None
        self.last_psnr: Optional[float] = None
        self.last_val_step: Optional[int] = None
        if self.recipe.adversarial is not None and cfg.init is None and not cfg.resume:
            start = self.spec.starts_from or self.spec.name
            raise UsageError(f"{self.spec.name} trains from {start}'s weights: pass --init WEIGHTS")
        self.init_meta = self._load_init(cfg.init) if cfg.init else None
        warn = (lambda m: log({"warning": m})) if self.dist.main else (lambda m: None)
        self.files = find_training_files(cfg.data, warn=warn)
        self.dataset = PatchDataset(
            self.files, self.patch_spec(), cfg.seed, cache=cfg.cache or default_training_cache(),
            progress=progress if self.dist.main else no_progress, warn=warn,
        )
        # Set up by prepare(), once the checkpoint (if any) has said how the run was trained.
        self.mode: StepMode
        self.module: nn.Module
        self.optimizer: torch.optim.Optimizer
        self.scaler: torch.amp.GradScaler
        self.adversary: Optional[Adversary] = None
        self.average: Optional[WeightAverage] = None

    def patch_spec(self) -> PatchSpec:
        return patch_spec_for(self.spec, self.recipe, self.scales)

    def prepare(self, state: Optional[dict[str, Any]]) -> None:
        """Pick the step mode (the checkpoint's, unless asked otherwise), lay out, wrap, load."""
        saved = state.get("mode") if state else None
        if saved and self.cfg.precision is Precision.AUTO:
            self.mode, timings = StepMode(Precision(saved["precision"]), bool(saved["channels_last"])), {}
        else:
            self.mode, timings = choose_mode(self.cfg.precision, self.device, self.time_step,
                                             fp16=self.recipe.takes_fp16)
            self.mode = distributed.agree(self.dist, self.mode)  # every rank steps the same way
        if timings:
            self.log({"precision": str(self.mode), **{f"s_per_step_{k.replace(' ', '_')}": v for k, v in timings.items()}})
        if self.mode.channels_last:
            channels_last_module(self.net)
        self.module = self._wrap(training_module(self.recipe, self.net))
        self.optimizer = make_optimizer(self.recipe, self.net)
        self.scaler = torch.amp.GradScaler(enabled=self.mode.autocast is torch.float16)
        self.adversary = self._adversary() if self.recipe.adversarial is not None else None
        if state is not None:
            self.load(state)
        self.average = self._average(state)

    def _average(self, state: Optional[dict[str, Any]]) -> Optional[WeightAverage]:
        """The run's weight average: the checkpoint's, or a new one from the weights as they are."""
        saved = state.get("ema") if state else None
        if self.cfg.ema is None:
            if saved is not None:  # its best and exported weights are averages: so must the rest be
                raise UsageError(f"{self.checkpoint_path} keeps a weight average; resume with --ema "
                                 f"(it used {saved['decay']})")
            return None
        average = WeightAverage(self.net, self.cfg.ema, since=self.step)
        if saved is not None:
            average.load(saved)
        elif state is not None:
            self.log({"ema": self.cfg.ema, "since_step": self.step})
        return average

    @property
    def weights(self) -> nn.Module:
        """The network that validation judges and export writes: the average, if the run keeps one."""
        return self.average.net if self.average is not None else self.net

    def time_step(self, mode: StepMode) -> float:
        """Seconds per optimiser step of this run in ``mode`` (on copies: the run is untouched)."""
        x, y, _ = self.dataset.batch(range(self.recipe.batch))
        return min(time_steps(self.spec, self.recipe, self.net, mode, x, y, self.device, steps=2,
                              vgg_weights=self.cfg.vgg_weights))

    def _load_init(self, path: Path) -> dict:
        report = init_from_file(self.net, self.spec, self.net_scale, path)
        self.log({"init": str(path), "loaded": len(report.loaded), "fresh": list(report.fresh),
                  "unused": list(report.unused)})
        return {"file": path.name, "steps": report.meta.get("steps"), "variant": report.meta.get("variant"),
                "scale": report.scale, "fresh": list(report.fresh)}

    def _adversary(self) -> Adversary:
        return Adversary(self.spec, self.recipe, self.device, self.mode.autocast, self._wrap, self.cfg.vgg_weights)

    def _wrap(self, module: nn.Module) -> nn.Module:
        if self.mode.channels_last:
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
        workers = self.cfg.workers if self.cfg.workers is not None else 0
        return make_loader(
            self.dataset, self.recipe.batch, self.step, self.recipe.steps, self.dist.rank, self.dist.world,
            workers=workers, pin_memory=self.device.type == "cuda",
        )

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        lr = self.recipe.lr * lr_factor(self.recipe, self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x = x.to(self.device, non_blocking=True)
        if self.mode.channels_last:
            x = channels_last(x)
        y = y.to(self.device, non_blocking=True)
        autocast = self.mode.autocast
        if self.adversary is not None:
            values = self.adversary.step(self.module, self.optimizer, x, y, lr)
        else:
            values = {"loss": supervised_update(
                self.recipe, self.module, self.net, self.optimizer, self.scaler, autocast, x, y, lr, self.step
            )}
        if self.average is not None:
            self.average.update(self.net, self.step)
        self.step += 1
        if not math.isfinite(values["loss"]):
            raise UpscaleError(f"loss became {values['loss']} at step {self.step}; lower --lr or check the data")
        return values

    @property
    def val_scales(self) -> tuple[int, ...]:
        """The scales a validation measures: every one a multi-scale model trains (one
        file serves them all, so a checkpoint good at x2 alone is not the one to keep)."""
        return self.recipe.multi_scale or (self.cfg.scale,)

    def validate(self, bench: Any) -> dict[str, float]:
        """Set5 PSNR of the weights (the average's, with ``--ema``); keeps ``best.safetensors``.

        A multi-scale model is measured at each of its scales (``val_psnr_x2``, ...) and
        chosen by their mean (``val_psnr``). With an average, the live weights are measured
        too (``val_psnr_live``), so the log shows what the average gains.
        """
        scores = self._scores(self.weights, bench)
        psnr = fmean(scores.values())
        self.last_psnr, self.last_val_step = psnr, self.step
        if self.adversary is None and (self.best_psnr is None or psnr > self.best_psnr):
            self.best_psnr, self.best_step = psnr, self.step
            save_weights(self.cfg.out / "best.safetensors", self.weights, self.metadata())
        per_scale = {f"val_psnr_x{s}": v for s, v in scores.items()} if len(scores) > 1 else {}
        live = {"val_psnr_live": fmean(self._scores(self.net, bench).values())} if self.average is not None else {}
        return {"val_psnr": psnr, **per_scale, **live}

    def _scores(self, net: nn.Module, bench: Any) -> dict[int, float]:
        """PSNR under the eval protocol at each validation scale. ``from_module`` hands the
        engine a copy, so the network being trained keeps its device, memory format and mode."""
        exact = InferenceOptions(tile=0, device=str(self.device), precision=InferencePrecision.FP32)
        scores = {}
        for scale in self.val_scales:
            model = from_module(self.spec.name, scale, net)
            scores[scale] = evaluate(self.spec.name, network_planes(model, exact), bench, scale).psnr
        return scores

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
            "recipe": recipe_to_dict(self.recipe),
            "mode": {"precision": self.mode.precision.value, "channels_last": self.mode.channels_last},
            "adversary": self.adversary.state() if self.adversary else None,
            "ema": self.average.state() if self.average else None,
            "init": self.init_meta,  # what the run started from, for the exported metadata after a resume
        }

    def check_resumable(self, state: dict[str, Any]) -> None:
        """A checkpoint continues under this recipe if only its schedule's future changes."""
        want = {"model": self.spec.name, "scale": self.cfg.scale, "seed": self.cfg.seed}
        if state["config"] != want:
            raise UsageError(f"{self.checkpoint_path} is a run of {state['config']}, not {want}")
        before = recipe_from_dict(state["recipe"])
        saved, now = recipe_to_dict(before), recipe_to_dict(self.recipe)  # both in plain form
        # Fields the checkpoint predates took their defaults in `before`: only compare what it recorded.
        changed = sorted(k for k in state["recipe"] if k in now and k not in SCHEDULE_FIELDS and saved[k] != now[k])
        if changed:
            flags = ", ".join(f"{k} {saved[k]!r} -> {now[k]!r}" for k in changed)
            raise UsageError(f"{self.checkpoint_path} was trained with another recipe ({flags}); resume with the same flags")
        step = state["step"]
        if self.recipe.steps < step:
            raise UsageError(f"--steps {self.recipe.steps} is below the checkpoint's step {step}")
        differs = first_lr_difference(before, self.recipe, step)
        if differs is not None:
            raise UsageError(
                f"this schedule changes the learning rate of step {differs}, which the run has already taken "
                f"(it is at step {step}); a decay phase must start at or after step {step}"
            )

    def load(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.best_psnr, self.best_step = state["step"], state["best_psnr"], state["best_step"]
        self.init_meta = state.get("init", self.init_meta)  # checkpoints before 2026-12-07 did not keep it
        restore_rng(state["rng"])
        if self.adversary is not None:
            self.adversary.load(state["adversary"])

    def metadata(self) -> dict:
        data = [{"folder": p.name, "images": sum(1 for f in self.files if f.path.parent == p)} for p in self.cfg.data]
        return describe(
            self.spec,
            self.net_scale,
            self.spec.config_cls(),
            training_data=data,
            excluded=list(EXCLUDED.values()),
            steps=self.step,
            val={"set": self.cfg.val, "psnr": self.best_psnr, "step": self.best_step,
                 "scales": list(self.val_scales)} if self.cfg.val else None,
            recipe=recipe_to_dict(self.recipe),
            precision=str(self.mode),
            seed=self.cfg.seed,
            init=self.init_meta,
            variant=self.adversary.variant if self.adversary else "mse",
            vgg_weights=self.adversary.vgg_source if self.adversary else None,
            ema=self.average.describe() if self.average else None,
        )


def _checkpoint_to_resume(cfg: TrainConfig) -> Optional[Path]:
    """The checkpoint ``--resume`` continues; refuse to overwrite a run that was not asked to resume.

    Checked before any heavy set-up, so a wrong flag fails in a second.
    """
    path = cfg.out / "last.pt"
    if cfg.resume:
        if not path.is_file():
            raise UsageError(f"--resume: no checkpoint at {path}")
        return path
    if path.exists():
        raise UsageError(f"{path} exists; pass --resume to continue that run or choose another --out")
    return None


def _append_log(path: Path, record: dict) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _threads(run: Run) -> int:
    """One compute thread per core this process may use, shared among the ranks on this machine."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", run.dist.world))
    return max(1, cores // max(1, local))


def train(cfg: TrainConfig, progress: ProgressFn = no_progress, log: LogFn = lambda r: None) -> TrainResult:
    """Train ``cfg.model`` at ``cfg.scale`` to ``cfg.out``; resumable, rank 0 writes everything."""
    # A run sets the thread count and cuDNN's autotuning for itself; the caller gets them back.
    threads_before, benchmark_before = torch.get_num_threads(), torch.backends.cudnn.benchmark
    try:
        return _train(cfg, progress, log)
    finally:
        torch.set_num_threads(threads_before)
        torch.backends.cudnn.benchmark = benchmark_before


def _train(cfg: TrainConfig, progress: ProgressFn, log: LogFn) -> TrainResult:
    started = time.monotonic()
    if cfg.ema is not None:
        check_decay(cfg.ema)  # before minutes of set-up
    deadline = started + cfg.time_limit if cfg.time_limit is not None else None
    resume_from = _checkpoint_to_resume(cfg)
    settle_vector_math()  # before the first parallel sqrt of a loss (machine.py says why)
    run = Run(cfg, log, progress)
    main = run.dist.main
    if run.device.type == "cpu":
        torch.set_num_threads(_threads(run))
    cfg.out.mkdir(parents=True, exist_ok=True)
    state = load_checkpoint(resume_from) if resume_from else None
    if state is not None:
        run.check_resumable(state)
    run.prepare(state)

    def record(entry: dict) -> None:
        if main:
            log(entry)
            _append_log(cfg.out / "log.jsonl", entry)

    bench = run.val_set
    steps, batch = run.recipe.steps, run.recipe.batch
    cache = run.dataset.report
    record({"event": "start", "model": run.spec.name, "scale": cfg.scale, "step": run.step, "steps": steps,
            "decay_steps": run.recipe.decay_steps, "batch": batch, "world": run.dist.world,
            "device": str(run.device), "mode": str(run.mode), "threads": torch.get_num_threads(),
            "images": len(run.files) - len(cache.skipped), "cache_hits": cache.hits,
            "cache_built": cache.built, "cache_rebuilt": cache.rebuilt,
            "init": run.init_meta, "time_limit_s": cfg.time_limit})  # what the run started from, kept in its own folder's history
    last_save, window, window_start, window_steps = time.monotonic(), {}, time.monotonic(), 0
    step_seconds, val_seconds, time_limited = 0.0, 0.0, False

    def validate() -> None:
        nonlocal val_seconds
        start = time.monotonic()
        record({"step": run.step, "val_set": bench.name, **run.validate(bench)})
        val_seconds = time.monotonic() - start

    try:
        run.net.train()
        previous = time.monotonic()
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
                validate()
            due = run.step % cfg.checkpoint_every == 0 or time.monotonic() - last_save > 60 * cfg.checkpoint_minutes
            if main and due:  # the other ranks need not wait: the next all-reduce keeps them in step
                save_checkpoint(run.checkpoint_path, run.state())
                last_save = time.monotonic()
            now = time.monotonic()
            step_seconds, previous = now - previous, now
            if deadline is not None and run.step < steps:
                # Stop while the next step, a validation due after it, and the final
                # validation and checkpoint still fit in the time that is left.
                need = 2 * step_seconds + 2 * val_seconds
                if distributed.agree(run.dist, now + need > deadline):
                    time_limited = True
                    break
    except KeyboardInterrupt:
        if main:
            save_checkpoint(run.checkpoint_path, run.state())
        raise
    finally:
        distributed.teardown(run.dist)
    if bench is not None and run.last_val_step != run.step:
        validate()  # best.safetensors then reflects every step taken
    if main:
        save_checkpoint(run.checkpoint_path, run.state())
    exported = export_weights(run, cfg.export) if cfg.export and main else None
    record({"event": "end", "step": run.step, "steps": steps, "time_limited": time_limited,
            "minutes": (time.monotonic() - started) / 60, "best_psnr": run.best_psnr,
            "exported": str(exported) if exported else None})
    return TrainResult(run.step, steps, run.best_psnr, run.checkpoint_path, exported, str(run.mode), time_limited,
                       run.val_scales)


def export_weights(run: Run, folder: Path) -> Path:
    """The inference weights (the best validated ones if validation ran) with their metadata."""
    target = folder / weights_filename(run.spec, run.cfg.scale)
    best = run.cfg.out / "best.safetensors"
    if best.is_file():
        write_bytes_atomic(target, best.read_bytes())
    else:
        save_weights(target, run.weights, run.metadata())
    return target

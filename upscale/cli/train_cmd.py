"""``upscale train``: a model trained with its paper's recipe, resumable, on one GPU or many."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..training.config import TrainConfig
from ..training.precision import Precision
from ..training.trainer import train
from .app import Terminated, VersionFlag, command
from .console import err_console, out_console, progress_bar
from .options import DeviceOption, format_duration, parse_duration, parse_names, parse_scales


def _show(record: dict) -> None:
    """One plain line per log record on stderr (above the bar when there is one)."""
    if "warning" in record:
        # One line, however narrow the terminal or log; the message is text, not markup.
        err_console.print(f"[yellow]warning:[/] {escape(str(record['warning']))}", highlight=False, soft_wrap=True)
        return
    text = " ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
    err_console.print(text, highlight=False, markup=False, soft_wrap=True)


@command("train")
def train_command(  # keyword-only, so the required options may follow --version
    *,
    _version: VersionFlag = False,
    model: Annotated[str, typer.Option("--model", "-m", help="Model name (see `upscale models`).")],
    scale: Annotated[str, typer.Option("--scale", "-x", help="Scale to train (one model serves all for vdsr).")],
    data: Annotated[str, typer.Option("--data", help="Folders of HR training images, comma-separated.")],
    val: Annotated[str, typer.Option("--val", help="Validation set (checkpoint selection), or 'none'.")] = "Set5",
    out: Annotated[Optional[Path], typer.Option("--out", help="Run folder (default: runs/NAME_xS).")] = None,
    steps: Annotated[
        Optional[int], typer.Option("--steps", help="Training steps in all; raise it with --resume to extend.")
    ] = None,
    decay_steps: Annotated[
        Optional[int],
        typer.Option("--decay-steps", help="Steps of the final decay (default: a fifth of --steps; 0: none yet)."),
    ] = None,
    time_limit: Annotated[
        Optional[str],
        typer.Option("--time-limit", help="Stop before this much time has passed (e.g. 2h30m), resumable."),
    ] = None,
    batch: Annotated[Optional[int], typer.Option("--batch", help="Batch size per process.")] = None,
    patch: Annotated[
        Optional[int], typer.Option("--patch", help="Patch side (LR px; HR px for SRCNN/VDSR/DRCN).")
    ] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Base learning rate.")] = None,
    augment: Annotated[
        Optional[bool], typer.Option("--augment/--no-augment", help="Flips, rotations and the recipe's rescaling.")
    ] = None,
    device: DeviceOption = "auto",
    precision: Annotated[
        Precision, typer.Option("--precision", help="auto: the faster of fp32 and bf16 on this CPU, fp16 on CUDA.")
    ] = Precision.AUTO,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the weights' init and of the patch sampling.")] = 0,
    workers: Annotated[
        Optional[int], typer.Option("--workers", help="Batch-cutting processes (default: 0, in-process).")
    ] = None,
    log_every: Annotated[int, typer.Option("--log-every", min=1, help="Steps between log lines.")] = 100,
    val_every: Annotated[int, typer.Option("--val-every", min=1, help="Steps between validations.")] = 5000,
    checkpoint_every: Annotated[
        int, typer.Option("--checkpoint-every", min=1, help="Steps between checkpoints.")
    ] = 5000,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")
    ] = False,
    compile_: Annotated[bool, typer.Option("--compile", help="torch.compile the network.")] = False,
    export: Annotated[
        Optional[Path], typer.Option("--export", help="Write the inference weights into this folder.")
    ] = None,
    init: Annotated[
        Optional[Path], typer.Option("--init", help="Start from these weights (srgan: srresnet's, required).")
    ] = None,
    vgg_weights: Annotated[
        Optional[Path],
        typer.Option(
            "--vgg-weights", help="VGG19 ImageNet state dict for the VGG54 loss (default: torch hub cache, else MSE)."
        ),
    ] = None,
    ema: Annotated[
        Optional[float],
        typer.Option("--ema", help="Validate and export an average of the weights, with this decay per step (e.g. 0.995)."),
    ] = None,
) -> None:
    """Train a model with its paper's recipe.

    Each model's module (upscale/models/NAME.py) states its recipe and every deviation.
    """
    (factor,) = parse_scales(scale)[:1]
    cfg = TrainConfig(
        model=model, scale=factor, data=tuple(Path(d) for d in parse_names(data)),
        out=out or Path("runs") / f"{model.lower()}_x{factor}", val=None if val.lower() == "none" else val,
        steps=steps, decay_steps=decay_steps, time_limit=parse_duration(time_limit) if time_limit else None,
        batch=batch, patch=patch, lr=lr, augment=augment, device=device, precision=precision,
        seed=seed, workers=workers, log_every=log_every, val_every=val_every,
        checkpoint_every=checkpoint_every, resume=resume, compile=compile_, export=export,
        init=init, vgg_weights=vgg_weights, ema=ema,
    )
    if cfg.time_limit is not None:
        # Said up front: a bare number is seconds, and "--time-limit 135" meant as minutes
        # would otherwise show only when the run ends two minutes in.
        deadline = datetime.now().astimezone() + timedelta(seconds=cfg.time_limit)
        err_console.print(f"time limit {format_duration(cfg.time_limit)}: the run stops before "
                          f"{deadline:%H:%M %Z}, resumable", highlight=False, soft_wrap=True)
    try:
        with progress_bar() as report:
            result = train(cfg, report, _show)
    except KeyboardInterrupt as exc:
        ended = "terminated" if isinstance(exc, Terminated) else "interrupted"
        err_console.print(f"{ended}; checkpoint saved in {cfg.out}; continue with --resume", highlight=False)
        raise  # the application maps it to 130 or 143, as for every command
    mean = " (mean of " + ", ".join(f"x{s}" for s in result.val_scales) + ")" if len(result.val_scales) > 1 else ""
    best = f", best {cfg.val} PSNR{mean} {result.best_psnr:.2f} dB" if result.best_psnr is not None else ""
    if result.time_limited:
        out_console.print(
            f"time limit reached at step {result.steps} of {result.total_steps}{best} ({result.mode}); "
            f"checkpoint {result.checkpoint}; to continue, run the same command with --resume "
            "(a larger --steps extends the run, --decay-steps N ends it with a decay)",
            highlight=False, soft_wrap=True,
        )
    else:
        out_console.print(f"trained {result.steps} steps{best} ({result.mode}); checkpoint {result.checkpoint}")
    if result.exported:
        out_console.print(f"weights written to {result.exported}")

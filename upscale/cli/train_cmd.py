"""``upscale train``: a model trained with its paper's recipe, resumable, on one GPU or many."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..training.precision import Precision
from ..training.trainer import TrainConfig, train
from .app import Terminated, VersionFlag, command
from .console import err_console, out_console, progress_bar
from .options import parse_duration, parse_names, parse_scales


def _show(record: dict) -> None:
    """One plain line per log record on stderr (above the bar when there is one)."""
    if "warning" in record:
        # One line, however narrow the terminal or log; the message is text, not markup.
        err_console.print(f"[yellow]warning:[/] {escape(str(record['warning']))}", highlight=False, soft_wrap=True)
        return
    text = " ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
    err_console.print(text, highlight=False, markup=False, soft_wrap=True)


@command("train")
def train_command(
    _version: VersionFlag = False,
    model: str = typer.Option(..., "--model", "-m", help="Model name (see `upscale models`)."),
    scale: str = typer.Option(..., "--scale", "-x", help="Scale to train (one model serves all for vdsr)."),
    data: str = typer.Option(..., "--data", help="Folders of HR training images, comma-separated."),
    val: str = typer.Option("Set5", "--val", help="Validation set (checkpoint selection), or 'none'."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: runs/NAME_xS)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Training steps in all; raise it with --resume to extend."),
    decay_steps: Optional[int] = typer.Option(
        None, "--decay-steps", help="Steps of the final decay (default: a fifth of --steps; 0: none yet)."
    ),
    time_limit: Optional[str] = typer.Option(
        None, "--time-limit", help="Stop before this much time has passed (e.g. 2h30m), resumable."
    ),
    batch: Optional[int] = typer.Option(None, "--batch", help="Batch size per process."),
    patch: Optional[int] = typer.Option(None, "--patch", help="Patch side (LR px; HR px for SRCNN/VDSR/DRCN)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Base learning rate."),
    augment: Optional[bool] = typer.Option(None, "--augment/--no-augment", help="Flips, rotations and the recipe's rescaling."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    precision: Precision = typer.Option(
        Precision.AUTO, "--precision", help="auto: the faster of fp32 and bf16 on this CPU, fp16 on CUDA."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the weights' init and of the patch sampling."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Batch-cutting processes (default: 0, in-process)."),
    log_every: int = typer.Option(100, "--log-every", min=1, help="Steps between log lines."),
    val_every: int = typer.Option(5000, "--val-every", min=1, help="Steps between validations."),
    checkpoint_every: int = typer.Option(5000, "--checkpoint-every", min=1, help="Steps between checkpoints."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the network."),
    export: Optional[Path] = typer.Option(None, "--export", help="Write the inference weights into this folder."),
    init: Optional[Path] = typer.Option(None, "--init", help="Start from these weights (required by --gan)."),
    gan: bool = typer.Option(False, "--gan", help="SRGAN's adversarial phase, from --init SRResNet weights."),
    vgg_weights: Optional[Path] = typer.Option(
        None, "--vgg-weights", help="VGG19 ImageNet state dict for the VGG54 loss (default: torch hub cache, else MSE)."
    ),
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
        init=init, gan=gan, vgg_weights=vgg_weights,
    )
    try:
        with progress_bar() as report:
            result = train(cfg, report, _show)
    except KeyboardInterrupt as exc:
        ended = "terminated" if isinstance(exc, Terminated) else "interrupted"
        err_console.print(f"{ended}; checkpoint saved in {cfg.out}; continue with --resume", highlight=False)
        raise  # the application maps it to 130 or 143, as for every command
    best = f", best {cfg.val} PSNR {result.best_psnr:.2f} dB" if result.best_psnr is not None else ""
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

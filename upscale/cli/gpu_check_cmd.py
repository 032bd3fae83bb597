"""``upscale gpu-check`` (hidden): the README's three GPU tables in one call; ``.ci/gpu-check`` runs it."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Annotated, Optional

import torch
import typer

from ..errors import UpscaleError
from ..files import write_bytes_atomic
from ..inference.options import pick_device
from ..models import get_spec
from ..progress import Progress
from ..reports.gpu_check import BLOCKS, GPU_PLAN, QUICK_PLAN, GpuCheck, run_gpu_check
from ..reports.gpu_tables import readme_blocks
from ..reports.markdown import replace_block
from .app import VersionFlag, command
from .options import DeviceOption, parse_names

RESULTS = "gpu-check.json"


ReadmeOption = Annotated[Optional[Path], typer.Option("--readme", help="Write the tables into this file's blocks.")]
QuickOption = Annotated[bool, typer.Option("--quick", help="Tiny sizes, two models, any device: tests the path.")]
FromJsonOption = Annotated[
    Optional[Path], typer.Option("--from-json", help=f"Render the tables of a saved {RESULTS}; measure nothing.")
]


@command("gpu-check", hidden=True)
def gpu_check_command(
    _version: VersionFlag = False,
    readme: ReadmeOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", help=f"Folder for {RESULTS} and gpu-check.md.")] = None,
    device: DeviceOption = "auto",
    quick: QuickOption = False,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Only these models, comma-separated.")] = None,
    budget: Annotated[Optional[float], typer.Option("--budget", min=1, help="Seconds for the whole check.")] = None,
    from_json: FromJsonOption = None,
) -> None:
    """Measure inference, tiling and training on a CUDA GPU, for the README.

    Results are written after each part, so a run stopped early keeps what it measured.
    """
    if readme is not None:  # a README without the blocks fails now, not after the first part
        text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
        for name in BLOCKS:
            if f"<!-- upscale:{name} -->" not in text:
                raise UpscaleError(f"{readme} has no block <!-- upscale:{name} --> ... <!-- /upscale:{name} -->")
    if from_json is not None:
        _render_saved(from_json, readme)
        return
    if not quick and not torch.cuda.is_available():
        raise UpscaleError(f"the GPU check needs a CUDA device and PyTorch {torch.__version__} sees none "
                           "(--device cpu --quick runs its tiny form)")
    dev = pick_device(device)
    if not quick and dev.type != "cuda":
        raise UpscaleError(f"the GPU check runs on a CUDA device, not {dev} (--quick runs its tiny form anywhere)")
    plan = QUICK_PLAN if quick else GPU_PLAN
    if model:
        plan = plan.only(tuple(get_spec(n).name for n in parse_names(model)))
    if budget:
        plan = dataclasses.replace(plan, total_s=budget)
    flags = {"--quick": quick, f"--device {device}": device != "auto", f"--model {model}": bool(model),
             f"--budget {budget}": bool(budget)}  # what shapes the numbers, for the tables' footers
    line = " ".join(["upscale gpu-check", *(flag for flag, given in flags.items() if given)])
    start = time.monotonic()

    def report(step: Progress) -> None:  # one plain line a step: the device tool keeps the output, not a bar
        detail = f" {step.detail}" if step.detail else ""
        typer.echo(f"[{time.monotonic() - start:5.0f} s] {step.task} {step.done}/{step.total}{detail}", err=True)

    check = run_gpu_check(plan, dev, line, report, lambda partial: _save(partial, readme, out))
    typer.echo(_blocks_text(check))
    for note in check.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"gpu-check: {check.seconds:.0f} s on {check.info.device}", err=True)


def _render_saved(path: Path, readme: Optional[Path]) -> None:
    """The tables of a saved run: into ``readme``, else on stdout."""
    try:
        check = GpuCheck.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise UpscaleError(f"cannot read {path}: {exc}") from None
    if readme is None:
        typer.echo(_blocks_text(check))
    _save(check, readme, None)


def _blocks_text(check: GpuCheck) -> str:
    return "\n".join(f"<!-- upscale:{n} -->\n{b}\n<!-- /upscale:{n} -->\n" for n, b in readme_blocks(check).items())


def _save(check: GpuCheck, readme: Optional[Path], out: Optional[Path]) -> None:
    """The results as JSON and markdown under ``out``, and the tables into ``readme``'s blocks."""
    if out is not None:
        write_bytes_atomic(out / RESULTS, (json.dumps(check.to_dict(), indent=2) + "\n").encode("utf-8"))
        write_bytes_atomic(out / "gpu-check.md", _blocks_text(check).encode("utf-8"))
    if readme is not None:
        for name, body in readme_blocks(check).items():
            replace_block(readme, name, body)

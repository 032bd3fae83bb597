"""``upscale IMAGE... --model NAME -x N``: the main job, one file or a folder of thousands."""

from __future__ import annotations

import json
import re
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.markup import escape

from ..batch.inputs import expand_inputs
from ..batch.plan import DEFAULT_NAME, OutputOptions, check_scales, plan_jobs, take_shard
from ..batch.run import FileResult, upscale_files
from ..hub.choice import AUTO, choose_model
from ..imaging.image_io import DEFAULT_MAX_PIXELS
from ..inference.loading import load_model
from ..inference.options import AlphaMode, InferenceOptions, InferencePrecision, resolve_options
from ..inference.precision import settle_precision
from ..progress import no_progress
from .app import Terminated, VersionFlag, command
from .console import err_console, progress_bar
from .options import DeviceOption, parse_scales


class OutputFormat(str, Enum):
    """``--format``: the output extensions the batch writes (the keys of ``upscale.batch.plan.FORMATS``)."""

    PNG = "png"
    JPG = "jpg"
    JPEG = "jpeg"
    WEBP = "webp"
    BMP = "bmp"
    TIF = "tif"
    TIFF = "tiff"


def parse_shard(text: Optional[str]) -> Optional[tuple[int, int]]:
    """``"2/8"`` -> ``(2, 8)``: the second of eight shards; anything else is a usage error."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise typer.BadParameter(f"expected K/N with 1 <= K <= N (e.g. 2/8), got {text!r}", param_hint="--shard")
    return int(match[1]), int(match[2])


@dataclass
class BatchReport:
    """Renders results as they come: JSON lines on stdout, people's lines on stderr."""

    as_json: bool
    quiet: bool
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "skipped": 0, "failed": 0})
    start: float = field(default_factory=time.perf_counter)

    def note(self, text: str) -> None:
        if not self.quiet:
            err_console.print(f"[dim]note:[/] {escape(text)}", highlight=False, soft_wrap=True)

    def show(self, r: FileResult) -> None:
        self.counts[r.status] += 1
        if self.as_json:
            sys.stdout.write(json.dumps(r.to_dict()) + "\n")
            sys.stdout.flush()  # a consumer sees each file as it finishes
        # File names and errors are text, not markup: "photo [1].png" must print as it is.
        if r.status == "failed":
            err_console.print(f"[red]failed:[/] {escape(f'{r.input}: {r.error}')}", highlight=False, soft_wrap=True)
        elif not (self.quiet or self.as_json):
            done = f"-> {r.output} ({r.seconds:.2f} s)" if r.status == "ok" else r.error
            err_console.print(f"[green]{r.status}:[/] {escape(f'{r.input} {done}')}", highlight=False, soft_wrap=True)
        for text in r.notes:
            self.note(f"{r.input}: {text}")

    def summary(self, total: int, ending: str = "") -> None:
        if self.quiet:
            return
        left = total - sum(self.counts.values())
        tail = f"; {ending}, {left} not processed" if ending else ""
        took = time.perf_counter() - self.start
        ok, skipped, failed = (self.counts[s] for s in ("ok", "skipped", "failed"))
        line = f"{ok} ok, {skipped} skipped, {failed} failed in {took:.1f} s{tail}"
        err_console.print(line, highlight=False, soft_wrap=True)


@command("upscale")
def upscale_command(  # keyword-only, so the required INPUTS may follow --version
    *,
    _version: VersionFlag = False,
    inputs: Annotated[List[str], typer.Argument(help="Images, folders or globs.")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model name (see `upscale models`); auto: the best shipped for the scale.")
    ] = AUTO,
    scale: Annotated[str, typer.Option("--scale", "-x", help="Upscaling factor(s), comma-separated: each runs.")] = "4",
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Output folder (mirrors input folders), or file.")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Output name; fields {stem} {model} {scale} {ext}.")] = DEFAULT_NAME,
    fmt: Annotated[
        Optional[OutputFormat],
        typer.Option("--format", case_sensitive=False, help="Output format (default: the input's)."),
    ] = None,
    quality: Annotated[
        Optional[int], typer.Option("--quality", min=1, max=100, help="JPEG/WebP quality (default 95).")
    ] = None,
    alpha: Annotated[
        AlphaMode, typer.Option("--alpha", help="Alpha plane by the MATLAB bicubic or the model.")
    ] = AlphaMode.BICUBIC,
    max_pixels: Annotated[
        int, typer.Option("--max-pixels", min=0, help="Refuse larger inputs (0: none).")
    ] = DEFAULT_MAX_PIXELS,
    weights: Annotated[
        Optional[Path], typer.Option("--weights", "-w", help="Weights file (default: shipped weights).")
    ] = None,
    tile: Annotated[Optional[int], typer.Option("--tile", min=0, help="Tile size in LR pixels (0 = whole image).")] = None,
    tile_pad: Annotated[
        Optional[int], typer.Option("--tile-pad", min=0, help="Context around tiles (default: the radius, or what the shipped weights measured).")
    ] = None,
    device: DeviceOption = "auto",
    precision: Annotated[
        InferencePrecision,
        typer.Option("--precision", help="auto: fp16 on a GPU; on the CPU bf16 where it is measured to pay, else fp32."),
    ] = InferencePrecision.AUTO,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs (never inputs).")] = False,
    shard: Annotated[
        Optional[str], typer.Option("--shard", help="K/N: only every N-th input, from the K-th (1-based).")
    ] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first file that fails.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per input on stdout.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only failures on stderr: no progress, no summary.")
    ] = False,
) -> None:
    """Upscale images (the default command).

    For example `upscale photo.jpg -x 4`, or `upscale photos/ -r -o out/ --model fsrcnn -x 2,4`.
    """
    factors = parse_scales(scale)
    parts = parse_shard(shard)
    # Resolved once, before any model loads: a device that is not there fails first.
    asked = InferenceOptions(tile=tile, tile_pad=tile_pad, device=device, precision=precision, alpha=alpha)
    engine = resolve_options(asked)
    found = expand_inputs(inputs, recursive)
    options = OutputOptions(out, name, fmt.value if fmt is not None else None, quality, overwrite, max_pixels)
    check_scales(options, factors)
    report = BatchReport(as_json, quiet)
    runs = []  # (loaded model, jobs) per scale; every plan and model first, so a usage error comes before any work
    for factor in factors:
        chosen = choose_model(model, factor, weights)
        if chosen != model:
            report.note(f"x{factor}: running {chosen} (auto: the best shipped model at x{factor} by Set5 PSNR)")
        plan = plan_jobs(found, chosen, factor, options)
        loaded = load_model(chosen, factor, weights)
        settled, picked = settle_precision(engine, loaded)
        if precision is InferencePrecision.AUTO:  # say which precision auto took, and why
            why = picked.reason if engine.auto_cpu else "auto on a GPU"
            report.note(f"x{factor}: {chosen} runs in {picked.precision.value} ({why})")
        runs.append((loaded, settled, take_shard(plan.jobs, *parts) if parts else plan.jobs))
        if factor == factors[0]:
            for text in found.notes + plan.notes:
                report.note(text)
    total = sum(len(jobs) for _, _, jobs in runs)
    with (nullcontext(no_progress) if quiet else progress_bar()) as progress:
        try:
            for loaded, settled, jobs in runs:
                for result in upscale_files(jobs, loaded, options, settled, progress):
                    report.show(result)
                    if fail_fast and result.status == "failed":
                        report.summary(total, "stopped at the first failure (--fail-fast)")
                        raise typer.Exit(1)
        except KeyboardInterrupt as exc:
            report.summary(total, "terminated" if isinstance(exc, Terminated) else "interrupted")
            raise
    report.summary(total)
    if report.counts["failed"]:
        raise typer.Exit(1)

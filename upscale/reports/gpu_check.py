"""The GPU check: one call that measures what a GPU changes, for the README's three GPU tables.

(a) Inference: each network alone in fp32 (NCHW and channels-last), in fp16 and bf16
autocast (channels-last) and ``torch.compile``-d (fp16 channels-last), next to the
whole path as ``upscale`` runs it. (b) Tiled against untiled on a large picture.
(c) One training step per model and precision. The timing, the whole-path bench and
the training step are the benches' own (:mod:`.timing`, :mod:`.bench`,
:mod:`.train_bench`); what is new here is the plan, the time budget and the markdown.

The budget keeps one call within a few minutes: every part has a share of the total
and starts no new row once its share is spent. Compilation is the one cost that
cannot be cut short (a compile cannot be interrupted), so it runs last, the network
with the fewest module calls first, and a network is compiled only when its
estimated compile time fits what is left.

A row that fails (out of memory, a kernel the device lacks, a compiler error) is
reported in its cell, in the table's footer and in ``GpuCheck.notes``, and the check
goes on: on a machine lent for minutes, one row must not cost the other tables.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Callable, Optional

import torch
from torch import nn

from .._version import __version__
from ..errors import UpscaleError
from ..imaging.layout import channels_last, channels_last_module
from ..inference.loading import LoadedModel, from_module
from ..inference.memory import auto_tile, tile_batch
from ..inference.options import InferenceOptions
from ..inference.pipeline import pipeline_radius
from ..inference.tiling import batch_tiles, plan_tiles
from ..models import get_spec, list_models
from ..progress import Progress, ProgressFn, no_progress
from ..training.precision import Precision
from .bench import BenchResult, bench_model
from .timing import conv_peak_tflops, timed
from .train_bench import TrainStepResult, bench_train_step

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
BLOCKS = ("gpu-bench", "gpu-tiling", "gpu-train-bench")  # the README blocks, one per table


@dataclass(frozen=True)
class CheckPlan:
    """What one check measures, and the seconds each part may take (within ``total_s``)."""

    models: tuple[str, ...]  # the inference table
    training_models: tuple[str, ...]
    tiling_models: tuple[str, ...]
    scale: int = 4
    side: int = 512  # LR side of the inference table (x4: a 2048x2048 output)
    tiling_side: int = 2048  # LR side of the tiling table
    tiles: tuple[Optional[int], ...] = (0, None, 512, 256)  # 0: untiled; None: the engine's choice
    runs: int = 20  # timed runs of a network alone, fewer once run_budget_s is spent
    run_budget_s: float = 1.5
    pipeline_runs: int = 3  # timed runs of the whole path (the bench stops after 10 s)
    train_precisions: tuple[str, ...] = ("fp32", "fp16", "bf16")
    train_batch: Optional[int] = None  # None: the recipe's
    train_runs: int = 5
    peak_precisions: tuple[str, ...] = ("fp32", "fp16", "bf16")
    inference_s: float = 120.0
    tiling_s: float = 90.0
    training_s: float = 120.0
    compile_s: float = 180.0
    total_s: float = 400.0

    def only(self, models: tuple[str, ...]) -> "CheckPlan":
        """The same plan for ``models`` alone (tiling keeps its own models among them, else the first)."""
        tiling = tuple(m for m in self.tiling_models if m in models) or models[:1]
        return dataclasses.replace(self, models=models, training_models=models, tiling_models=tiling)


# One H200 or H100: about six minutes (see the README); DRCN is left out of tiling (2.6 PFLOP a picture).
GPU_PLAN = CheckPlan(models=tuple(list_models()), training_models=tuple(list_models()),
                     tiling_models=("fsrcnn", "srgan", "rdn"))
# The whole path in seconds on any device, the CPU included: a test of the code, not a measurement.
QUICK_PLAN = CheckPlan(
    models=("fsrcnn", "espcn"), training_models=("espcn",), tiling_models=("espcn",), side=16, tiling_side=40,
    tiles=(0, None, 16), runs=2, run_budget_s=0.2, pipeline_runs=1, train_precisions=("fp32",), train_batch=8,
    train_runs=1, peak_precisions=("fp32",), compile_s=0.0, total_s=120.0,
)


class Budget:
    """Seconds from now on a clock (tests drive a fake one); a part gets a share of what is left."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.clock, self.start = seconds, clock, clock()

    def spent(self) -> float:
        return self.clock() - self.start

    def left(self) -> float:
        return self.seconds - self.spent()

    def share(self, cap: float) -> "Budget":
        return Budget(min(cap, max(self.left(), 0.0)), self.clock)


COMPILE_SECONDS_PER_CALL = 0.5  # the guess until a compile in this run has been timed


def compile_estimate(calls: int, timed_compiles: list[tuple[int, float]]) -> float:
    """Seconds ``torch.compile`` should take for a network of ``calls`` module calls.

    Proportional to the calls, at the slowest rate of the compiles timed so far in this
    run: cautious, since a compile cannot be stopped once started (the compiler's one-off
    start-up is paid by a warm-up before them, so it inflates no rate).
    """
    rates = [seconds / max(n, 1) for n, seconds in timed_compiles]
    return calls * max(rates, default=COMPILE_SECONDS_PER_CALL)


@dataclass(frozen=True)
class Variant:
    """How a network runs: the precision (autocast below fp32), the layout, compiled or eager."""

    precision: str
    channels_last: bool
    compiled: bool = False

    @property
    def label(self) -> str:
        return self.precision + (" CL" if self.channels_last else "") + (" compiled" if self.compiled else "")


EAGER = (Variant("fp32", False), Variant("fp32", True), Variant("fp16", True), Variant("bf16", True))
COMPILED = Variant("fp16", True, compiled=True)


@dataclass(frozen=True)
class NetworkTiming:
    variant: str
    seconds: Optional[float] = None  # None: not measured, ``note`` says why
    note: str = ""
    compile_seconds: Optional[float] = None


@dataclass(frozen=True)
class InferenceRow:
    model: str
    scale: int
    gflops_per_output_mp: Optional[float]
    timings: tuple[NetworkTiming, ...]  # EAGER, then COMPILED
    pipeline: Optional[BenchResult]  # the whole path as ``upscale`` runs it
    module_calls: int = 0


@dataclass(frozen=True)
class TilingRow:
    model: str
    scale: int
    tile: Optional[int]  # 0: untiled; None: the engine's choice
    tiles: int
    passes: int  # forward passes (a GPU batches tiles of one shape)
    result: Optional[BenchResult]
    note: str = ""


@dataclass(frozen=True)
class CheckInfo:
    """Where and how a check ran: kept with the results, so the tables can be rendered anywhere later."""

    device: str
    torch: str
    cuda: Optional[str]
    cudnn: Optional[int]
    tf32: bool  # cuDNN may run fp32 convolutions in TF32 (PyTorch's default)
    version: str
    date: str
    command: str


@dataclass(frozen=True)
class GpuCheck:
    info: CheckInfo
    plan: CheckPlan
    peaks: dict[str, float]  # precision -> conv TFLOP/s (timing.conv_peak_tflops)
    inference: tuple[InferenceRow, ...] = ()
    tiling: tuple[TilingRow, ...] = ()
    training: tuple[TrainStepResult, ...] = ()
    notes: tuple[str, ...] = ()  # rows skipped for time or failed, one line each
    parts: tuple[str, ...] = ()  # the parts done: inference, tiling, training, compile
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GpuCheck":
        """The inverse of :meth:`to_dict` (the JSON a check wrote)."""
        try:
            plan = CheckPlan(**{k: tuple(v) if isinstance(v, list) else v for k, v in data["plan"].items()})

            def bench(d: Optional[dict]) -> Optional[BenchResult]:
                return None if d is None else BenchResult(**d)

            rows = tuple(
                InferenceRow(**{**r, "timings": tuple(NetworkTiming(**t) for t in r["timings"]),
                                "pipeline": bench(r["pipeline"])})
                for r in data["inference"]
            )
            return cls(
                info=CheckInfo(**data["info"]), plan=plan, peaks=dict(data["peaks"]), inference=rows,
                tiling=tuple(TilingRow(**{**t, "result": bench(t["result"])}) for t in data["tiling"]),
                training=tuple(TrainStepResult(**t) for t in data["training"]),
                notes=tuple(data["notes"]), parts=tuple(data["parts"]), seconds=data["seconds"],
            )
        except (KeyError, TypeError) as exc:
            raise UpscaleError(f"not the results of upscale gpu-check ({type(exc).__name__}: {exc})") from None


def describe_machine(device: torch.device, command: str) -> CheckInfo:
    cuda = device.type == "cuda"
    return CheckInfo(
        device=torch.cuda.get_device_name(device) if cuda else device.type, torch=torch.__version__,
        cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version() if cuda else None,
        tf32=bool(torch.backends.cudnn.allow_tf32), version=__version__, date=date.today().isoformat(),
        command=command,
    )


def _failure(exc: BaseException) -> str:
    """One line for the notes: the exception's type and the first line of its message."""
    first = (str(exc).strip().splitlines() or [""])[0][:100]
    return f"failed: {type(exc).__name__}{': ' + first if first else ''}"


def _free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def module_calls(model: LoadedModel) -> int:
    """How many leaf modules one forward pass calls (a recursion counts every time): what a compiler traces.

    At least the number of leaf modules, for networks that call their layers' weights functionally.
    """
    calls = 0

    def count(*_: Any) -> None:
        nonlocal calls
        calls += 1

    leaves = [m for m in model.net.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        side = model.spec.input_side(8, model.scale)
        with torch.no_grad():
            copy.deepcopy(model.net).cpu()(torch.zeros(1, model.spec.in_channels, side, side))
    finally:
        for h in hooks:
            h.remove()
    return max(calls, len(leaves))


def time_network(
    model: LoadedModel, side: int, variant: Variant, device: torch.device, runs: int, budget_s: float,
    compiler: Optional[Callable[[nn.Module], Callable]] = None,
) -> tuple[float, Optional[float]]:
    """Median seconds of the network alone on a ``side``-pixel LR square, and the seconds compiling took.

    A copy of the network runs, so ``model`` keeps its layout. cuDNN autotunes on a GPU,
    as the engine lets it.
    """
    spec = model.spec
    net = copy.deepcopy(model.net).to(device).eval()
    n = spec.input_side(side, model.scale)
    x = torch.rand(1, spec.in_channels, n, n, generator=torch.Generator().manual_seed(0)).to(device)
    if variant.channels_last:
        net, x = channels_last_module(net), channels_last(x)
    else:
        net = net.to(memory_format=torch.contiguous_format)
    dtype = DTYPES[variant.precision]
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not torch.float32 else nullcontext()
    cuda = device.type == "cuda"
    with torch.no_grad(), autocast, torch.backends.cudnn.flags(enabled=True, benchmark=cuda):
        compile_seconds = None
        if variant.compiled:
            if compiler is None:
                raise UpscaleError("a compiled variant needs a compiler")
            start = time.perf_counter()
            run = compiler(net)
            run(x)  # the first call compiles
            if cuda:
                torch.cuda.synchronize(device)
            compile_seconds = time.perf_counter() - start
        else:
            run = net

        def forward() -> None:
            run(x)
            if cuda:  # the warm-up ends before the first timed run starts
                torch.cuda.synchronize(device)

        return timed(forward, runs, device, budget_s), compile_seconds


def compile_network(net: nn.Module) -> Callable:
    """The compiler the check times: ``torch.compile`` in its default mode, static shapes."""
    return torch.compile(net, dynamic=False)


def _inference_row(name: str, plan: CheckPlan, device: torch.device, budget: Budget) -> tuple[InferenceRow, str]:
    """One model's row, and a note when it could not be measured."""
    if budget.left() <= 0:
        skipped = tuple(NetworkTiming(v.label, note="skipped: time budget") for v in (*EAGER, COMPILED))
        return InferenceRow(name, plan.scale, None, skipped, None), f"inference {name}: skipped, time budget"
    model = from_module(name, plan.scale)
    calls = module_calls(model)
    options = InferenceOptions(device=str(device))  # precision auto: fp16 on a GPU, fp32 on the CPU
    try:
        pipeline: Optional[BenchResult] = bench_model(
            model, plan.side, plan.side, options, plan.pipeline_runs, None, "random-init")
        note = ""
    except Exception as exc:  # noqa: BLE001  (a failed row is reported: module docstring)
        pipeline, note = None, f"inference {name}, the whole path: {_failure(exc)}"
    timings = []
    for v in EAGER:
        try:
            seconds, _ = time_network(model, plan.side, v, device, plan.runs, plan.run_budget_s)
            timings.append(NetworkTiming(v.label, seconds))
        except Exception as exc:  # noqa: BLE001  (a failed row is reported: module docstring)
            timings.append(NetworkTiming(v.label, note=f"failed: {type(exc).__name__}"))
            note = "; ".join(filter(None, [note, f"inference {name} {v.label}: {_failure(exc)}"]))
        _free(device)
    timings.append(NetworkTiming(COMPILED.label, note="not reached"))
    gflops = pipeline.gflops_per_output_mp if pipeline else None
    return InferenceRow(name, plan.scale, gflops, tuple(timings), pipeline, calls), note


def measure_inference(check: GpuCheck, device: torch.device, budget: Budget, progress: ProgressFn) -> GpuCheck:
    """Part (a), eager: every network in every variant, and the whole path, until the part's share is spent."""
    plan, rows, notes = check.plan, [], list(check.notes)
    share = budget.share(plan.inference_s)
    for i, name in enumerate(plan.models):
        progress(Progress("inference", i, len(plan.models), name))
        row, note = _inference_row(name, plan, device, share)
        rows.append(row)
        notes += [note] if note else []
        _free(device)
    progress(Progress("inference", len(plan.models), len(plan.models)))
    return dataclasses.replace(check, inference=tuple(rows), notes=tuple(notes), parts=(*check.parts, "inference"))


def _tile_plan(model: LoadedModel, side: int, tile: Optional[int], device: torch.device) -> tuple[int, int]:
    """How many tiles the engine cuts, and in how many forward passes (as it plans them now)."""
    pad = pipeline_radius(model.spec, model.scale)
    size = auto_tile(model, device, side, side, pad) if tile is None else tile
    tiles = plan_tiles(side, side, size, pad)
    return len(tiles), len(batch_tiles(tiles, tile_batch(model, device, size, pad)))


def measure_tiling(check: GpuCheck, device: torch.device, budget: Budget, progress: ProgressFn) -> GpuCheck:
    """Part (b): the whole path on a large picture, untiled, as the engine chooses, and at fixed tiles."""
    plan, rows, notes = check.plan, [], list(check.notes)
    share = budget.share(plan.tiling_s)
    jobs = [(name, tile) for name in plan.tiling_models for tile in plan.tiles]
    model: Optional[LoadedModel] = None
    for i, (name, tile) in enumerate(jobs):
        progress(Progress("tiling", i, len(jobs), f"{name} tile {tile_label(tile)}"))
        if share.left() <= 0:
            rows.append(TilingRow(name, plan.scale, tile, 0, 0, None, "skipped: time budget"))
            notes.append(f"tiling {name} tile {tile_label(tile)}: skipped, time budget")
            continue
        if model is None or model.name != name:  # one network per model, on the device before the tile plan
            model = from_module(name, plan.scale)
            model.net.to(device)
        tiles, passes = _tile_plan(model, plan.tiling_side, tile, device)
        options = InferenceOptions(tile=tile, device=str(device))
        try:
            result = bench_model(model, plan.tiling_side, plan.tiling_side, options, plan.pipeline_runs, None,
                                 "random-init")
            rows.append(TilingRow(name, plan.scale, tile, tiles, passes, result))
        except Exception as exc:  # noqa: BLE001  (a failed row is reported: module docstring)
            rows.append(TilingRow(name, plan.scale, tile, tiles, passes, None, f"failed: {type(exc).__name__}"))
            notes.append(f"tiling {name} tile {tile_label(tile)}: {_failure(exc)}")
        _free(device)
    progress(Progress("tiling", len(jobs), len(jobs)))
    return dataclasses.replace(check, tiling=tuple(rows), notes=tuple(notes), parts=(*check.parts, "tiling"))


def measure_training(check: GpuCheck, device: torch.device, budget: Budget, progress: ProgressFn) -> GpuCheck:
    """Part (c): one training step per model and precision, as ``upscale bench --train`` times it."""
    plan, rows, notes = check.plan, [], list(check.notes)
    share = budget.share(plan.training_s)
    peaks = {DTYPES[p]: v for p, v in check.peaks.items()}
    jobs = [(name, p) for name in plan.training_models for p in plan.train_precisions]
    for i, (name, precision) in enumerate(jobs):
        progress(Progress("training steps", i, len(jobs), f"{name} {precision}"))
        if share.left() <= 0:
            notes.append(f"training {name} {precision}: skipped, time budget")
            continue
        scale = plan.scale if plan.scale in get_spec(name).scales else max(get_spec(name).scales)
        try:  # cuDNN autotuning on, as upscale train sets it on a GPU
            with torch.backends.cudnn.flags(enabled=True, benchmark=device.type == "cuda"):
                rows.append(bench_train_step(name, scale, str(device), Precision(precision), plan.train_batch,
                                             None, plan.train_runs, peaks))
        except Exception as exc:  # noqa: BLE001  (a failed row is reported: module docstring)
            notes.append(f"training {name} {precision}: {_failure(exc)}")
        _free(device)
    progress(Progress("training steps", len(jobs), len(jobs)))
    return dataclasses.replace(check, training=tuple(rows), notes=tuple(notes), parts=(*check.parts, "training"))


def _warm_up_compiler(compiler: Callable[[nn.Module], Callable], device: torch.device) -> Optional[str]:
    """Pay the compiler's one-off start-up on a one-layer network; the reason it fails, if it does."""
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()).to(device)
    try:
        with torch.no_grad(), torch.autocast(device.type, dtype=DTYPES[COMPILED.precision]):
            compiler(net)(torch.zeros(1, 1, 16, 16, device=device))
    except Exception as exc:  # noqa: BLE001  (no C compiler, no Triton: the column says so)
        return _failure(exc)
    return None


def measure_compiled(
    check: GpuCheck, device: torch.device, budget: Budget, progress: ProgressFn,
    compiler: Callable[[nn.Module], Callable] = compile_network,
) -> GpuCheck:
    """Part (a), compiled: the fewest module calls first, each only when its estimated compile time fits."""
    plan = check.plan
    share = budget.share(plan.compile_s)
    rows = {r.model: r for r in check.inference}
    measured = (r for r in check.inference if any(t.seconds is not None for t in r.timings))
    order = sorted(measured, key=lambda r: r.module_calls)
    failure = _warm_up_compiler(compiler, device) if order and share.left() > 0 else None
    failures = [f"compile: on a one-layer network, {failure}"] if failure else []
    broken = "skipped: torch.compile fails here" if failure else ""
    timed_compiles: list[tuple[int, float]] = []
    for i, row in enumerate(order):
        progress(Progress("torch.compile", i, len(order), row.model))
        estimate = compile_estimate(row.module_calls, timed_compiles)
        if broken or plan.compile_s <= 0:
            timing = NetworkTiming(COMPILED.label, note=broken or "skipped: no compile budget")
        elif estimate > share.left():
            timing = NetworkTiming(COMPILED.label, note=f"skipped: ~{estimate:.0f} s to compile, "
                                                        f"{max(share.left(), 0):.0f} s of the budget left")
        else:
            try:
                seconds, compiling = time_network(from_module(row.model, row.scale), plan.side, COMPILED, device,
                                                  plan.runs, plan.run_budget_s, compiler)
                timing = NetworkTiming(COMPILED.label, seconds, compile_seconds=compiling)
                timed_compiles.append((row.module_calls, compiling or 0.0))
            except Exception as exc:  # noqa: BLE001  (a compiler error belongs in its cell)
                timing = NetworkTiming(COMPILED.label, note=f"failed: {type(exc).__name__}")
                broken = f"skipped: torch.compile failed on {row.model}"
                failures.append(f"compile {row.model}: {_failure(exc)}")
            torch.compiler.reset()
            _free(device)
        rows[row.model] = dataclasses.replace(row, timings=(*row.timings[:-1], timing))
    if order:
        progress(Progress("torch.compile", len(order), len(order)))
    return dataclasses.replace(check, inference=tuple(rows[r.model] for r in check.inference),
                               notes=(*check.notes, *failures), parts=(*check.parts, "compile"))


def _ignore(_: GpuCheck) -> None:
    """The default ``on_part``: nothing to save."""


def run_gpu_check(
    plan: CheckPlan,
    device: torch.device,
    command: str,
    progress: ProgressFn = no_progress,
    on_part: Callable[[GpuCheck], None] = _ignore,
    clock: Callable[[], float] = time.monotonic,
    compiler: Callable[[nn.Module], Callable] = compile_network,
) -> GpuCheck:
    """The three tables, part by part within ``plan.total_s``; ``on_part`` gets the results after each part.

    So a caller can save them as they come: a run stopped from outside keeps what it measured.
    """
    budget = Budget(plan.total_s, clock)
    peaks = {p: conv_peak_tflops(device, DTYPES[p]) for p in plan.peak_precisions}
    check = GpuCheck(describe_machine(device, command), plan, peaks)
    for part in (measure_inference, measure_tiling, measure_training):
        check = dataclasses.replace(part(check, device, budget, progress), seconds=budget.spent())
        on_part(check)
    check = measure_compiled(check, device, budget, progress, compiler)
    check = dataclasses.replace(check, seconds=budget.spent())
    on_part(check)
    return check


# --- the markdown of the three README blocks ------------------------------------------------------


def tile_label(tile: Optional[int]) -> str:
    return "auto" if tile is None else "untiled" if tile == 0 else str(tile)

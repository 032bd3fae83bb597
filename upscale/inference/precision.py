"""``--precision auto`` on the CPU: bf16 for a network only where it is measured to pay and to keep its numbers.

On the GPU, auto is fp16 (see :func:`options.pick_autocast`). On the CPU it was always
fp32; bf16 convolutions run several times faster on CPUs with AMX or AVX512-BF16, but
not for every network (FSRCNN's 12-channel layers gain nothing and pay for the casts),
and bf16's 7-bit mantissa moves some networks' PSNR. So auto takes bf16 for a loaded
network only when three things hold, each measured rather than read off a name:

1. the CPU has bf16 kernels, by oneDNN's own check;
2. the weights' bf16 PSNR change on Set5, recorded in the manifest when the file was
   added, is within :data:`BF16_MAX_DRIFT`;
3. a bf16 forward of this network is faster than fp32 on this machine, by
   :data:`BF16_MARGIN`: a probe timed once per CPU, torch version, thread count,
   model and scale, and kept in the user cache (``precision.json``).

Anything else (weights the manifest does not list, a CPU without bf16) runs fp32.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from ..files import write_bytes_atomic
from ..hub.download import default_cache_dir
from ..hub.manifest import read_manifest, sha256_file
from ..imaging.layout import channels_last, channels_last_module
from ..machine import cpu_name
from .loading import LoadedModel
from .options import AUTOCAST, InferencePrecision, ResolvedOptions

# The bound is 0.05 dB on Set5; the manifest's value was measured on one CPU,
# and another CPU's bf16 kernels round differently (AMX against AVX512-BF16 against
# emulation), so the policy keeps 0.02 dB of room.
BF16_MAX_DRIFT = 0.03
BF16_MARGIN = 1.15  # bf16 must be this much faster than fp32 to be worth its rounding
PROBE_SIDE = 64  # LR pixels a side: big enough that the convolutions dominate, small enough to time in a second
PROBE_ROUNDS = 5
PROBE_ROUND_SECONDS = 0.05


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a network runs in, and why: the CLI shows the reason."""

    precision: InferencePrecision
    reason: str

    @property
    def autocast(self) -> Optional[torch.dtype]:
        return AUTOCAST.get(self.precision)


def cpu_has_bf16() -> bool:
    """Whether oneDNN has bf16 kernels on this CPU (AVX512-BF16 or AMX), by its own check."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_has_fp16() -> bool:
    """Whether oneDNN has fp16 kernels on this CPU (AVX512-FP16 or AMX-FP16), by its own check."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
    except (AttributeError, RuntimeError):
        return False


def recorded_bf16_drift(model: LoadedModel) -> Optional[float]:
    """The manifest's Set5 PSNR change under bf16 for the file ``model`` was loaded from, if it lists that file."""
    source = model.source
    if source is None or not source.is_file():
        return None
    entry = read_manifest(source.parent).get(source.name)
    if entry is None or entry.get("bytes") != source.stat().st_size or entry.get("sha256") != sha256_file(source):
        return None
    drift = entry.get("drift", {}).get(f"x{model.scale}", {}).get("bf16")
    return None if drift is None else float(drift)



def probe_key(model: LoadedModel) -> str:
    config = json.dumps(model.meta.get("config", {}), sort_keys=True)
    return f"{cpu_name()} | torch {torch.__version__} | {torch.get_num_threads()} threads | {model.name} x{model.scale} {config}"


def time_precisions(model: LoadedModel) -> dict[str, float]:
    """Seconds of one forward in fp32 and in bf16 on the CPU, as the engine runs the network.

    Rounds alternate between the two, so a burst of load elsewhere hits both alike, and
    each round repeats the forward for at least :data:`PROBE_ROUND_SECONDS`, so a
    millisecond network is not timed at the clock's resolution; each precision keeps its
    best round.
    """
    net = channels_last_module(model.net.to("cpu")).eval()  # as the engine runs it (its own network)
    side = model.spec.input_side(PROBE_SIDE, model.scale)
    x = channels_last(torch.rand(1, model.spec.in_channels, side, side))

    def forward(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            net(x)

    with torch.inference_mode():
        repeats = {}
        for bf16 in (False, True):
            forward(bf16)  # warm-up: oneDNN picks and caches its kernels on the first call
            start = time.perf_counter()
            forward(bf16)
            repeats[bf16] = max(1, math.ceil(PROBE_ROUND_SECONDS / max(time.perf_counter() - start, 1e-6)))
        best = {False: math.inf, True: math.inf}
        for _ in range(PROBE_ROUNDS):
            for bf16 in (False, True):
                start = time.perf_counter()
                for _ in range(repeats[bf16]):
                    forward(bf16)
                best[bf16] = min(best[bf16], (time.perf_counter() - start) / repeats[bf16])
    return {"fp32": best[False], "bf16": best[True]}


def cached_timings(model: LoadedModel, cache: Path, measure: Callable[[LoadedModel], dict[str, float]]) -> dict[str, float]:
    """``measure(model)``, remembered in ``cache`` under :func:`probe_key`; a damaged cache is measured again."""
    key = probe_key(model)
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    found = known.get(key)
    if isinstance(found, dict) and {"fp32", "bf16"} <= found.keys():
        return found
    timings = measure(model)
    known[key] = timings
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(cache, (json.dumps(known, indent=1, sort_keys=True) + "\n").encode())
    except OSError:
        pass  # a read-only cache costs a probe per run, not the run
    return timings


def choose_cpu_precision(
    model: LoadedModel,
    cache: Optional[Path] = None,
    measure: Callable[[LoadedModel], dict[str, float]] = time_precisions,
    has_bf16: Optional[Callable[[], bool]] = None,
) -> PrecisionChoice:
    """The precision ``auto`` runs ``model`` in on the CPU (see the module's docstring)."""
    fp32 = InferencePrecision.FP32
    if not (has_bf16 or cpu_has_bf16)():
        return PrecisionChoice(fp32, "auto: this CPU has no bf16 instructions")
    drift = recorded_bf16_drift(model)
    if drift is None:
        return PrecisionChoice(fp32, "auto: bf16's effect on these weights is not in the manifest")
    if abs(drift) > BF16_MAX_DRIFT:
        return PrecisionChoice(fp32, f"auto: bf16 moves these weights' Set5 PSNR by {drift:+.3f} dB")
    timings = cached_timings(model, cache or default_cache_dir() / "precision.json", measure)
    speedup = timings["fp32"] / timings["bf16"]
    if speedup < BF16_MARGIN:
        return PrecisionChoice(fp32, f"auto: bf16 is not faster for {model.name} on this CPU ({speedup:.2f}x)")
    return PrecisionChoice(
        InferencePrecision.BF16, f"auto: bf16 runs {speedup:.1f}x faster here and moves Set5 PSNR by {drift:+.3f} dB"
    )


def settle_precision(opts: ResolvedOptions, model: LoadedModel) -> tuple[ResolvedOptions, PrecisionChoice]:
    """``opts`` with ``auto`` on the CPU decided for ``model``; any other choice stands as resolved."""
    if not opts.auto_cpu:
        shown = {torch.float16: InferencePrecision.FP16, torch.bfloat16: InferencePrecision.BF16}.get(
            opts.autocast, InferencePrecision.FP32  # type: ignore[arg-type]
        )
        return opts, PrecisionChoice(shown, "as resolved")
    if model.cpu_precision is None:  # decided once per loaded network, not per image
        model.cpu_precision = choose_cpu_precision(model)
    choice = model.cpu_precision
    return dataclasses.replace(opts, autocast=choice.autocast, auto_cpu=False), choice

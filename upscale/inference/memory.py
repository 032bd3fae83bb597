"""How much of an image runs at once: tile sizes and tile batches from a memory budget."""

from __future__ import annotations

import math
import os
from typing import Any, Optional

import torch

from .loading import LoadedModel


def activation_floats_per_pixel(model: LoadedModel) -> float:
    """Largest activation any layer makes, in floats per input pixel (measured once, on a probe)."""
    if model.activation_rate is not None:
        return model.activation_rate
    peak = 0
    hooks = [m.register_forward_hook(lambda _m, _i, o: _track(o)) for m in model.net.modules()]

    def _track(out: Any) -> None:
        nonlocal peak
        if isinstance(out, torch.Tensor):
            peak = max(peak, out.numel())

    probe = 24
    try:
        with torch.inference_mode():
            side = model.spec.input_side(probe, model.scale)
            device = next(model.net.parameters()).device  # the network may already be on the GPU
            model.net(torch.zeros(1, model.spec.in_channels, side, side, device=device))
    finally:
        for h in hooks:
            h.remove()
    model.activation_rate = peak / (probe * probe)
    return model.activation_rate


# The CPU's budget is 0.5 GiB, which keeps most networks' tiles large next to the
# context each tile recomputes around itself. Where that context is wide (RDN pads each
# tile by its 133-px receptive radius: under 0.5 GiB a 256x256 picture ran as tiles of
# 399x399, ten times the untiled work), the tile may grow until the context adds at most
# 15% to the work, within a quarter of the memory available when the image starts
# (Linux MemAvailable; at most 8 GiB), which leaves room for the rest of the machine.
CPU_BUDGET = 0.5 * 2**30
CPU_GROWTH_FRACTION = 0.25
CPU_GROWTH_MAX = 8 * 2**30
CONTEXT_OVERHEAD = 1.15


def available_memory() -> Optional[int]:
    """Bytes the system can give without swapping (Linux MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _memory_budget(device: torch.device) -> float:
    """The budget for a tile's activations."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free * 0.4
    return CPU_BUDGET


def _growth_budget(device: torch.device, usual: float) -> float:
    """The most a wide-context tile may take: on the CPU, a share of the memory available now."""
    available = available_memory() if device.type == "cpu" else None
    if available is None:
        return usual
    return min(max(available * CPU_GROWTH_FRACTION, usual), CPU_GROWTH_MAX)


def _bytes_per_pixel(model: LoadedModel) -> float:
    # A few live tensors of the largest layer's size, in float32.
    return activation_floats_per_pixel(model) * 4 * 4


def auto_tile(model: LoadedModel, device: torch.device, height: int, width: int, pad: int) -> int:
    """A core size whose padded tile keeps the activations within a memory budget (0: untiled)."""
    usual, bytes_per_px = _memory_budget(device), _bytes_per_pixel(model)
    if height * width * bytes_per_px <= usual:
        return 0  # the whole image fits: no context is computed twice
    core = int(math.sqrt(usual / bytes_per_px)) - 2 * pad
    enough = math.ceil(2 * pad / (math.sqrt(CONTEXT_OVERHEAD) - 1))
    if core < enough:  # the context would cost more than 15%: a larger tile, within the larger budget
        most = _growth_budget(device, usual)  # read only here: most images never need it
        core = max(core, min(enough, int(math.sqrt(most / bytes_per_px)) - 2 * pad))
        if height * width <= (core + 2 * pad) ** 2:
            return 0  # the whole image is no larger than such a tile
    # Tiles narrower than their context would spend most of their work on it.
    return max(core, pad, 16)


MAX_TILE_BATCH = 8


def tile_batch(model: LoadedModel, device: torch.device, size: int, pad: int) -> int:
    """How many padded tiles of ``size`` run in one forward pass: several on a GPU, one on the CPU.

    A GPU only fills up with enough pixels in flight; the CPU gains nothing from
    larger batches and would only hold more memory.
    """
    if device.type != "cuda" or size == 0:
        return 1
    per_tile = (size + 2 * pad) ** 2 * _bytes_per_pixel(model)
    return int(min(max(_memory_budget(device) // per_tile, 1), MAX_TILE_BATCH))

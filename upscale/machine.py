"""What machine this is, in words: for keying measurements by CPU and for naming it beside every number."""

from __future__ import annotations

import ctypes
import functools
import platform
from pathlib import Path

import torch

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc's ceiling on 64-bit systems
_TRIM_THRESHOLD = 256 << 20


def cpu_name() -> str:
    """The processor model from /proc/cpuinfo (Linux), with its family, model and widest vector unit.

    A virtual machine often reports only "AMD EPYC", which names a Zen 3 with AVX2 and a
    Zen 4 with AVX-512 BF16 alike, and their numbers differ by 2x: the details say which.
    Elsewhere, the platform's word for it.
    """
    try:
        return describe_cpu(Path("/proc/cpuinfo").read_text())
    except (OSError, ValueError):
        return platform.processor() or "unknown CPU"


def describe_cpu(cpuinfo: str) -> str:
    """``"NAME (family F model M, ISA)"`` from the first processor of a /proc/cpuinfo text."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            if fields:
                break  # the first processor's block is enough
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    if "model name" not in fields:
        raise ValueError("no model name in cpuinfo")
    flags = set(fields.get("flags", "").split())
    isa = next((label for flag, label in _ISA if flag in flags), None)
    details = [f"family {fields['cpu family']} model {fields['model']}"] if "cpu family" in fields and "model" in fields else []
    details += [isa] if isa else []
    return f"{fields['model name']} ({', '.join(details)})" if details else fields["model name"]


# The widest matrix or vector unit first: what decides the speed of a convolution here
_ISA = (("amx_tile", "AMX"), ("avx512_bf16", "AVX-512 BF16"), ("avx512f", "AVX-512"), ("avx2", "AVX2"), ("asimd", "NEON"))


def keep_freed_memory() -> bool:
    """Let glibc's malloc reuse freed activation buffers instead of returning them to the kernel.

    By default glibc serves a large block with its own ``mmap`` and unmaps it when freed,
    or trims the heap once its free top passes a threshold, so each layer's fresh
    output meets zeroed pages again, one fault per 4 KiB: FSRCNN x4 at 256x256 spent
    most of its 1->56 convolution, 1x1 expansion and PReLU (6-16 ms each instead of
    0.6-1.8) in page faults on the 2-core AMD EPYC, family 25 model 1. Blocks up to
    32 MiB then come from the heap, and up to 256 MiB of freed heap stays mapped:
    peak memory is unchanged, memory after the peak is held longer.

    Process-wide, so the command line calls it for its own process, and a script may.
    False where the C library has no ``mallopt`` (musl, macOS, Windows).
    """
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    if not (hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt")):  # glibc's parameters only
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


# ATen's float ops that MKL's vector math library computes (aten/src/ATen/cpu/vml.h, torch 2.13).
_VML_OPS = (torch.acos, torch.asin, torch.atan, torch.cos, torch.erf, torch.erfc, torch.erfinv, torch.exp,
            torch.log, torch.log10, torch.log2, torch.sin, torch.sqrt, torch.tan, torch.tanh, torch.trunc)


@functools.lru_cache(maxsize=1)  # per process: MKL keeps what it picked
def settle_vector_math() -> None:
    """Have MKL pick its vector-math kernels in this thread, before any op runs them in parallel.

    ATen hands contiguous float ``tanh``, ``exp``, ``log``, ``sqrt`` and others to MKL's
    vector math (VML), which picks each function's kernel on its first call. When that
    first call runs on several threads at once, one thread can compute its whole share
    with a low-accuracy kernel (pytorch/pytorch#188792, oneMKL 2024.2). On the 2-core AMX
    Xeon (family 6 model 167), torch 2.13, a fresh process's first ``tanh`` of 4,370
    floats came back up to 5e-5 off in the worker thread's half in 11 runs of 40, and in
    none of 40 after one call on 16 floats, which stay in the calling thread. Not
    visible in an image (an 8-bit level is 4e-3), but a result should not depend on a race.
    """
    for dtype in (torch.float32, torch.float64):
        x = torch.full((16,), 0.5, dtype=dtype)
        for op in _VML_OPS:
            op(x)

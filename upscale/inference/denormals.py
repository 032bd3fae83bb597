"""Denormal floats flushed to zero on every CPU thread, for as long as a network runs.

A trained network can carry activations so small that they are denormal floats, and
x86 cores can take a slow path for each one (a VDSR trained elsewhere ran 3-4x
slower on a Xeon than the same shape with other weights). ``torch.set_flush_denormal``
sets flush-to-zero and denormals-are-zero in the calling thread's MXCSR only, so with
two threads it helped half the work: the OpenMP workers that run the other half keep
their own. They inherit the flag only when they are created after it is set, and the
pool usually exists already. So the flag is set in every worker too, from inside one
OpenMP parallel region of the runtime torch itself loaded, and put back afterwards:
the library leaves the process as it found it.

Flushing changes nothing the eye or PSNR can see: a denormal float32 is below 1.2e-38.
"""

from __future__ import annotations

import ctypes
import functools
from contextlib import contextmanager
from typing import Iterator, Optional

import torch

_Region = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


@functools.lru_cache(maxsize=1)  # the loaded runtime does not change: looked up once, not per image
def _gomp() -> Optional[ctypes.CDLL]:
    """The GNU OpenMP runtime loaded in this process (torch's own on Linux), if any."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "libgomp" in line and line.rstrip().endswith((".so", ".so.1"))}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
            lib.GOMP_parallel.argtypes = [_Region, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
            return lib
        except (OSError, AttributeError):
            continue
    return None


def set_flush_all_threads(flush: bool) -> bool:
    """FTZ/DAZ on (or off) in this thread and every OpenMP worker; False if only this thread could be set."""
    if not torch.set_flush_denormal(flush):  # a CPU without SSE3: nothing to set anywhere
        return False
    threads = torch.get_num_threads()
    if threads <= 1:
        return True
    gomp = _gomp()
    if gomp is None:
        return False
    region = _Region(lambda _data: torch.set_flush_denormal(flush))  # runs once in each thread of the team
    gomp.GOMP_parallel(region, None, threads, 0)
    return True


def _denormals(n: int) -> torch.Tensor:
    # Made from bits: a float literal would itself be flushed on its way in where FTZ is on.
    # n large enough is split across the threads by torch's elementwise loop.
    return torch.full((n,), 1 << 20, dtype=torch.int32).view(torch.float32)


def flushed_fraction() -> float:
    """The share of a parallel elementwise op whose denormal inputs came out as zero: 1.0 when every thread flushes."""
    return float(((_denormals(max(torch.get_num_threads(), 1) * 65536) * 1.0) == 0).float().mean())


def _this_thread_flushes() -> bool:
    return bool(((_denormals(8) * 1.0) == 0).all())  # too small to leave the calling thread


@contextmanager
def flushed_denormals() -> Iterator[None]:
    """Run the body with denormals flushed on every CPU thread; the threads are put back as they were found."""
    if flushed_fraction() == 1.0:  # already so (a caller set it before the pool started): leave it
        yield
        return
    this_thread = _this_thread_flushes()
    set_flush_all_threads(True)
    try:
        yield
    finally:
        set_flush_all_threads(False)
        if this_thread:  # a caller had flushed its own thread only: so it stays
            torch.set_flush_denormal(True)

"""Denormal floats are flushed on every CPU thread while a network runs, and only then."""

from __future__ import annotations

import pytest
import torch

from upscale.inference.denormals import flushed_denormals, flushed_fraction, set_flush_all_threads
from upscale.inference.loading import from_module


@pytest.fixture
def two_threads():
    """Two OpenMP threads and no flushing anywhere, whatever ran before; put back afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    torch.zeros(1 << 20).add_(1)  # the pool exists before any flag is set, as in a long-lived process
    set_flush_all_threads(False)
    yield
    set_flush_all_threads(False)
    torch.set_num_threads(before)


def test_the_check_sees_a_flag_set_on_one_thread_only(two_threads):
    assert flushed_fraction() == 0.0
    torch.set_flush_denormal(True)  # what torch offers: the calling thread alone
    assert 0.0 < flushed_fraction() < 1.0  # the worker's half of the work keeps its denormals


def test_every_thread_flushes_inside_and_none_after(two_threads):
    with flushed_denormals():
        assert flushed_fraction() == 1.0
    assert flushed_fraction() == 0.0


def test_a_callers_own_thread_flag_is_left_as_found(two_threads):
    torch.set_flush_denormal(True)
    before = flushed_fraction()
    with flushed_denormals():
        assert flushed_fraction() == 1.0
    assert flushed_fraction() == before


def test_the_engine_runs_cpu_tiles_with_denormals_flushed(two_threads, monkeypatch):
    import upscale.inference.engine as engine

    seen = []
    real = engine.run_tiled

    def spy(*args, **kwargs):
        seen.append(flushed_fraction())
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "run_tiled", spy)
    out = engine.upscale_image(torch.rand(1, 1, 10, 10), from_module("fsrcnn", 2), device="cpu", precision="fp32")
    assert out.shape == (1, 1, 20, 20) and seen == [1.0]
    assert flushed_fraction() == 0.0

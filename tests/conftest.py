"""Shared fixtures: where the benchmark sets are, and what happens when they are not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Read at import time, before any test's monkeypatch clears it.
SHARED_DATA = os.environ.get("UPSCALE_DATA")


def pytest_terminal_summary(terminalreporter) -> None:
    """The CPU and torch build at the end of the report, where a CI excerpt of the tail shows
    them: a float32 kernel's rounding, and so a bound, can differ between CPUs."""
    import torch

    from upscale.machine import cpu_name

    build = f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()})"
    terminalreporter.write_line(f"CPU: {cpu_name()}, {build}, {torch.get_num_threads()} threads")


def pytest_configure(config) -> None:
    """MKL's vector math settled before any test runs it in parallel (upscale/machine.py
    says why): a test that compares a float32 tanh with float64 would depend on a race."""
    from upscale.machine import settle_vector_math

    settle_vector_math()


def _shared_set(name: str) -> Path:
    """The shared copy of a benchmark set; skip when absent, but fail under CI."""
    if not SHARED_DATA:
        reason = f"UPSCALE_DATA is not set, so tests that need {name} cannot run"
    elif not (Path(SHARED_DATA) / name).is_dir():
        reason = f"UPSCALE_DATA={SHARED_DATA} has no {name} folder"
    else:
        return Path(SHARED_DATA) / name
    if os.environ.get("CI"):
        pytest.fail(reason + " (CI is set, so the shared data must be there)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own user cache (degraded training images, downloads), never ~/.cache."""
    monkeypatch.setenv("UPSCALE_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def shared_set():
    """A function: set name -> folder of the shared benchmark set (skip or fail if absent)."""
    return _shared_set


@pytest.fixture
def cli():
    """Run the CLI in-process: list of args -> Result with exit_code, stdout, stderr."""
    from typer.testing import CliRunner

    from upscale.cli import app

    runner = CliRunner()
    return lambda args: runner.invoke(app, args, prog_name="upscale")


def _write_random_weights(folder: Path, name: str, scale: int, seed: int = 0) -> Path:
    """A freshly initialised network saved the way `upscale train --export` saves one."""
    import torch

    from upscale import create_model
    from upscale.models import get_spec
    from upscale.hub.weights import describe, save_weights

    torch.manual_seed(seed)
    spec = get_spec(name)
    path = folder / f"{name}_x{spec.network_scale(scale)}.safetensors"
    save_weights(path, create_model(name, scale), describe(spec, spec.network_scale(scale), spec.config_cls()))
    return path


@pytest.fixture
def random_weights():
    """A function: (folder, name, scale) -> path of a random-init weights file."""
    return _write_random_weights


@pytest.fixture(scope="session")
def espcn_x2_weights(tmp_path_factory):
    """One small random-init weights file shared by the batch tests."""
    return _write_random_weights(tmp_path_factory.mktemp("weights"), "espcn", 2)

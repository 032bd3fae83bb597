"""A tenth architecture, defined in this file alone, is picked up everywhere with no other edit.

Loaded as a pytest plugin (``-p test_toy_architecture``), this module registers ``toysr``
before collection, so every test parametrised over ``list_models()`` gets a ``toysr``
case. The test at the bottom runs the suite's registry-wide test files that way in a
fresh process, keeps only the toy's cases, and checks that they ran and passed:
shapes, parameter counts, backward, save/load, radius, tiling, export, training,
and eval through the command line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor, nn

from upscale.models import ColorSpace, InputKind, ModelSpec, list_models
from upscale.models.recipe import Loss, Recipe, Supervision

TOY = "toysr"
TESTS = Path(__file__).resolve().parent
# The suite's files whose tests are parametrised over the registry.
REGISTRY_WIDE = ["test_models.py", "test_engine.py", "test_export.py", "test_train.py", "test_toy_architecture.py"]


@dataclass(frozen=True)
class ToyConfig:
    features: int = 8


class ToySR(nn.Module):
    """conv 3x3 1->F, ReLU, conv 3x3 F->scale^2, pixel shuffle: the smallest sub-pixel network."""

    def __init__(self, cfg: ToyConfig, scale: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, cfg.features, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(cfg.features, scale * scale, 3, padding=1))
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: Tensor) -> Tensor:
        return self.shuffle(self.body(x))


def toy_spec() -> ModelSpec:
    params = {s: (9 * 8 + 8) + (9 * 8 * s * s + s * s) for s in (2, 3)}
    return ModelSpec(
        name=TOY,
        paper="Toy, A Smallest Sub-Pixel Network, Tests 2026",
        scales=(2, 3),
        input_kind=InputKind.LR,
        color_space=ColorSpace.Y,
        config_cls=ToyConfig,
        build=lambda cfg, scale: ToySR(cfg, scale),
        receptive_radius=2,
        scale_specific=("body.2.",),
        recipe=Recipe(Loss.MSE, Supervision.FINAL, lr=1e-3, batch=8, patch=8, steps=100),
        published={("Set5", 2): (33.0, None)},
        reference_parameters=params,
    )


def pytest_configure(config: pytest.Config) -> None:
    """As a plugin: register the toy before any test file is collected."""
    from upscale.models import register

    if TOY not in list_models():
        register(toy_spec())


def test_toysr_evaluates_and_tiles_through_the_command_line(cli, tmp_path, random_weights):
    from upscale.inference.loading import load_model
    from upscale.inference.engine import upscale_image

    if TOY not in list_models():  # decided at run time: the plugin registers the toy after import
        pytest.skip("runs inside the plugin session of the test below")

    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    weights = random_weights(tmp_path, TOY, 2)
    result = cli(["eval", "--model", TOY, "--weights", str(weights), "--set", str(folder), "-x", "2", "--json"])
    assert result.exit_code == 0, result.output
    x = torch.rand(1, 3, 20, 22)
    model = load_model(TOY, 2, weights)
    assert torch.allclose(upscale_image(x, model, tile=6), upscale_image(x, model, tile=0), atol=1e-6)


# Slow: the registry-wide test files again, in a fresh process, for the toy's cases.
@pytest.mark.slow
def test_a_tenth_architecture_needs_no_edit_outside_its_module():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    args = [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-p", "test_toy_architecture",
            "-k", TOY, *REGISTRY_WIDE]
    done = subprocess.run(args, cwd=TESTS, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:]
    passed = re.findall(r"^PASSED (test_\w+)\.py::(\S+)", done.stdout, re.M)
    assert not re.search(r"^(SKIPPED|FAILED|ERROR)", done.stdout, re.M), done.stdout[-3000:]
    # Every registry-wide file ran cases of the toy, which no file names but this one.
    assert {f"{name}.py" for name, _ in passed} == set(REGISTRY_WIDE), done.stdout[-3000:]
    assert len(passed) >= 15

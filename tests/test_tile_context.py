"""The tile context measured for a weights file, and the engine padding tiles by it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from upscale import load_model, upscale_image
from upscale.evaluation.datasets import BenchmarkSet, list_images
from upscale.evaluation.tile_context import CONTEXT_STEPS, MAX_ERROR_LEVELS, measure_context
from upscale.hub.manifest import make_entry, write_manifest
from upscale.inference.engine import tile_context
from upscale.inference.loading import from_module
from upscale.inference.pipeline import pipeline_radius


class BlurUp(nn.Module):
    """``layers`` passes of a fixed 3x3 binomial blur, then nearest x2: its reach decays like a Gaussian's.

    36 passes of [1/4, 1/2, 1/4] spread a pixel with a standard deviation of about 4 px, so
    the error of a cut falls from several levels at 8 px through the bound near 12-16 px:
    far from the bound at every step (measured: 0.58 levels at 12, 0.014 at 16), so the
    steps on either side of it do not depend on the CPU's rounding.
    """

    def __init__(self, layers: int = 36) -> None:
        super().__init__()
        k = torch.tensor([0.25, 0.5, 0.25])
        self.blur = nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False)
        self.blur.weight.data[:] = torch.outer(k, k)
        self.layers = layers
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.layers):
            x = self.blur(x)
        return self.up(x)


def _blur_model():
    # RDN's spec (RGB, LR input, a 133-px radius) around a network whose real reach is far shorter.
    return from_module("rdn", 2, BlurUp())


def _noise_set(folder, sides, seed=0):
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i, side in enumerate(sides):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(folder / f"n{i}.png")
    return BenchmarkSet("noise", folder, list_images(folder))


def _levels(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max()) * 255.0


def test_the_measured_context_is_one_step_beyond_the_shortest_whose_tiles_hold_the_bound(tmp_path):
    model = _blur_model()
    measure = measure_context(model, _noise_set(tmp_path / "set", [128, 136]))
    radius = pipeline_radius(model.spec, model.scale)
    assert measure.radius == radius and measure.context in CONTEXT_STEPS and measure.context < radius
    errors = [e for _, e in measure.errors]
    assert errors == sorted(errors, reverse=True)  # "at this distance and beyond" can only fall
    steps = [step for step, _ in measure.errors]
    shortest = steps[steps.index(measure.context) - 1]
    assert dict(measure.errors)[shortest] <= MAX_ERROR_LEVELS
    x = torch.from_numpy(np.random.default_rng(5).random((1, 3, 120, 120), dtype=np.float32))
    whole = upscale_image(x, model, tile=0)
    # The real tiler, on another image: within the bound at the shortest step that held, past it one
    # step shorter; the kept context adds a step of margin.
    assert _levels(upscale_image(x, model, tile=24, tile_pad=shorter_than(shortest)), whole) > MAX_ERROR_LEVELS
    assert _levels(upscale_image(x, model, tile=24, tile_pad=shortest), whole) <= MAX_ERROR_LEVELS
    model.context = measure.context  # as load_model sets it for a shipped file
    assert _levels(upscale_image(x, model, tile=24), whole) <= MAX_ERROR_LEVELS / 10


def shorter_than(step):
    return CONTEXT_STEPS[CONTEXT_STEPS.index(step) - 1]


def test_a_probe_too_small_to_measure_keeps_the_whole_radius(tmp_path):
    model = _blur_model()
    measure = measure_context(model, _noise_set(tmp_path / "set", [20]))
    assert measure.context == measure.radius and measure.errors == ()


def test_the_engine_pads_tiles_by_the_model_context_unless_told_otherwise():
    model = _blur_model()
    x = torch.from_numpy(np.random.default_rng(6).random((1, 3, 96, 96), dtype=np.float32))
    whole = upscale_image(x, model, tile=0)
    model.context = 4
    assert tile_context(model) == 4
    assert _levels(upscale_image(x, model, tile=24), whole) > 1.0  # seams: 4 px is far too little here
    assert _levels(upscale_image(x, model, tile=24, tile_pad=40), whole) <= MAX_ERROR_LEVELS  # an explicit pad wins
    model.context = 1000
    assert tile_context(model) == pipeline_radius(model.spec, model.scale)  # never past the radius
    model.context = None
    assert tile_context(model) == pipeline_radius(model.spec, model.scale)


def test_only_the_shipped_file_takes_its_recorded_context(tmp_path, monkeypatch, random_weights):
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(folder))
    path = random_weights(folder, "espcn", 3)
    write_manifest({path.name: make_entry(path, {"x3": {}}, None, {"x3": 3})}, folder)
    assert load_model("espcn", 3).context == 3
    assert load_model("espcn", 3, path).context == 3  # the shipped file named by its path
    elsewhere = tmp_path / "mine"
    elsewhere.mkdir()
    shutil.copy(path, elsewhere / path.name)
    assert load_model("espcn", 3, elsewhere / path.name).context is None  # same name, not the shipped file
    write_manifest({path.name: make_entry(path, {"x3": {}})}, folder)
    assert load_model("espcn", 3).context is None


@pytest.mark.parametrize("name, scale, wide", [("srgan", 4, True), ("espcn", 2, False)])
def test_weights_add_records_the_context_of_wide_networks(name, scale, wide, cli, tmp_path, monkeypatch, random_weights):
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(folder))
    path = random_weights(folder, name, scale)
    _noise_set(tmp_path / "set", [112])
    added = cli(["weights", "add", str(path), "--set", str(tmp_path / "set")])
    assert added.exit_code == 0, added.stderr
    entry = json.loads((folder / "MANIFEST.json").read_text())["files"][path.name]
    if wide:
        radius = pipeline_radius(load_model(name, scale).spec, scale)
        assert set(entry["context"]) == {f"x{scale}"} and 8 <= entry["context"][f"x{scale}"] <= radius
        assert "tile context" in added.stdout and load_model(name, scale).context == entry["context"][f"x{scale}"]
    else:  # a narrow radius is cheap to honour in full: nothing measured, nothing recorded
        assert "context" not in entry and "tile context" not in added.stdout

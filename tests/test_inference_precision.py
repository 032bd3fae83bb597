"""``--precision auto`` on the CPU: bf16 only for measured, listed weights where it pays and keeps the numbers."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from upscale.hub.manifest import read_manifest, write_manifest
from upscale.hub.weights import weights_dir
from upscale.inference.loading import from_module, load_model
from upscale.inference.options import InferenceOptions, InferencePrecision, resolve_options
from upscale.inference.precision import (
    BF16_MARGIN,
    BF16_MAX_DRIFT,
    cached_timings,
    choose_cpu_precision,
    recorded_bf16_drift,
    settle_precision,
    time_precisions,
)

SHIPPED = "fsrcnn_x3.safetensors"


@pytest.fixture
def listed(tmp_path):
    """A copy of a shipped file in its own folder, with a manifest entry whose bf16 drift a test sets."""
    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(weights_dir() / SHIPPED, folder / SHIPPED)
    entry = dict(read_manifest()[SHIPPED])

    def with_drift(drift):
        entry["drift"] = {} if drift is None else {"x3": {"bf16": drift}}
        write_manifest({SHIPPED: entry}, folder)
        return load_model("fsrcnn", 3, folder / SHIPPED)

    return with_drift


def timings(fp32: float, bf16: float):
    calls = []

    def measure(model):
        calls.append(model.name)
        return {"fp32": fp32, "bf16": bf16}

    return measure, calls


def test_no_bf16_instructions_means_fp32(listed, tmp_path):
    measure, calls = timings(1.0, 0.1)
    choice = choose_cpu_precision(listed(0.0), tmp_path / "p.json", measure, has_bf16=lambda: False)
    assert choice.precision is InferencePrecision.FP32 and "no bf16" in choice.reason
    assert calls == []  # nothing timed on a CPU that cannot run it


def test_bf16_where_listed_close_and_faster(listed, tmp_path):
    measure, _ = timings(1.0, 1.0 / (BF16_MARGIN + 0.5))
    choice = choose_cpu_precision(listed(-0.01), tmp_path / "p.json", measure, has_bf16=lambda: True)
    assert choice.precision is InferencePrecision.BF16 and choice.autocast is torch.bfloat16
    assert "faster" in choice.reason and "-0.010 dB" in choice.reason


def test_fp32_where_bf16_is_not_faster_enough(listed, tmp_path):
    measure, _ = timings(1.0, 1.0 / (BF16_MARGIN - 0.05))
    choice = choose_cpu_precision(listed(0.0), tmp_path / "p.json", measure, has_bf16=lambda: True)
    assert choice.precision is InferencePrecision.FP32 and "not faster" in choice.reason


def test_fp32_where_bf16_moves_the_numbers(listed, tmp_path):
    measure, calls = timings(1.0, 0.1)
    choice = choose_cpu_precision(listed(-(BF16_MAX_DRIFT + 0.01)), tmp_path / "p.json", measure, has_bf16=lambda: True)
    assert choice.precision is InferencePrecision.FP32 and "moves" in choice.reason
    assert calls == []


def test_fp32_for_weights_the_manifest_does_not_describe(listed, tmp_path):
    measure, _ = timings(1.0, 0.1)
    unlisted = listed(None)
    assert recorded_bf16_drift(unlisted) is None
    fresh = from_module("fsrcnn", 3)  # built in code: no file at all
    for model in (unlisted, fresh):
        choice = choose_cpu_precision(model, tmp_path / "p.json", measure, has_bf16=lambda: True)
        assert choice.precision is InferencePrecision.FP32 and "not in the manifest" in choice.reason


def test_a_changed_file_loses_its_recorded_drift(listed):
    model = listed(-0.01)
    assert recorded_bf16_drift(model) == -0.01
    data = bytearray(model.source.read_bytes())
    data[-1] ^= 1  # same size, other content: the manifest no longer describes it
    model.source.write_bytes(bytes(data))
    assert recorded_bf16_drift(model) is None


def test_timings_are_measured_once_and_a_damaged_cache_again(listed, tmp_path):
    model, cache = listed(0.0), tmp_path / "cache" / "precision.json"
    measure, calls = timings(2.0, 1.0)
    assert cached_timings(model, cache, measure) == {"fp32": 2.0, "bf16": 1.0}
    assert cached_timings(model, cache, measure) == {"fp32": 2.0, "bf16": 1.0}
    assert calls == ["fsrcnn"]
    cache.write_text("{not json")
    assert cached_timings(model, cache, measure) == {"fp32": 2.0, "bf16": 1.0}
    assert calls == ["fsrcnn", "fsrcnn"]
    assert len(json.loads(cache.read_text())) == 1


def test_the_probe_times_both_precisions():
    seconds = time_precisions(from_module("fsrcnn", 2))
    assert set(seconds) == {"fp32", "bf16"} and all(s > 0 for s in seconds.values())


def test_settle_keeps_an_asked_precision_and_decides_auto(listed, monkeypatch, tmp_path):
    model = listed(0.0)
    asked = resolve_options(InferenceOptions(device="cpu", precision=InferencePrecision.FP32))
    opts, choice = settle_precision(asked, model)
    assert opts is asked and choice.precision is InferencePrecision.FP32 and choice.reason == "as resolved"
    monkeypatch.setattr("upscale.inference.precision.cpu_has_bf16", lambda: False)
    auto = resolve_options(InferenceOptions(device="cpu"))
    opts, choice = settle_precision(auto, model)
    assert not opts.auto_cpu and opts.autocast is None
    assert choice.precision is InferencePrecision.FP32 and "no bf16" in choice.reason


def test_the_engine_runs_what_auto_settled(monkeypatch):
    """auto on the CPU: the pipeline gets bf16 when the policy says so, and fp32 otherwise."""
    import upscale.inference.engine as engine
    from upscale.inference.precision import PrecisionChoice

    seen = []
    real = engine.make_pipeline

    def spy(spec, net, scale, autocast_dtype=None, gain=1.0, offset=0.0, quantize=None):
        seen.append(autocast_dtype)
        return real(spec, net, scale, autocast_dtype, gain, offset, quantize)

    monkeypatch.setattr(engine, "make_pipeline", spy)
    image = torch.rand(1, 1, 12, 12)
    for precision, dtype in ((InferencePrecision.BF16, torch.bfloat16), (InferencePrecision.FP32, None)):
        monkeypatch.setattr(
            "upscale.inference.precision.choose_cpu_precision", lambda model, p=precision: PrecisionChoice(p, "test")
        )
        engine.upscale_image(image, from_module("fsrcnn", 2), device="cpu")
        assert seen[-1] is dtype
    engine.upscale_image(image, from_module("fsrcnn", 2), device="cpu", precision="fp32")
    assert seen[-1] is None  # an asked precision is never second-guessed


def test_the_upscale_command_says_which_precision_auto_took(cli, tmp_path):
    from PIL import Image

    src = tmp_path / "in.png"
    Image.new("RGB", (12, 10), (90, 120, 30)).save(src)
    result = cli([str(src), "--model", "fsrcnn", "-x", "2", "--device", "cpu", "-o", str(tmp_path / "out.png")])
    assert result.exit_code == 0, result.stderr
    assert "fsrcnn runs in fp32 (auto: " in result.stderr or "fsrcnn runs in bf16 (auto: " in result.stderr
    quiet = cli([str(src), "--model", "fsrcnn", "-x", "2", "--precision", "fp32", "-o", str(tmp_path / "o2.png")])
    assert quiet.exit_code == 0 and "runs in" not in quiet.stderr

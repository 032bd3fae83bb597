"""Reduced-precision convolutions emulated with float32 kernels (inference/emulation.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from upscale import load_model
from upscale.evaluation.datasets import BenchmarkSet, list_images
from upscale.evaluation.evaluate import evaluate
from upscale.evaluation.restorers import network_planes
from upscale.hub.manifest import read_manifest
from upscale.hub.weights import REPO_WEIGHTS
from upscale.inference.emulation import Float32Convolutions
from upscale.inference.options import InferenceOptions, InferencePrecision

def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1),
        nn.ConvTranspose2d(32, 3, 4, stride=2, padding=1),
    ).eval()


def _input() -> torch.Tensor:
    return torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_convolution_is_the_float32_kernel_on_rounded_inputs(dtype):
    conv = nn.Conv2d(3, 16, 3, padding=1).eval()
    x = _input()
    with torch.inference_mode():
        with torch.autocast("cpu", dtype=dtype), Float32Convolutions():
            emulated = conv(x)
        rounded = lambda t: t.to(dtype).float()  # noqa: E731
        expected = nn.functional.conv2d(rounded(x), rounded(conv.weight), rounded(conv.bias), padding=1).to(dtype)
    assert emulated.dtype is dtype
    assert torch.equal(emulated, expected)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("grad", [False, True], ids=["inference", "autograd"])
@pytest.mark.parametrize("layer", [0, 2], ids=["conv-3-in", "conv-32-in"])
def test_each_layer_is_within_one_unit_of_the_reduced_kernels(dtype, grad, layer):
    # Per layer: both accumulate in float32 (288 terms here, an error near 2e-5 relative),
    # then round to the reduced type, so they differ by at most one unit in the last
    # place. Through several layers such differences compound, which is why a network is
    # checked by its PSNR instead (below). Not transposed convolutions: without bf16
    # kernels PyTorch's fallback for them rounds differently (up to 0.008 from fp32 where
    # the emulation is 0.005 off), and no shipped network runs one (FSRCNN's
    # deconvolution runs as a convolution and a pixel shuffle).
    module = _net()[layer]
    x = torch.rand(1, module.in_channels, 20, 24, generator=torch.Generator().manual_seed(1))
    context = torch.no_grad() if grad else torch.inference_mode()  # aten::convolution or aten::conv2d
    with context, torch.autocast("cpu", dtype=dtype):
        reference = module(x).float()
        with Float32Convolutions():
            emulated = module(x).float()
    with torch.no_grad():
        assert not torch.equal(reference, module(x))  # the reduced type did change the result
    inf = torch.tensor(float("inf"), dtype=dtype)
    ref, emu = reference.to(dtype), emulated.to(dtype)  # exact: both hold values of the reduced type
    neighbours = (emu == ref) | (emu == torch.nextafter(ref, inf)) | (emu == torch.nextafter(ref, -inf))
    assert neighbours.all(), (emulated - reference).abs().max()


def test_float32_convolutions_are_untouched():
    net, x = _net(), _input()
    with torch.inference_mode():
        plain = net(x)
        with Float32Convolutions():
            inside = net(x)
    assert torch.equal(plain, inside)


@pytest.mark.parametrize("name", ["espcn_x2.safetensors", "fsrcnn_x2.safetensors", "srcnn_x3.safetensors"])
def test_emulated_drift_matches_the_recorded_drift(name, shared_set):
    # These entries were recorded with the reduced kernels themselves (real or reference).
    entry = read_manifest(REPO_WEIGHTS)[name]
    scale = entry["scale"]
    folder = shared_set("Set5")
    bench = BenchmarkSet("Set5", folder, list_images(folder))
    model = load_model(entry["arch"], scale, REPO_WEIGHTS / name)
    fp32 = evaluate(entry["arch"], network_planes(model, InferenceOptions(device="cpu", precision="fp32")), bench, scale).psnr
    for precision in (InferencePrecision.FP16, InferencePrecision.BF16):
        planes = network_planes(model, InferenceOptions(device="cpu", precision=precision))
        with Float32Convolutions():
            drift = evaluate(entry["arch"], planes, bench, scale).psnr - fp32
        assert abs(drift - entry["drift"][f"x{scale}"][precision.value]) <= 0.002, (name, precision, drift)

"""The MATLAB bicubic resize, pinned against hand-derived values and a naive reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from upscale.errors import UsageError
from upscale.imaging.resize import contributions, cubic, imresize_tensor, matlab_imresize, output_size


def naive_imresize_1d(signal: list[float], scale: float) -> list[float]:
    """MATLAB's algorithm for one row, one output sample at a time (1-based, as in imresize.m)."""
    n = len(signal)
    out_len = math.ceil(n * scale - 1e-9)
    width = 4 / scale if scale < 1 else 4.0

    def kernel(x: float) -> float:
        x = abs(x * scale) if scale < 1 else abs(x)
        w = 1.5 * x**3 - 2.5 * x**2 + 1 if x <= 1 else (-0.5 * x**3 + 2.5 * x**2 - 4 * x + 2 if x <= 2 else 0.0)
        return w * scale if scale < 1 else w

    out = []
    for x in range(1, out_len + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = [left + k for k in range(math.ceil(width) + 2)]
        weights = [kernel(u - j) for j in taps]
        total = sum(weights)
        value = 0.0
        for j, w in zip(taps, weights):
            m = (j - 1) % (2 * n)  # symmetric: 1..n, n..1
            src = m if m < n else 2 * n - 1 - m
            value += w / total * signal[src]
        out.append(value)
    return out


def test_cubic_kernel_values():
    x = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 2.5], dtype=torch.float64)
    assert cubic(x).tolist() == [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0]


def test_known_upscale_of_a_ramp():
    # Hand-derived: u = 0.75 uses taps at -1, 0, 1, 2, mirrored to x2, x1, x1, x2, with
    # weights -0.0234375, 0.2265625, 0.8671875, -0.0703125.
    out = matlab_imresize(np.array([[1.0, 2.0, 3.0, 4.0]]), 2.0)[0]
    assert out[:3] == pytest.approx([0.90625, 1.1796875, 1.7265625], abs=1e-12)
    assert out[3:5] == pytest.approx([2.25, 2.75], abs=1e-12)  # the interior reproduces the ramp
    assert out[::-1] == pytest.approx(5.0 - out, abs=1e-12)  # mirror symmetry of the ramp


@pytest.mark.parametrize("scale", [2.0, 3.0, 4.0, 1 / 2, 1 / 3, 1 / 4, 0.7, 1.5])
def test_matches_naive_reference(scale):
    rng = np.random.default_rng(0)
    row = rng.random(23)
    ours = matlab_imresize(row[None, :], scale)[0]
    assert ours == pytest.approx(naive_imresize_1d(list(row), scale), abs=1e-12)


def test_symmetric_padding_indices():
    _, idx = contributions(4, 8, 2.0)
    assert idx[0].tolist() == [1, 0, 0, 1]  # taps -1, 0, 1, 2 (1-based) mirror to 2, 1, 1, 2
    assert idx[-1].tolist() == [2, 3, 3, 2]


def test_antialias_widens_the_kernel_when_shrinking():
    weights, _ = contributions(64, 16, 0.25)
    assert weights.shape[1] >= 16  # 4 / scale taps, minus all-zero columns
    assert torch.allclose(weights.sum(dim=1), torch.ones(16, dtype=torch.float64))


@pytest.mark.parametrize("shape,scale,expected", [((7, 9), 1 / 3, (3, 3)), ((255, 256), 1 / 3, (85, 86)), ((5, 4), 0.5, (3, 2)), ((3, 5), 4.0, (12, 20))])
def test_output_sizes_are_ceil(shape, scale, expected):
    assert matlab_imresize(np.zeros(shape), scale).shape == expected


def test_output_size_ignores_float_noise():
    assert output_size(255, 1 / 3) == 85
    assert output_size(85, 3.0) == 255


@pytest.mark.parametrize("scale", [2.0, 1 / 3, 0.25, 1.7])
def test_constant_stays_constant(scale):
    out = matlab_imresize(np.full((17, 13, 3), 0.3), scale)
    assert np.abs(out - 0.3).max() < 1e-12


def test_uint8_in_uint8_out_rounded_and_clipped():
    img = np.zeros((8, 8), dtype=np.uint8)
    img[:, 4:] = 255  # a hard edge overshoots with a = -0.5; must clip, not wrap
    out = matlab_imresize(img, 2.0)
    assert out.dtype == np.uint8
    as_float = matlab_imresize(img.astype(np.float64), 2.0)
    assert as_float.max() > 255 and as_float.min() < 0
    assert out.max() == 255 and out.min() == 0


def test_torch_matches_numpy_and_keeps_device_dtype():
    rng = np.random.default_rng(1)
    img = rng.random((3, 20, 14))
    t = torch.from_numpy(img).float()
    out = matlab_imresize(t, 0.5)
    assert out.dtype == torch.float32 and out.shape == (3, 10, 7)
    ref = matlab_imresize(img.transpose(1, 2, 0), 0.5).transpose(2, 0, 1)
    assert np.abs(out.numpy() - ref).max() < 1e-5


def test_explicit_size_and_bad_arguments():
    out = matlab_imresize(np.zeros((10, 10)), size=(5, 20))
    assert out.shape == (5, 20)
    with pytest.raises(UsageError):
        matlab_imresize(np.zeros((4, 4)), 0)
    with pytest.raises(UsageError):
        matlab_imresize(np.zeros((4, 4)), 2.0, size=(8, 8))
    with pytest.raises(UsageError):
        matlab_imresize(np.zeros((4, 4), dtype=np.int8), 2.0)


def test_differs_from_torch_interpolate():
    # torch's bicubic (a = -0.75, no antialiasing) is not MATLAB's: the test that would
    # catch a silent substitution.
    img = torch.rand(1, 1, 32, 32, dtype=torch.float64)
    theirs = torch.nn.functional.interpolate(img, scale_factor=0.5, mode="bicubic", align_corners=False)
    assert (matlab_imresize(img, 0.5) - theirs).abs().max() > 1e-3


@pytest.mark.parametrize("n", [1, 2, 5, 16, 33])
@pytest.mark.parametrize("scale", [2.0, 3.0, 4.0, 1 / 2, 1 / 3, 1 / 4])
def test_polyphase_path_equals_the_gathered_taps(n, scale):
    # Integer factors run as shifted views of a symmetrically padded input; the result
    # must be MATLAB's contributions exactly (or the gather path where padding can't mirror).
    from upscale.imaging.resize import _resize_dim, polyphase

    x = torch.from_numpy(np.random.default_rng(n).random((2, 3, n)))
    out_len = output_size(n, scale)
    weights, idx = contributions(n, out_len, scale)
    expected = (x[..., idx] * weights).sum(-1)
    got = _resize_dim(x, 2, out_len, scale, None)
    assert torch.allclose(got, expected, atol=1e-13)
    if n >= 16:
        assert polyphase(n, out_len, scale) is not None  # the fast path really ran


@pytest.mark.parametrize("shape", [(1, 5, 7), (3, 17, 40), (2, 33, 16), (1, 70, 3)])
@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_unrounded_integer_upscale_is_the_per_tap_passes(shape, scale):
    # Inference's chroma goes through the band-matrix path (width first, blocks of 16 output
    # groups, a last block cut short); it must be the per-tap passes, rounding aside.
    from upscale.imaging.resize import _resize_dim, upscale_band

    x = torch.from_numpy(np.random.default_rng(scale).random(shape))
    h, w = shape[1] * scale, shape[2] * scale
    per_tap = _resize_dim(_resize_dim(x, 1, h, float(scale), None), 2, w, float(scale), None)
    upscale_band.cache_clear()
    got = imresize_tensor(x, float(scale))
    assert upscale_band.cache_info().misses == 2  # both passes took the band path
    assert got.shape == per_tap.shape == (shape[0], h, w)
    assert torch.allclose(got, per_tap, rtol=0, atol=1e-12)
    # Rounded data keeps MATLAB's order, pass by pass, bit for bit.
    upscale_band.cache_clear()
    imresize_tensor(x * 255, float(scale), quantize_max=255.0)
    assert upscale_band.cache_info().misses == 0


@pytest.mark.parametrize("shape", [(2, 3, 32, 20), (1, 3, 17, 9)])  # rows in full blocks of 16, and not
@pytest.mark.parametrize("scale", [2, 4])
def test_upscale_plus_is_the_resize_plus_the_weighted_addend(shape, scale):
    from upscale.imaging.resize import upscale_plus

    gen = torch.Generator().manual_seed(scale)
    x = torch.rand(*shape, generator=gen, dtype=torch.float64)
    addend = torch.rand(shape[0], 1, shape[2] * scale, shape[3] * scale, generator=gen, dtype=torch.float64)
    weights = (1.5, -0.25, 255.0)
    expected = imresize_tensor(x, float(scale)) + torch.tensor(weights, dtype=torch.float64).view(3, 1, 1) * addend
    got = upscale_plus(x, scale, addend, weights)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("shape", [(2, 3, 32, 20), (1, 3, 17, 9)])  # the plane-by-plane path, and the fallback
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32])
def test_upscale_plus_quantized_is_the_float_sum_clamped_and_truncated(shape, dtype):
    from upscale.imaging.quantize import Quantizer
    from upscale.imaging.resize import upscale_plus

    gen = torch.Generator().manual_seed(shape[2])
    x = torch.rand(*shape, generator=gen) * 300 - 20  # past both ends of [0, 255]
    addend = torch.rand(shape[0], 1, shape[2] * 4, shape[3] * 4, generator=gen)
    weights = (1.0, 0.5, -0.75)
    float_sum = upscale_plus(x, 4, addend, weights)
    got = upscale_plus(x, 4, addend, weights, Quantizer(255.0, dtype))
    assert got.dtype == dtype and got.shape == float_sum.shape
    assert float_sum.min() < 0 and float_sum.max() > 255  # both clamps are exercised
    assert torch.equal(got, float_sum.clamp(0, 255).to(dtype))


def test_quantizer_clamps_and_rounds_half_up_from_offset_values():
    from upscale.imaging.quantize import Quantizer

    scratch = torch.tensor([-3.0, 0.49, 0.5, 1.5, 2.4999, 254.5, 255.5, 1e6]) + 0.5
    assert Quantizer(255.0, torch.uint8)(scratch.clone()).tolist() == [0, 0, 1, 2, 2, 255, 255, 255]
    out = torch.zeros(8, dtype=torch.int32)
    Quantizer(1000.0, torch.int32).into(scratch, out)
    assert out.tolist() == [0, 0, 1, 2, 2, 255, 256, 1000]

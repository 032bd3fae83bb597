"""PSNR, SSIM, colour conversion and cropping against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import torch
import pytest

from upscale.imaging.color import add_luma, chroma_terms, rgb_to_y, rgb_to_ycbcr, ycbcr_planes_to_rgb, ycbcr_to_rgb
from upscale.imaging.resize import imresize_tensor
from upscale.errors import UsageError
from upscale.evaluation.metrics import modcrop, psnr, quantize, shave, ssim


def test_identical_images():
    a = np.random.default_rng(0).integers(0, 256, (32, 32)).astype(np.float64)
    assert psnr(a, a) == math.inf
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)


def test_known_mse():
    a = np.full((20, 20), 100.0)
    b = a + 2.0  # MSE = 4
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 4))


def test_shave_removes_border_differences():
    a = np.zeros((20, 20))
    b = a.copy()
    b[:3, :] = 50
    assert psnr(a, b, border=3) == math.inf
    assert psnr(a, b, border=2) < math.inf
    assert shave(a, 3).shape == (14, 14)


def test_ssim_of_constant_offset_by_hand():
    # Zero variance: SSIM = (2 m1 m2 + C1) / (m1^2 + m2^2 + C1), C1 = (0.01 * 255)^2.
    a, b = np.full((16, 16), 100.0), np.full((16, 16), 120.0)
    c1 = (0.01 * 255) ** 2
    assert ssim(a, b) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1), rel=1e-12)


def _one_window_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang's formula for a single 11x11 window with fspecial('gaussian', 11, 1.5)."""
    x = np.arange(11) - 5
    g = np.exp(-(x**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = (w * a).sum(), (w * b).sum()
    va, vb, cov = (w * a * a).sum() - ma**2, (w * b * b).sum() - mb**2, (w * a * b).sum() - ma * mb
    return (2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2))


def test_ssim_is_the_mean_over_valid_windows():
    rng = np.random.default_rng(2)
    a, b = rng.random((11, 12)) * 255, rng.random((11, 12)) * 255
    assert ssim(a[:, :11], b[:, :11]) == pytest.approx(_one_window_ssim(a[:, :11], b[:, :11]), rel=1e-10)
    two = (_one_window_ssim(a[:, :11], b[:, :11]) + _one_window_ssim(a[:, 1:], b[:, 1:])) / 2
    assert ssim(a, b) == pytest.approx(two, rel=1e-10)
    with pytest.raises(UsageError):
        ssim(a[:10], b[:10])


def test_ssim_drops_with_noise_and_is_symmetric():
    rng = np.random.default_rng(3)
    a = rng.random((40, 40)) * 255
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255)
    assert 0 < ssim(a, b) < 1
    assert ssim(a, b) == pytest.approx(ssim(b, a), abs=1e-12)


def test_mismatched_shapes_are_an_error():
    with pytest.raises(UsageError):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))


def test_modcrop():
    assert modcrop(np.zeros((13, 10, 3)), 4).shape == (12, 8, 3)
    assert modcrop(np.zeros((12, 9)), 3).shape == (12, 9)


def test_quantize_rounds_half_away_from_zero_and_clips():
    assert quantize(np.array([0.5, 1.5, 2.5, -3.0, 300.0])).tolist() == [1, 2, 3, 0, 255]


def test_bt601_studio_swing():
    assert rgb_to_y(np.array([0.0, 0.0, 0.0])) * 255 == pytest.approx(16.0)
    assert rgb_to_y(np.array([1.0, 1.0, 1.0])) * 255 == pytest.approx(235.0)
    ycc = rgb_to_ycbcr(np.array([1.0, 0.0, 0.0])) * 255
    assert ycc == pytest.approx([16 + 65.481, 128 - 37.797, 128 + 112.0])


def test_ycbcr_round_trip():
    rgb = np.random.default_rng(4).random((5, 6, 3))
    assert np.abs(ycbcr_to_rgb(rgb_to_ycbcr(rgb)) - rgb).max() < 1e-12


def test_torch_colour_conversion_matches_numpy_in_any_layout():
    rgb = np.random.default_rng(5).random((2, 5, 6, 3))
    planar = torch.from_numpy(rgb).permute(0, 3, 1, 2).contiguous()
    for x in (planar, planar.contiguous(memory_format=torch.channels_last)):
        ycc = rgb_to_ycbcr(x)
        assert ycc.is_contiguous()  # planar: what a network reads
        assert np.abs(ycc.permute(0, 2, 3, 1).numpy() - rgb_to_ycbcr(rgb)).max() < 1e-12
        back = ycbcr_to_rgb(ycc, 255.0, 0.5)
        assert np.abs(back.permute(0, 2, 3, 1).numpy() - (rgb * 255 + 0.5)).max() < 1e-9


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_resizing_the_chroma_terms_is_converting_the_resized_chroma(scale: int):
    """What the Y models' pipeline relies on: the conversion's chroma part commutes with the bicubic."""
    ycc = rgb_to_ycbcr(torch.rand(1, 3, 11, 13, dtype=torch.float64))
    luma = torch.rand(1, 1, 11 * scale, 13 * scale, dtype=torch.float64)
    late = ycbcr_planes_to_rgb(luma, imresize_tensor(ycc[:, 1:], float(scale)), 255.0, 0.5)
    early = add_luma(imresize_tensor(chroma_terms(ycc[:, 1:], 255.0, 0.5), float(scale)), luma, 255.0)
    assert early.shape == late.shape == (1, 3, 11 * scale, 13 * scale)
    assert torch.allclose(early, late, rtol=0, atol=1e-9)
    assert (late - late.mean()).abs().max() > 10  # not a flat picture


def test_luma_and_chroma_planes_join_into_planar_rgb():
    # Planar: the engine interleaves after truncating to integers (engine._upscale_planes).
    ycc = rgb_to_ycbcr(torch.rand(2, 3, 5, 6, dtype=torch.float64))
    rgb = ycbcr_planes_to_rgb(ycc[:, :1], ycc[:, 1:], 65535.0, 0.5)
    assert rgb.shape == (2, 3, 5, 6) and rgb.is_contiguous()
    assert torch.allclose(rgb, ycbcr_to_rgb(ycc, 65535.0, 0.5), rtol=0, atol=1e-9)


def test_luma_and_chroma_terms_in_one_product_are_the_two_steps():
    # The Y models' pipeline takes Y and the chroma terms from RGB in one 4x3 product.
    from upscale.imaging.color import luma_and_chroma_terms

    rgb = torch.rand(2, 3, 7, 9, dtype=torch.float64)
    ycc = rgb_to_ycbcr(rgb)
    for gain, offset in ((1.0, 0.0), (255.0, 0.5), (65535.0, 0.5)):
        luma, terms = luma_and_chroma_terms(rgb, gain, offset)
        assert luma.shape == (2, 1, 7, 9) and terms.shape == (2, 3, 7, 9)
        assert torch.allclose(luma, ycc[:, :1], rtol=0, atol=1e-12)
        assert torch.allclose(terms, chroma_terms(ycc[:, 1:], gain, offset), rtol=0, atol=1e-9 * gain)

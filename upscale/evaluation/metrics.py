"""PSNR and SSIM exactly as the SR papers compute them.

Both take two single-channel images in the 0..255 range (uint8 or float), already
reduced to the channel that is measured (Y, or the gray plane), and shave
``border`` pixels from every side first. Set means are means of per-image values.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UsageError

PEAK = 255.0


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of ``scale``."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def shave(image: np.ndarray, border: int) -> np.ndarray:
    """Remove ``border`` pixels from every side."""
    if border == 0:
        return image
    return image[border:-border, border:-border]


def _check_pair(a: np.ndarray, b: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape or a.ndim != 2:
        raise UsageError(f"metrics need two single-channel images of one shape, got {a.shape} and {b.shape}")
    a = shave(np.asarray(a, dtype=np.float64), border)
    b = shave(np.asarray(b, dtype=np.float64), border)
    if a.size == 0:
        raise UsageError(f"image too small to shave {border} pixels")
    return a, b


def psnr(a: np.ndarray, b: np.ndarray, border: int = 0) -> float:
    """10 log10(255^2 / MSE); infinite for identical images."""
    a, b = _check_pair(a, b, border)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(PEAK**2 / mse)


def _gaussian_1d() -> np.ndarray:
    """The separable factor of MATLAB ``fspecial('gaussian', 11, 1.5)``."""
    x = np.arange(11, dtype=np.float64) - 5
    g = np.exp(-(x * x) / (2 * 1.5**2))
    return g / g.sum()


def _filter_valid(x: np.ndarray) -> np.ndarray:
    """``filter2(window, x, 'valid')`` over the last two axes, one separable pass each.

    Eleven shifted multiply-adds per axis: float64 convolution in torch is several
    times slower on the CPU, and SSIM dominated evaluation time.
    """
    g = _gaussian_1d()
    h, w = x.shape[-2] - 10, x.shape[-1] - 10
    rows = sum(g[k] * x[..., k : k + h, :] for k in range(11))
    return sum(g[k] * rows[..., k : k + w] for k in range(11))


def ssim(a: np.ndarray, b: np.ndarray, border: int = 0) -> float:
    """Wang et al. ``ssim_index.m`` (2003): K1 0.01, K2 0.03, L 255, 'valid' filtering."""
    a, b = _check_pair(a, b, border)
    if min(a.shape) < 11:
        raise UsageError(f"SSIM needs at least 11x11 pixels after shaving, got {a.shape}")
    c1, c2 = (0.01 * PEAK) ** 2, (0.03 * PEAK) ** 2
    mu_a, mu_b, e_aa, e_bb, e_ab = _filter_valid(np.stack([a, b, a * a, b * b, a * b]))
    var_a, var_b = e_aa - mu_a * mu_a, e_bb - mu_b * mu_b
    cov = e_ab - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    return float((num / den).mean())


def quantize(image: np.ndarray, peak: float = PEAK) -> np.ndarray:
    """Round float data in 0..peak to integers as MATLAB's uint8()/uint16() do."""
    return np.clip(np.floor(np.asarray(image, dtype=np.float64) + 0.5), 0, peak)

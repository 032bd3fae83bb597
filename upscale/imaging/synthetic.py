"""A built-in test picture, drawn in code, so the demo never needs a user's file."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def _zone_plate(size: int) -> np.ndarray:
    """A radial chirp reaching half the Nyquist frequency at its edge: a classic resampling test."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) - size / 2
    return 0.5 + 0.5 * np.cos(np.pi * (x * x + y * y) / (4.0 * size))


def demo_image(size: int = 256) -> np.ndarray:
    """An RGB uint8 picture with a zone plate, text, thin lines, edges and soft gradients."""
    half = size // 2
    y, x = np.mgrid[0:size, 0:size] / size
    rgb = np.stack([0.25 + 0.5 * x, 0.35 + 0.3 * y, 0.6 - 0.3 * x * y], axis=-1)
    rgb[:half, :half] = _zone_plate(half)[..., None]
    img = Image.fromarray(np.round(rgb * 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(10, size // 14))
    for i, text in enumerate(("upscale", "Keys a=-0.5", "PSNR 0123")):
        draw.text((half + 6, 8 + i * size // 10), text, fill=(20, 20, 60), font=font)
    for i in range(8):  # lines of growing slope: aliasing shows as jaggies
        draw.line([(half + 4, half + 6 + 14 * i), (size - 4, half + 6 + 10 * i)], fill=(250, 250, 240), width=2)
    for i, color in enumerate(((200, 40, 40), (40, 160, 60), (40, 70, 200))):
        r = size // 12
        cx, cy = size // 8 + i * size // 8, size - size // 8
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color, outline=(0, 0, 0))
    return np.asarray(img)

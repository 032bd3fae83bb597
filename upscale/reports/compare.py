"""Side-by-side comparison pictures: labelled crops of several results of one image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..evaluation.evaluate import score_pair
from ..evaluation.metrics import modcrop
from ..imaging.resize import matlab_imresize
from ..inference.engine import upscale_with
from ..inference.loading import load_model
from ..inference.options import InferenceOptions, InferencePrecision, resolve_options


@dataclass(frozen=True)
class Panel:
    label: str
    image: np.ndarray  # uint8 HxW or HxWx3, all panels the same size
    psnr: Optional[float] = None


def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``box`` = (left, top, width, height), clipped to the image."""
    left, top, width, height = box
    return image[max(top, 0) : top + height, max(left, 0) : left + width]


# Past this many panels a single row shrinks each crop to a sliver where a README or a
# slide scales the picture to its width, so longer comparisons wrap into balanced rows.
MAX_COLUMNS = 7


def sheet_columns(count: int, columns: Optional[int] = None) -> int:
    """Panels per row: ``columns`` if given, else the fewest balanced rows of at most MAX_COLUMNS."""
    if count < 1:
        return 1
    if columns is not None:
        return max(1, min(columns, count))
    rows = -(-count // MAX_COLUMNS)
    return -(-count // rows)


def comparison_sheet(
    panels: Sequence[Panel], zoom: int = 2, gap: int = 4, columns: Optional[int] = None
) -> Image.Image:
    """Panels in rows, each enlarged by nearest-neighbour ``zoom`` and captioned below."""
    tiles = [Image.fromarray(p.image).convert("RGB") for p in panels]
    tiles = [t.resize((t.width * zoom, t.height * zoom), Image.Resampling.NEAREST) for t in tiles]
    font = ImageFont.load_default(size=14)
    caption = 36
    per_row = sheet_columns(len(tiles), columns)
    cell_w = max(t.width for t in tiles) + gap
    cell_h = max(t.height for t in tiles) + caption + gap
    rows = -(-len(tiles) // per_row)
    sheet = Image.new("RGB", (per_row * cell_w + gap, rows * cell_h + gap), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, (panel, tile) in enumerate(zip(panels, tiles)):
        x, y = gap + (i % per_row) * cell_w, gap + (i // per_row) * cell_h
        sheet.paste(tile, (x, y))
        draw.text((x, y + tile.height + 2), panel.label, fill=(0, 0, 0), font=font)
        if panel.psnr is not None:
            draw.text((x, y + tile.height + 18), f"{panel.psnr:.2f} dB", fill=(90, 90, 90), font=font)
    return sheet


Restorer = Callable[[np.ndarray], np.ndarray]  # uint8 LR -> uint8 SR


def restorer(name: str, scale: int, weights: Optional[Path] = None) -> Restorer:
    """``bicubic`` (the MATLAB resize), or a network with its shipped or given weights, in fp32."""
    if name.lower() == "bicubic":
        return lambda lr: matlab_imresize(lr, float(scale))
    model = load_model(name, scale, weights)
    opts = resolve_options(InferenceOptions(precision=InferencePrecision.FP32))
    return lambda lr: upscale_with(lr, model, opts)


def compare_methods(
    hr: np.ndarray,
    scale: int,
    methods: Sequence[tuple[str, Restorer]],
    box: Optional[tuple[int, int, int, int]] = None,
) -> tuple[list[Panel], list[tuple[str, np.ndarray, float, float]]]:
    """Degrade ``hr`` with the MATLAB bicubic, restore it with each method, measure, crop.

    Returns the panels (nearest-neighbour LR, each method with its PSNR, HR) and, per
    method, its full output with PSNR and SSIM (Y, border shaved by the scale).
    """
    hr = modcrop(hr, scale)
    lr = matlab_imresize(hr, 1.0 / scale)
    if box is None:
        side = min(96, hr.shape[0], hr.shape[1])
        box = ((hr.shape[1] - side) // 2, (hr.shape[0] - side) // 2, side, side)
    nearest = np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)
    panels, outputs = [Panel(f"LR x{scale} (nearest)", crop(nearest, box))], []
    for name, restore in methods:
        sr = restore(lr)
        p, s = score_pair(hr, sr, scale)
        outputs.append((name, sr, p, s))
        panels.append(Panel(name, crop(sr, box), p))
    panels.append(Panel("HR", crop(hr, box)))
    return panels, outputs

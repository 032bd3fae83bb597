"""The demo: the built-in picture, degraded and restored, measured and shown side by side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..evaluation.metrics import modcrop
from ..hub.choice import shipped_models
from ..imaging.image_io import write_png
from ..imaging.resize import matlab_imresize
from ..imaging.synthetic import demo_image
from .compare import compare_methods, comparison_sheet, restorer


@dataclass(frozen=True)
class DemoScore:
    method: str
    psnr: float
    ssim: float
    path: Path


@dataclass(frozen=True)
class DemoResult:
    scale: int
    hr_path: Path
    lr_path: Path
    comparison_path: Path
    scores: tuple[DemoScore, ...]


DEMO_MODELS = 2  # the best shipped models shown next to bicubic: a strip that stays readable


def run_demo(out_dir: Path, scale: int = 4, size: int = 256) -> DemoResult:
    """Write the HR picture, its LR version, each restoration and a comparison into ``out_dir``.

    Bicubic, then the best shipped models at ``scale`` by Set5 PSNR.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    hr = modcrop(demo_image(size), scale)
    names = ["bicubic"] + [m.name for m in shipped_models(scale)[:DEMO_MODELS]]
    methods = [(name, restorer(name, scale)) for name in names]
    box = (hr.shape[1] // 2 - 24, 0, 112, 80)  # the text and the chirp's edge
    panels, outputs = compare_methods(hr, scale, methods, box)
    hr_path, lr_path = out_dir / "hr.png", out_dir / f"lr_x{scale}.png"
    write_png(hr_path, Image.fromarray(hr))
    write_png(lr_path, Image.fromarray(matlab_imresize(hr, 1.0 / scale)))
    scores = []
    for name, sr, p, s in outputs:
        path = out_dir / f"{name}_x{scale}.png"
        write_png(path, Image.fromarray(sr))
        scores.append(DemoScore(name, p, s, path))
    comparison_path = out_dir / "comparison.png"
    write_png(comparison_path, comparison_sheet(panels))
    return DemoResult(scale, hr_path, lr_path, comparison_path, tuple(scores))

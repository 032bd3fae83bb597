"""Benchmark evaluation: the exact protocol of the SR papers, one image at a time.

Protocol: modcrop HR to a multiple of the scale; the method under test returns the
measured plane of the reference and of its SR output (Y, BT.601 studio swing, SR
quantised to uint8; gray images on their one channel); ``scale`` pixels are shaved
from every border; PSNR and SSIM are computed per image and then averaged.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ..imaging.color import rgb_to_y
from ..imaging.image_io import read_image
from ..progress import Progress, ProgressFn, no_progress
from .datasets import BenchmarkSet
from .metrics import modcrop, psnr, ssim

# (modcropped uint8 HR, scale) -> (reference plane, SR plane), both 0..255
PlanesFn = Callable[[np.ndarray, int], "tuple[np.ndarray, np.ndarray]"]


@dataclass(frozen=True)
class ImageScore:
    name: str
    psnr: float
    ssim: float


@dataclass(frozen=True)
class EvalResult:
    """Scores of one method on one set at one scale; JSON-ready via :meth:`to_dict`."""

    model: str
    set: str
    scale: int
    psnr: float
    ssim: float
    n_images: int
    seconds: float
    images: tuple[ImageScore, ...]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EvalResult":
        """The inverse of :meth:`to_dict`. A record that kept only the means (no ``images``, or
        null for a number it did not keep) reads with no images and NaN there."""

        def number(value: Any) -> float:
            return math.nan if value is None else float(value)

        return cls(data["model"], data["set"], int(data["scale"]), float(data["psnr"]), number(data["ssim"]),
                   int(data["n_images"]), number(data["seconds"]),
                   tuple(ImageScore(**i) for i in data.get("images", ())))


def score_image(hr: np.ndarray, scale: int, planes: PlanesFn) -> tuple[float, float]:
    """PSNR and SSIM of one HR image under the protocol."""
    ref, out = planes(modcrop(hr, scale), scale)
    return psnr(ref, out, border=scale), ssim(ref, out, border=scale)


def evaluate(
    model: str,
    planes: PlanesFn,
    bench: BenchmarkSet,
    scale: int,
    progress: ProgressFn = no_progress,
) -> EvalResult:
    """Run ``planes`` over every image of ``bench`` and average the per-image scores."""
    start = time.perf_counter()
    task = f"{model} {bench.name} x{scale}"
    scores = []
    for i, path in enumerate(bench.files):
        progress(Progress(task, i, len(bench.files), path.stem))
        p, s = score_image(center_crop(read_image(path), bench.crop), scale, planes)
        scores.append(ImageScore(path.stem, p, s))
    progress(Progress(task, len(bench.files), len(bench.files)))
    return EvalResult(
        model=model,
        set=bench.name,
        scale=scale,
        psnr=float(np.mean([s.psnr for s in scores])),
        ssim=float(np.mean([s.ssim for s in scores])),
        n_images=len(scores),
        seconds=time.perf_counter() - start,
        images=tuple(scores),
    )


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` pixels (fewer where the image is smaller); 0: the whole image."""
    if size <= 0:
        return image
    h, w = image.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top:top + size, left:left + size]


def measured_plane(image: np.ndarray) -> np.ndarray:
    """The plane the protocol measures of a uint8 image: Y (float, 0..255) or the gray plane."""
    if image.ndim == 2:
        return image.astype(np.float64)
    return rgb_to_y(image / 255.0) * 255.0


def score_pair(hr: np.ndarray, sr: np.ndarray, scale: int) -> tuple[float, float]:
    """PSNR and SSIM of a uint8 SR result against its uint8 HR, border shaved by ``scale``."""
    ref, out = measured_plane(hr), measured_plane(sr)
    return psnr(ref, out, border=scale), ssim(ref, out, border=scale)

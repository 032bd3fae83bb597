"""Training patches: HR images decoded once, samples drawn deterministically per index.

Networks are fed exactly as eval feeds them (see ``upscale.methods``): Y models get
the rounded Y of the uint8 HR, MATLAB-resized down in floating point (unrounded);
RGB models get the uint8 LR that MATLAB's ``imresize`` of the uint8 HR makes. Every
random choice of a sample comes from ``np.random.default_rng([seed, index])``, so a
sample depends on nothing but (seed, index): resumed runs, DataLoader workers and
multi-GPU ranks all draw bit-identical data without any RNG state to save or seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..baseline import y_plane_uint8
from ..datasets import IMAGE_EXTENSIONS, list_images
from ..errors import DatasetError, ImageReadError
from ..image_io import read_image
from ..resize import matlab_imresize

EXCLUDED_STEMS = frozenset({"302003"})  # BSD200 302003: Set5 'woman' is a crop of it; never train on it
_EXCLUDE_REASONS = {"302003": "BSD200 302003 contains Set5 'woman' (a crop of it), a test image"}


@dataclass(frozen=True, eq=False)
class HRImage:
    """One decoded training image: ``array`` is read-only uint8 ``HxWx3``."""

    name: str
    path: Path
    array: np.ndarray


@dataclass(frozen=True)
class PatchSpec:
    """What one training sample looks like (see the module docstring for the pipeline)."""

    scales: tuple[int, ...]  # one entry normally; several for multi-scale training (VDSR)
    hr_patch: int  # HR patch side; divisible by every scale
    color: str  # "y" or "rgb"
    pre_upsample: bool  # input = MATLAB-bicubic upsample of LR back to hr_patch (SRCNN/VDSR/DRCN)
    augment: bool = True  # the 8 flips/rotations
    scale_aug: tuple[float, ...] = ()  # random downscale factors of the HR content, in (0, 1]


# --------------------------------------------------------------------------- loading


def _decode(path: Path, warn: Callable[[str], None]) -> np.ndarray | None:
    """``HxWx3`` uint8, or None after a warning: one bad file must not end a long run."""
    try:
        arr = read_image(path)
    except ImageReadError as exc:
        inner = exc.__cause__ or exc.__context__  # the decoder's own error, when read_image chained it
        reason = str(inner) if inner is not None else str(exc).removeprefix(f"{path}: ")
        warn(f"{path}: cannot decode ({reason}); skipped")
        return None
    if arr.ndim == 2:  # gray: three equal channels, so every pipeline sees RGB
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    arr = np.ascontiguousarray(arr)
    arr.setflags(write=False)
    return arr


def load_hr_images(
    dirs: Sequence[Path],
    warn: Callable[[str], None] = lambda m: None,
    exclude: frozenset[str] = EXCLUDED_STEMS,
) -> list[HRImage]:
    """Decode every image of ``dirs`` once (folders in order, files by name)."""
    images: list[HRImage] = []
    for folder in map(Path, dirs):
        if not folder.exists():
            raise DatasetError(f"training folder {folder} does not exist")
        if not folder.is_dir():
            raise DatasetError(f"training folder {folder} is not a folder")
        for path in list_images(folder):
            if path.stem in exclude:
                why = _EXCLUDE_REASONS.get(path.stem, "its name is in the exclusion list")
                warn(f"{path}: excluded from training ({why}); skipped")
                continue
            arr = _decode(path, warn)
            if arr is not None:
                images.append(HRImage(path.stem, path, arr))
    if not images:
        where = ", ".join(str(d) for d in dirs) or "(no folders given)"
        raise DatasetError(f"no training images in {where} (looked for {' '.join(IMAGE_EXTENSIONS)})")
    return images


# --------------------------------------------------------------------------- patches


def _crop_side(hr_patch: int, factor: float) -> int:
    """HR side to crop so that resizing by ``factor`` gives ``hr_patch`` (float-noise safe)."""
    return hr_patch if factor == 1.0 else math.ceil(hr_patch / factor - 1e-9)


def _validate(spec: PatchSpec) -> None:
    if not spec.scales or any(int(s) != s or s < 1 for s in spec.scales):
        raise DatasetError(f"training scales must be positive integers, got {spec.scales}")
    if spec.hr_patch < 1 or any(spec.hr_patch % s for s in spec.scales):
        raise DatasetError(f"HR patch {spec.hr_patch} is not divisible by every scale of {spec.scales}")
    if spec.color not in ("y", "rgb"):
        raise DatasetError(f"training color must be 'y' or 'rgb', got {spec.color!r}")
    if any(not 0 < f <= 1 for f in spec.scale_aug):
        raise DatasetError(f"scale augmentation factors must lie in (0, 1], got {spec.scale_aug}")
    if len(set(spec.scales)) > 1 and not spec.pre_upsample:
        raise DatasetError(
            f"multi-scale training {spec.scales} needs pre_upsample: LR patches of different sizes cannot be batched"
        )


def _augment(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One of the 8 rotations/flips (rot90 by k, then an optional horizontal flip)."""
    patch = np.rot90(patch, int(rng.integers(4)))
    return patch[:, ::-1] if rng.integers(2) else patch


def _chw(arr: np.ndarray) -> torch.Tensor:
    """HxW or HxWxC float -> float32 CxHxW tensor."""
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr)).float()


def make_pair(hr: np.ndarray, scale: int, color: str, pre_upsample: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(input, target) of a uint8 HR patch, prepared exactly as eval prepares a whole image."""
    if color == "y":
        target = y_plane_uint8(hr) / 255.0
        lr = matlab_imresize(target, 1.0 / scale)  # float64, unrounded
    else:
        target = hr / 255.0
        lr = matlab_imresize(hr, 1.0 / scale) / 255.0  # uint8 LR, rounded after each pass
    inp = matlab_imresize(lr, float(scale)) if pre_upsample else lr
    return _chw(inp), _chw(target)


class PatchDataset(Dataset):
    """``length`` samples; sample ``index`` is a pure function of ``(seed, index)``."""

    def __init__(self, images: list[HRImage], spec: PatchSpec, seed: int, length: int):
        _validate(spec)
        if seed < 0 or length < 0:
            raise DatasetError(f"seed and length must be non-negative, got {seed} and {length}")
        self.spec, self.seed, self.length = spec, int(seed), int(length)
        self.factors = tuple(spec.scale_aug) or (1.0,)
        need = min(_crop_side(spec.hr_patch, f) for f in self.factors)
        self.images = [im for im in images if min(im.array.shape[:2]) >= need]
        if not self.images:
            if not images:
                raise DatasetError("no training images given")
            big = max(images, key=lambda im: min(im.array.shape[:2]))
            h, w = big.array.shape[:2]
            raise DatasetError(
                f"HR patch {spec.hr_patch} (crop {need}) is larger than every training image; "
                f"the largest is {big.path} at {w}x{h}"
            )
        # Integer cumulative pixel counts: exact, numpy-version-proof weighted choice.
        self._cum = np.cumsum([im.array.shape[0] * im.array.shape[1] for im in self.images], dtype=np.int64)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        if not 0 <= index < self.length:
            raise IndexError(f"sample {index} out of range 0..{self.length - 1}")
        spec = self.spec
        rng = np.random.default_rng([self.seed, int(index)])
        image = self.images[int(np.searchsorted(self._cum, rng.integers(self._cum[-1]), side="right"))]
        scale = int(spec.scales[rng.integers(len(spec.scales))])
        h, w = image.array.shape[:2]
        # Only factors whose crop fits this image: downscaling a small image by f would
        # leave it smaller than the patch, so those (image, factor) pairs do not exist.
        fitting = [f for f in self.factors if _crop_side(spec.hr_patch, f) <= min(h, w)]
        factor = fitting[rng.integers(len(fitting))]
        side = _crop_side(spec.hr_patch, factor)
        top, left = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
        hr = image.array[top : top + side, left : left + side]
        if side != spec.hr_patch:  # crop-then-resize == resize-whole-image-then-crop, far cheaper
            hr = matlab_imresize(hr, size=(spec.hr_patch, spec.hr_patch))
        if spec.augment:
            hr = _augment(hr, rng)
        inp, target = make_pair(np.ascontiguousarray(hr), scale, spec.color, spec.pre_upsample)
        return inp, target, scale


# --------------------------------------------------------------------------- loading batches


class StepSampler(Sampler):
    """Batches of sample indices for global steps ``start_step .. steps-1`` on one rank.

    Step t on rank r uses indices ``(t * world + r) * batch + i``: ranks never overlap,
    a resumed run draws exactly what an uninterrupted one would, and K GPUs draw what
    K consecutive steps on one GPU would. A ``DistributedSampler`` cannot do this: it
    shuffles a whole epoch at a time and cannot start in the middle of a run.
    """

    def __init__(self, start_step: int, steps: int, batch: int, rank: int = 0, world: int = 1):
        if batch < 1 or world < 1 or not 0 <= rank < world or not 0 <= start_step <= steps:
            raise DatasetError(
                f"bad loader range: steps {start_step}..{steps}, batch {batch}, rank {rank} of {world}"
            )
        self.start_step, self.steps, self.batch, self.rank, self.world = start_step, steps, batch, rank, world

    def __len__(self) -> int:
        return self.steps - self.start_step

    def __iter__(self) -> Iterator[list[int]]:
        for t in range(self.start_step, self.steps):
            first = (t * self.world + self.rank) * self.batch
            yield list(range(first, first + self.batch))


def make_loader(
    dataset: PatchDataset,
    batch: int,
    start_step: int,
    steps: int,
    rank: int = 0,
    world: int = 1,
    workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """Batches ``(input, target, scale)`` for global steps ``start_step .. steps-1`` of one rank."""
    sampler = StepSampler(start_step, steps, batch, rank, world)
    needed = steps * world * batch
    if len(dataset) < needed:
        raise DatasetError(
            f"dataset has {len(dataset)} samples but {steps} steps x {world} ranks x batch {batch} need {needed}"
        )
    return DataLoader(
        dataset, batch_sampler=sampler, num_workers=workers, pin_memory=pin_memory, persistent_workers=False
    )

"""Training batches: whole images degraded once, batches cut from them by vectorised indexing.

Every training image is resized by each scale-augmentation factor, modcropped and
put through the evaluation protocol's degradation (:func:`upscale.degrade.degrade`)
whole, once per scale; the results are kept on disk (:mod:`.cache`) between runs.
A sample is then an aligned crop of those arrays: the LR crop at (top, left) and
the HR crop at (top, left) x scale, or, for pre-upsampled models, the same HR-sized
window of the upsampled input and of the target. Cropping a whole-image LR is what
eval feeds the network, with none of the border effects of degrading each patch.

Every random choice of sample ``i`` is a hash of ``(seed, i)`` (splitmix64), so a
sample depends on nothing else: resumed runs and DDP ranks draw bit-identical data
with no RNG state to save, and a whole batch is drawn in a few numpy operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import DatasetError, ImageReadError
from ..evaluation.datasets import IMAGE_EXTENSIONS, list_images
from ..evaluation.degrade import degrade
from ..evaluation.metrics import modcrop
from ..imaging.image_io import read_image
from ..imaging.resize import matlab_imresize
from ..models import ColorSpace
from ..progress import Progress, ProgressFn, no_progress
from .cache import EntryKey, EntryStatus, array_digest, file_digest, load_or_build

# Training images never used, with why: BSD200 302003 holds Set5 'woman' (a crop of it).
EXCLUDED = {"302003": "BSD200 302003 contains Set5 'woman' (a crop of it), a test image"}
EXCLUDED_STEMS = frozenset(EXCLUDED)

WarnFn = Callable[[str], None]

# Exact float32 of level / 255 computed in float64, as eval computes it.
_LEVELS = (np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)


@dataclass(frozen=True, eq=False)
class HRImage:
    """One decoded training image: ``array`` is read-only uint8 ``HxWx3``."""

    name: str
    path: Path
    array: np.ndarray


@dataclass(frozen=True)
class TrainingFile:
    """One training image on disk, known by the hash of its bytes (decoded only on a cache miss)."""

    name: str
    path: Path
    digest: str


TrainingImage = Union[HRImage, TrainingFile]


@dataclass(frozen=True)
class PatchSpec:
    """What one training sample looks like (see the module docstring for the pipeline)."""

    scales: tuple[int, ...]  # one entry normally; several for multi-scale training (VDSR)
    hr_patch: int  # HR patch side; divisible by every scale
    color: str  # "y" or "rgb"
    pre_upsample: bool  # input = MATLAB-bicubic upsample of LR back to hr_patch (SRCNN/VDSR/DRCN)
    augment: bool = True  # the 8 flips/rotations
    scale_aug: tuple[float, ...] = ()  # downscale factors of the HR images, in (0, 1]


# --------------------------------------------------------------------------- finding images


def _decode(path: Path, warn: WarnFn) -> Optional[np.ndarray]:
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


def _training_paths(dirs: Sequence[Path], warn: WarnFn, exclude: frozenset[str]) -> list[Path]:
    """The image files of ``dirs`` (folders in order, files by name), exclusions dropped."""
    paths: list[Path] = []
    for folder in map(Path, dirs):
        if not folder.exists():
            raise DatasetError(f"training folder {folder} does not exist")
        if not folder.is_dir():
            raise DatasetError(f"training folder {folder} is not a folder")
        for path in list_images(folder):
            if path.stem in exclude:
                why = EXCLUDED.get(path.stem, "its name is in the exclusion list")
                warn(f"{path}: excluded from training ({why}); skipped")
                continue
            paths.append(path)
    return paths


def _none_found(dirs: Sequence[Path]) -> DatasetError:
    where = ", ".join(str(d) for d in dirs) or "(no folders given)"
    return DatasetError(f"no training images in {where} (looked for {' '.join(IMAGE_EXTENSIONS)})")


def load_hr_images(
    dirs: Sequence[Path], warn: WarnFn = lambda m: None, exclude: frozenset[str] = EXCLUDED_STEMS
) -> list[HRImage]:
    """Decode every image of ``dirs`` now; undecodable files are warned about and skipped."""
    images = []
    for path in _training_paths(dirs, warn, exclude):
        arr = _decode(path, warn)
        if arr is not None:
            images.append(HRImage(path.stem, path, arr))
    if not images:
        raise _none_found(dirs)
    return images


def find_training_files(
    dirs: Sequence[Path], warn: WarnFn = lambda m: None, exclude: frozenset[str] = EXCLUDED_STEMS
) -> list[TrainingFile]:
    """The training images of ``dirs`` with the hashes that key their cache entries."""
    files = [TrainingFile(p.stem, p, file_digest(p)) for p in _training_paths(dirs, warn, exclude)]
    if not files:
        raise _none_found(dirs)
    return files


# --------------------------------------------------------------------------- degrading once


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


def degrade_for_training(hr: np.ndarray, scale: int, factor: float, color: str, pre_upsample: bool) -> dict:
    """The cached arrays of one image: ``target`` (uint8 levels) and the network ``input``.

    The input is float32 for Y (unrounded, as eval) and for pre-upsampled models,
    uint8 for the RGB LR image. A factor below 1 first resizes the uint8 HR image
    whole, as MATLAB would, so the crop of a rescaled image is a true crop.
    """
    if factor != 1.0:
        hr = matlab_imresize(hr, factor)
    planes = degrade(modcrop(hr, scale), scale, ColorSpace(color), pre_upsample)
    inp = planes.upsampled if pre_upsample else planes.lr
    return {"target": planes.target, "input": inp if inp.dtype == np.uint8 else inp.astype(np.float32)}


@dataclass
class _Pool:
    """Every image of one (scale, factor), flattened: crops are index arithmetic on these."""

    scale: int
    factor: float
    names: list[str] = field(default_factory=list)
    targets: list[np.ndarray] = field(default_factory=list)
    inputs: list[np.ndarray] = field(default_factory=list)

    def seal(self) -> None:
        """Concatenate the images into flat arrays with per-image offsets and sizes."""
        self.t_off = np.cumsum([0] + [t.size for t in self.targets[:-1]], dtype=np.int64)
        self.i_off = np.cumsum([0] + [i.size for i in self.inputs[:-1]], dtype=np.int64)
        self.t_hw = np.array([t.shape[:2] for t in self.targets], dtype=np.int64)
        self.i_hw = np.array([i.shape[:2] for i in self.inputs], dtype=np.int64)
        self.target = np.concatenate([t.ravel() for t in self.targets])
        self.input = np.concatenate([i.ravel() for i in self.inputs])
        # Integer cumulative areas: exact, numpy-version-proof weighted choice of an image.
        self.cum = np.cumsum(self.t_hw[:, 0] * self.t_hw[:, 1], dtype=np.int64)
        del self.targets, self.inputs


@dataclass(frozen=True)
class CacheReport:
    """How the arrays of a dataset were found: read from the cache, built, or rebuilt."""

    hits: int = 0
    built: int = 0
    rebuilt: int = 0
    skipped: tuple[str, ...] = ()  # images that could not be decoded


# --------------------------------------------------------------------------- sampling


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser over a uint64 array: a well-mixed hash per element."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def sample_uniforms(seed: int, indices: np.ndarray, draws: int) -> np.ndarray:
    """``len(indices) x draws`` floats in [0, 1), each a pure function of (seed, index, draw)."""
    base = _splitmix(_splitmix(np.full(len(indices), seed, dtype=np.uint64)) ^ indices.astype(np.uint64))
    with np.errstate(over="ignore"):
        cols = [_splitmix(base + np.uint64(k) * _GOLDEN) for k in range(draws)]
    return np.stack([(c >> np.uint64(11)).astype(np.float64) * 2.0**-53 for c in cols], axis=1)


def _pick(u: np.ndarray, n: Union[int, np.ndarray]) -> np.ndarray:
    """An integer in [0, n) from a uniform in [0, 1)."""
    return np.minimum((u * n).astype(np.int64), np.asarray(n) - 1)


@lru_cache(maxsize=32)
def _orientation_maps(side: int) -> tuple[np.ndarray, np.ndarray]:
    """Source row and column of every output pixel under the 8 rotations/flips: ``8 x side x side``.

    Orientation ``t`` is ``rot90`` by ``t % 4`` followed by a horizontal flip when
    ``t >= 4``; applying it to the index grids says where each output pixel comes from.
    """
    rows, cols = np.indices((side, side), dtype=np.int32)
    maps_r, maps_c = [], []
    for t in range(8):
        r, c = np.rot90(rows, t % 4), np.rot90(cols, t % 4)
        if t >= 4:
            r, c = r[:, ::-1], c[:, ::-1]
        maps_r.append(r)
        maps_c.append(c)
    return np.ascontiguousarray(maps_r), np.ascontiguousarray(maps_c)


def _gather(flat: np.ndarray, off: np.ndarray, width: np.ndarray, top: np.ndarray, left: np.ndarray,
            side: int, orient: np.ndarray, channels: int) -> np.ndarray:
    """Crops ``side x side`` at (top, left) of flattened images, oriented: ``B x C x side x side``."""
    maps_r, maps_c = _orientation_maps(side)
    # int32 arithmetic where the flat array allows it: a third less time than int64
    kind = np.int32 if flat.size < 2**31 else np.int64
    pos = maps_r[orient].astype(kind, copy=False) * width.astype(kind)[:, None, None]
    pos += maps_c[orient]
    pos += (top * width + left).astype(kind)[:, None, None]
    if channels == 1:
        pos += off.astype(kind)[:, None, None]
        return flat.take(pos)[:, None]
    idx = (pos * channels + off.astype(kind)[:, None, None])[..., None] + np.arange(channels, dtype=kind)
    return flat.take(idx).transpose(0, 3, 1, 2)


class PatchDataset:
    """Patches of the degraded training images; sample ``i`` is a pure function of ``(seed, i)``."""

    DRAWS = 6  # scale, factor, image, top, left, orientation

    def __init__(
        self,
        images: Sequence[TrainingImage],
        spec: PatchSpec,
        seed: int,
        cache: Optional[Path] = None,
        progress: ProgressFn = no_progress,
        warn: WarnFn = lambda m: None,
    ):
        _validate(spec)
        if seed < 0:
            raise DatasetError(f"the seed must be non-negative, got {seed}")
        if not images:
            raise DatasetError("no training images given")
        self.spec, self.seed = spec, int(seed)
        self.factors = tuple(spec.scale_aug) or (1.0,)
        self.channels = 1 if spec.color == "y" else 3
        self.pools, self.report = self._build(images, cache, progress, warn)
        self._by_scale = {s: [p for p in self.pools if p.scale == s] for s in spec.scales}
        self.names = sorted({n for p in self.pools for n in p.names})

    def _build(self, images, cache, progress, warn) -> tuple[list[_Pool], CacheReport]:
        spec = self.spec
        pools = {(s, f): _Pool(s, f) for s in spec.scales for f in self.factors}
        counts = {status: 0 for status in EntryStatus}
        skipped: list[str] = []
        total, task = len(images) * len(pools), "degrading training images"
        for n, image in enumerate(images):
            decoded: list[Optional[np.ndarray]] = []

            def hr() -> np.ndarray:  # decoded at most once, and only on a cache miss
                if not decoded:
                    decoded.append(image.array if isinstance(image, HRImage) else _decode(image.path, warn))
                if decoded[0] is None:
                    raise _Undecodable
                return decoded[0]

            content = image.digest if isinstance(image, TrainingFile) else array_digest(image.array)
            for i, ((s, f), pool) in enumerate(pools.items()):
                progress(Progress(task, n * len(pools) + i, total, image.name))
                key = EntryKey(content, s, f, spec.color, spec.pre_upsample)
                try:
                    arrays, status = load_or_build(
                        cache, key, lambda: degrade_for_training(hr(), s, f, spec.color, spec.pre_upsample)
                    )
                except _Undecodable:
                    skipped.append(image.name)
                    break
                counts[status] += 1
                if min(arrays["target"].shape[:2]) >= spec.hr_patch:  # the patch fits this image
                    pool.names.append(image.name)
                    pool.targets.append(arrays["target"])
                    pool.inputs.append(arrays["input"])
        progress(Progress(task, total, total))
        kept = [p for p in pools.values() if p.names]
        for pool in kept:
            pool.seal()
        for s in spec.scales:
            if not any(p.scale == s for p in kept):
                raise DatasetError(
                    f"HR patch {spec.hr_patch} is larger than every training image at x{s} "
                    f"(after modcrop and the scale augmentation {self.factors})"
                )
        report = CacheReport(counts[EntryStatus.HIT], counts[EntryStatus.BUILT], counts[EntryStatus.REBUILT],
                             tuple(skipped))
        return kept, report

    def batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(input, target, scale)`` of the samples ``indices``, stacked."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.ndim != 1 or (idx < 0).any():
            raise DatasetError("sample indices must be a flat list of non-negative integers")
        spec, b = self.spec, len(idx)
        u = sample_uniforms(self.seed, idx, self.DRAWS)
        scales = np.asarray(spec.scales, dtype=np.int64)[_pick(u[:, 0], len(spec.scales))]
        orient = _pick(u[:, 5], 8) if spec.augment else np.zeros(b, dtype=np.int64)
        hr = spec.hr_patch
        # Several scales in one batch only for pre-upsampled inputs (_validate), so one input size.
        side_in = hr if spec.pre_upsample else hr // spec.scales[0]
        x = np.empty((b, self.channels, side_in, side_in), dtype=np.float32)
        y = np.empty((b, self.channels, hr, hr), dtype=np.float32)
        for s in spec.scales:
            pools = self._by_scale[s]
            of_scale = np.flatnonzero(scales == s)
            which = _pick(u[of_scale, 1], len(pools))
            per_input = 1 if spec.pre_upsample else s  # target pixels per input pixel, each way
            for k, pool in enumerate(pools):
                rows = of_scale[which == k]
                if not len(rows):
                    continue
                img = np.searchsorted(pool.cum, _pick(u[rows, 2], int(pool.cum[-1])), side="right")
                ih, iw = pool.i_hw[img, 0], pool.i_hw[img, 1]
                top = _pick(u[rows, 3], ih - side_in + 1)
                left = _pick(u[rows, 4], iw - side_in + 1)
                xi = _gather(pool.input, pool.i_off[img], iw, top, left, side_in, orient[rows], self.channels)
                yi = _gather(pool.target, pool.t_off[img], pool.t_hw[img, 1], top * per_input, left * per_input, hr,
                             orient[rows], self.channels)
                x[rows] = _LEVELS[xi] if xi.dtype == np.uint8 else xi
                y[rows] = _LEVELS[yi]
        return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(scales)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        x, y, s = self.batch([index])
        return x[0], y[0], int(s[0])


class _Undecodable(Exception):
    """Internal: an image that failed to decode on a cache miss (already warned about)."""


# --------------------------------------------------------------------------- batches per step


def step_indices(step: int, batch: int, rank: int = 0, world: int = 1) -> range:
    """Sample indices of global step ``step`` on ``rank``.

    Step t on rank r uses indices ``(t * world + r) * batch + i``: ranks never overlap,
    a resumed run draws exactly what an uninterrupted one would, and K processes draw
    what K consecutive steps of one process would.
    """
    first = (step * world + rank) * batch
    return range(first, first + batch)


class StepBatches(Dataset):
    """Item ``t`` is the whole batch of global step ``t`` for one rank."""

    def __init__(self, dataset: PatchDataset, batch: int, rank: int = 0, world: int = 1):
        self.dataset, self.batch, self.rank, self.world = dataset, batch, rank, world

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.dataset.batch(step_indices(step, self.batch, self.rank, self.world))


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
    """Batches ``(input, target, scale)`` for global steps ``start_step .. steps-1`` of one rank.

    Cutting a batch costs about a millisecond, so the main process does it by default;
    ``workers`` processes only pay when a GPU step is shorter than that.
    """
    if batch < 1 or world < 1 or not 0 <= rank < world or not 0 <= start_step <= steps:
        raise DatasetError(f"bad loader range: steps {start_step}..{steps}, batch {batch}, rank {rank} of {world}")
    return DataLoader(
        StepBatches(dataset, batch, rank, world), sampler=range(start_step, steps), batch_size=None,
        num_workers=workers, pin_memory=pin_memory, persistent_workers=False,
    )

"""The inference engine every command uses: an image in, the upscaled image out, tile by tile."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Optional, Union

import cv2
import numpy as np
import torch
from PIL import Image

from ..errors import UsageError
from ..imaging.layout import channels_last_module
from ..imaging.quantize import Quantizer
from ..imaging.resize import matlab_imresize
from ..machine import settle_vector_math
from ..progress import ProgressFn, no_progress
from .denormals import flushed_denormals
from .loading import LoadedModel
from .memory import auto_tile, tile_batch
from .options import AlphaMode, InferenceOptions, ResolvedOptions, resolve_options
from .pipeline import make_pipeline, pipeline_radius
from .precision import settle_precision
from .tiling import plan_tiles, run_tiled

ImageLike = Union[Image.Image, np.ndarray, torch.Tensor]


def _run(
    model: LoadedModel,
    x: torch.Tensor,
    write: Any,
    opts: ResolvedOptions,
    progress: ProgressFn,
    gain: float = 1.0,
    offset: float = 0.0,
    quantize: Optional[Quantizer] = None,
) -> None:
    """Tile ``x`` (``N,C,H,W`` float on the CPU) through the pipeline; halve the tile on CUDA OOM.

    ``write`` receives ``gain * value + offset``, as ``quantize``'s integers when given
    (see :func:`make_pipeline`). The network
    is the engine's own (``load_model`` built it, ``from_module`` copied it), so it is
    moved and re-strided in place, once.
    """
    dev = opts.device
    # channels_last: oneDNN and cuDNN convolutions run faster on it (FSRCNN 28 -> 19 ms at 256x256 on the CPU)
    net = channels_last_module(model.net.to(dev)).eval()
    pipeline = make_pipeline(model.spec, net, model.scale, opts.autocast, gain, offset, quantize)
    pad = tile_context(model) if opts.tile_pad is None else opts.tile_pad
    height, width = x.shape[-2:]
    size = auto_tile(model, dev, height, width, pad) if opts.tile is None else opts.tile
    batch = tile_batch(model, dev, size, pad)
    # Tiles repeat a few shapes, so cuDNN's autotuned choice is reused; scoped, not process-wide.
    # On the CPU, denormal activations are flushed on every thread (denormals.py), also scoped.
    flush = flushed_denormals() if dev.type == "cpu" else nullcontext()
    settle_vector_math()  # before the first parallel tanh or exp (machine.py says why)
    with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, benchmark=dev.type == "cuda"), flush:
        while True:
            try:
                tiles = plan_tiles(height, width, size, pad)
                run_tiled(lambda t: pipeline(t.to(dev)), x, model.scale, tiles, write, progress, batch=batch)
                return
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                if batch > 1:  # fewer tiles per pass before smaller tiles: less context recomputed
                    batch //= 2
                    continue
                size = (max(height, width) if size == 0 else size) // 2
                if size < 8:  # no tile this small fits either: the model itself does not
                    raise


def tile_context(model: LoadedModel) -> int:
    """LR pixels of context around each tile: what was measured for shipped weights, else the radius."""
    radius = pipeline_radius(model.spec, model.scale)
    return radius if model.context is None else min(model.context, radius)


def _upscale_planes(arr: np.ndarray, model: LoadedModel, opts: ResolvedOptions, progress: ProgressFn) -> np.ndarray:
    """uint8/uint16 ``HxW`` or ``HxWxC`` (C = 1 or 3) through the network."""
    peak = float(np.iinfo(arr.dtype).max)
    planes = arr[..., None] if arr.ndim == 2 else arr
    x = torch.from_numpy(planes.astype(np.float32) / peak).permute(2, 0, 1)[None]
    s = model.scale
    out = np.empty((planes.shape[0] * s, planes.shape[1] * s, planes.shape[2]), dtype=arr.dtype)
    dtype = torch.from_numpy(out[:0, :0, :0]).dtype

    def write(t: Any, core: torch.Tensor) -> None:
        # The pipeline gave peak * value + 0.5 as integers (quantize.py: round half up); the
        # planes are interleaved as integers, a quarter of the bytes that interleaving floats
        # moves (color.add_luma has the timing).
        q = core[0].cpu().numpy()
        region = out[t.y0 * s : t.y1 * s, t.x0 * s : t.x1 * s]
        if q.shape[0] == 1:
            region[..., 0] = q[0]
        elif region.flags.c_contiguous:  # the whole image: straight into it
            cv2.merge(list(q), dst=region)
        else:  # OpenCV's merge is SIMD; torch's strided byte copy took 2.9 ms for ESPCN x4's 1024 x 1024 x 3, this 0.9
            region[...] = cv2.merge(list(q))

    _run(model, x, write, opts, progress, gain=peak, offset=0.5, quantize=Quantizer(peak, dtype))
    return out[..., 0] if arr.ndim == 2 else out


def _upscale_array(arr: np.ndarray, model: LoadedModel, opts: ResolvedOptions, progress: ProgressFn) -> np.ndarray:
    """Colour planes through the network; an alpha plane as ``opts.alpha`` says."""
    if arr.dtype not in (np.uint8, np.uint16):
        raise UsageError(f"numpy images must be uint8 or uint16, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        return _upscale_planes(arr[..., 0], model, opts, progress)[..., None]
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3):
        return _upscale_planes(arr, model, opts, progress)
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        color = _upscale_planes(arr[..., :-1].squeeze(-1) if arr.shape[2] == 2 else arr[..., :3], model, opts, progress)
        return np.dstack([color, _upscale_alpha(arr[..., -1], model, opts, progress)])
    raise UsageError(f"expected an HxW or HxWxC image with C in 1..4, got shape {arr.shape}")


def _upscale_alpha(plane: np.ndarray, model: LoadedModel, opts: ResolvedOptions, progress: ProgressFn) -> np.ndarray:
    if opts.alpha is AlphaMode.MODEL:
        return _upscale_planes(plane, model, opts, progress)
    return matlab_imresize(plane, float(model.scale))


def _upscale_tensor(x: torch.Tensor, model: LoadedModel, opts: ResolvedOptions, progress: ProgressFn) -> torch.Tensor:
    """Float ``(N)CHW`` in [0, 1] -> float ``(N)CHW``, clamped to [0, 1]."""
    if not x.is_floating_point() or x.dim() not in (3, 4):
        raise UsageError(f"tensors must be float (N)CHW, got {x.dtype} with shape {tuple(x.shape)}")
    batch = x if x.dim() == 4 else x[None]
    s = model.scale
    out = torch.empty(*batch.shape[:2], batch.shape[2] * s, batch.shape[3] * s, dtype=x.dtype, device=x.device)

    def write(t: Any, core: torch.Tensor) -> None:
        out[..., t.y0 * s : t.y1 * s, t.x0 * s : t.x1 * s] = core.clamp(0, 1).to(out)

    _run(model, batch.float().cpu(), write, opts, progress)
    return out if x.dim() == 4 else out[0]


def _pil_to_array(image: Image.Image) -> np.ndarray:
    # One mode table for the library and the upscale command (palettes, CMYK, 16 bits, tRNS).
    from ..imaging.image_io import pil_to_array

    return pil_to_array(image)


def upscale_image(
    image: ImageLike,
    model: LoadedModel,
    *,
    tile: Optional[int] = None,
    tile_pad: Optional[int] = None,
    device: Optional[str] = None,
    precision: Optional[str] = None,
    progress: ProgressFn = no_progress,
    alpha: str = "bicubic",
) -> ImageLike:
    """Upscale a PIL image, a uint8/uint16 array or a float (N)CHW tensor; returns the same kind.

    ``tile=0`` runs the whole image at once; None picks a tile from the free memory.
    ``tile_pad`` defaults to the pipeline's receptive radius, so tiles are seamless, or for
    shipped weights that measured a shorter reach, to that (evaluation/tile_context.py).
    An alpha plane is upscaled with the MATLAB bicubic, or with ``alpha="model"`` by the network.
    The keyword form of :func:`upscale_with`, for scripts.
    """
    options = InferenceOptions.parse(tile, tile_pad, device, precision, alpha)
    return upscale_with(image, model, resolve_options(options), progress)


def upscale_with(image: ImageLike, model: LoadedModel, opts: ResolvedOptions, progress: ProgressFn = no_progress) -> ImageLike:
    """:func:`upscale_image` with options resolved once by the caller (a batch, an evaluation)."""
    opts, _ = settle_precision(opts, model)
    if isinstance(image, torch.Tensor):
        return _upscale_tensor(image, model, opts, progress)
    if isinstance(image, Image.Image):
        return Image.fromarray(_upscale_array(_pil_to_array(image), model, opts, progress))
    if isinstance(image, np.ndarray):
        return _upscale_array(image, model, opts, progress)
    raise UsageError(f"cannot upscale a {type(image).__name__}; give a PIL image, a numpy array or a tensor")

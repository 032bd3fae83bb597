"""The inference engine every command uses: load a model, upscale an image, tile by tile."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
from PIL import Image
from torch import nn

from .errors import UsageError, WeightsError
from .inference_options import AlphaMode, InferenceOptions, ResolvedOptions, resolve_options
from .layout import channels_last_module
from .models import ModelSpec, create_model, get_spec
from .model_choice import describe_shipped
from .models.registry import build_model, make_config
from .pipeline import make_pipeline, pipeline_radius
from .progress import ProgressFn, no_progress
from .resize import matlab_imresize
from .tiling import plan_tiles, run_tiled
from .weights import load_into, read_weights, shipped_weights

ImageLike = Union[Image.Image, np.ndarray, torch.Tensor]


@dataclass
class LoadedModel:
    """A network ready for inference at one scale, with the metadata of its weights."""

    spec: ModelSpec
    scale: int
    net: nn.Module
    meta: dict = field(default_factory=dict)
    activation_rate: Optional[float] = field(default=None, repr=False)  # cache of the probe below

    @property
    def name(self) -> str:
        return self.spec.name


def load_model(name: str, scale: int, weights: Optional[Union[str, Path]] = None) -> LoadedModel:
    """Build ``name`` for ``scale`` and load ``weights`` (default: the shipped file)."""
    spec = get_spec(name)
    path = weights_path(spec, scale, weights)
    state, meta = read_weights(path)
    if meta.get("arch") != spec.name:
        raise WeightsError(f"{path}: weights of {meta.get('arch')!r}, not {spec.name!r}")
    if not spec.multi_scale and meta.get("scale") != spec.network_scale(scale):
        raise WeightsError(f"{path}: weights for x{meta.get('scale')}, not x{spec.network_scale(scale)}")
    net = build_model(spec, make_config(spec, meta.get("config", {})), spec.network_scale(scale))
    load_into(net, state, path)
    return LoadedModel(spec, scale, net.eval(), meta)


def weights_path(spec: ModelSpec, scale: int, weights: Optional[Union[str, Path]] = None) -> Path:
    """``weights``, or the shipped file for ``spec`` at ``scale``; a missing one names those that ship."""
    spec.check_scale(scale)
    if weights is not None:
        return Path(weights)
    path = shipped_weights(spec, scale)
    if path is None:
        raise WeightsError(
            f"no shipped weights for {spec.name} x{scale} yet ({describe_shipped(scale)}); "
            f"train them with 'upscale train --model {spec.name} -x {spec.network_scale(scale)} --data DIR' "
            "or pass --weights FILE"
        )
    return path


def from_module(name: str, scale: int, net: Optional[nn.Module] = None) -> LoadedModel:
    """Wrap a network built in code (default: freshly initialised) for the engine.

    The engine moves, re-strides and switches to eval mode the network it runs, so a
    caller's network is copied: a training run validating its live network must find
    it as it was (device, memory format, training mode).
    """
    spec = get_spec(name)
    return LoadedModel(spec, scale, copy.deepcopy(net).eval() if net is not None else create_model(name, scale).eval())


def activation_floats_per_pixel(model: LoadedModel) -> float:
    """Largest activation any layer makes, in floats per input pixel (measured once, on a probe)."""
    if model.activation_rate is not None:
        return model.activation_rate
    peak = 0
    hooks = [m.register_forward_hook(lambda _m, _i, o: _track(o)) for m in model.net.modules()]

    def _track(out: Any) -> None:
        nonlocal peak
        if isinstance(out, torch.Tensor):
            peak = max(peak, out.numel())

    probe = 24
    try:
        with torch.inference_mode():
            side = model.spec.input_side(probe, model.scale)
            device = next(model.net.parameters()).device  # the network may already be on the GPU
            model.net(torch.zeros(1, model.spec.in_channels, side, side, device=device))
    finally:
        for h in hooks:
            h.remove()
    model.activation_rate = peak / (probe * probe)
    return model.activation_rate


def _memory_budget(device: torch.device) -> float:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free * 0.4
    return 0.5 * 2**30


def _bytes_per_pixel(model: LoadedModel) -> float:
    # A few live tensors of the largest layer's size, in float32.
    return activation_floats_per_pixel(model) * 4 * 4


def auto_tile(model: LoadedModel, device: torch.device, height: int, width: int, pad: int) -> int:
    """A core size whose padded tile keeps the activations within a memory budget."""
    budget, bytes_per_px = _memory_budget(device), _bytes_per_pixel(model)
    if height * width * bytes_per_px <= budget:
        return 0  # the whole image fits: no context is computed twice
    side = int(math.sqrt(budget / bytes_per_px))
    # Tiles narrower than their context would spend most of their work on it.
    return max(side - 2 * pad, pad, 16)


MAX_TILE_BATCH = 8


def tile_batch(model: LoadedModel, device: torch.device, size: int, pad: int) -> int:
    """How many padded tiles of ``size`` run in one forward pass: several on a GPU, one on the CPU.

    A GPU only fills up with enough pixels in flight; the CPU gains nothing from
    larger batches and would only hold more memory.
    """
    if device.type != "cuda" or size == 0:
        return 1
    per_tile = (size + 2 * pad) ** 2 * _bytes_per_pixel(model)
    return int(min(max(_memory_budget(device) // per_tile, 1), MAX_TILE_BATCH))


def _run(
    model: LoadedModel,
    x: torch.Tensor,
    write: Any,
    opts: ResolvedOptions,
    progress: ProgressFn,
    gain: float = 1.0,
    offset: float = 0.0,
) -> None:
    """Tile ``x`` (``N,C,H,W`` float on the CPU) through the pipeline; halve the tile on CUDA OOM.

    ``write`` receives ``gain * value + offset`` (see :func:`make_pipeline`). The network
    is the engine's own (``load_model`` built it, ``from_module`` copied it), so it is
    moved and re-strided in place, once.
    """
    dev = opts.device
    # channels_last: oneDNN and cuDNN convolutions run faster on it (FSRCNN 28 -> 19 ms at 256x256 on the CPU)
    net = channels_last_module(model.net.to(dev)).eval()
    pipeline = make_pipeline(model.spec, net, model.scale, opts.autocast, gain, offset)
    pad = pipeline_radius(model.spec, model.scale) if opts.tile_pad is None else opts.tile_pad
    height, width = x.shape[-2:]
    size = auto_tile(model, dev, height, width, pad) if opts.tile is None else opts.tile
    batch = tile_batch(model, dev, size, pad)
    # Tiles repeat a few shapes, so cuDNN's autotuned choice is reused; scoped, not process-wide.
    with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, benchmark=dev.type == "cuda"):
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


def _upscale_planes(arr: np.ndarray, model: LoadedModel, opts: ResolvedOptions, progress: ProgressFn) -> np.ndarray:
    """uint8/uint16 ``HxW`` or ``HxWxC`` (C = 1 or 3) through the network."""
    peak = float(np.iinfo(arr.dtype).max)
    planes = arr[..., None] if arr.ndim == 2 else arr
    x = torch.from_numpy(planes.astype(np.float32) / peak).permute(2, 0, 1)[None]
    s = model.scale
    out = np.empty((planes.shape[0] * s, planes.shape[1] * s, planes.shape[2]), dtype=arr.dtype)

    target = torch.from_numpy(out)

    def write(t: Any, core: torch.Tensor) -> None:
        # The pipeline already gave peak * value + 0.5: clamp, then one strided pass that
        # truncates into the integer output (truncation is round-half-up here: values >= 0).
        q = core[0].float().clamp_(0, peak).cpu()
        target[t.y0 * s : t.y1 * s, t.x0 * s : t.x1 * s].copy_(q.permute(1, 2, 0))

    _run(model, x, write, opts, progress, gain=peak, offset=0.5)
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
    from .image_io import pil_to_array

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
    ``tile_pad`` defaults to the pipeline's receptive radius, so tiles are seamless.
    An alpha plane is upscaled with the MATLAB bicubic, or with ``alpha="model"`` by the network.
    The keyword form of :func:`upscale_with`, for scripts.
    """
    options = InferenceOptions.parse(tile, tile_pad, device, precision, alpha)
    return upscale_with(image, model, resolve_options(options), progress)


def upscale_with(image: ImageLike, model: LoadedModel, opts: ResolvedOptions, progress: ProgressFn = no_progress) -> ImageLike:
    """:func:`upscale_image` with options resolved once by the caller (a batch, an evaluation)."""
    if isinstance(image, torch.Tensor):
        return _upscale_tensor(image, model, opts, progress)
    if isinstance(image, Image.Image):
        return Image.fromarray(_upscale_array(_pil_to_array(image), model, opts, progress))
    if isinstance(image, np.ndarray):
        return _upscale_array(image, model, opts, progress)
    raise UsageError(f"cannot upscale a {type(image).__name__}; give a PIL image, a numpy array or a tensor")

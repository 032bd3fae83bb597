"""Turning a model name into the function that eval measures.

Networks are fed as their papers fed them. Y models get the Y-only pipeline of the
bicubic baseline (Y of the uint8 HR, MATLAB-resized down in floating point), so the
network replaces exactly the bicubic upsampling it is compared against; their Y
output is rounded to uint8. RGB models (RDN, SRGAN) get the uint8 RGB LR image that
MATLAB's ``imresize`` of the uint8 HR makes, and are measured on Y of their uint8 output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from ..hub.weights import has_shipped_weights, read_weights, served_scales
from ..inference.engine import upscale_with
from ..inference.loading import LoadedModel, load_model
from ..inference.options import InferenceOptions, resolve_options
from ..inference.precision import settle_precision
from ..models import ColorSpace, get_spec
from .bicubic import bicubic_planes
from .degrade import degrade
from .evaluate import PlanesFn, measured_plane
from .metrics import quantize

BASELINES: dict[str, PlanesFn] = {"bicubic": bicubic_planes}


def network_planes(model: LoadedModel, options: InferenceOptions = InferenceOptions()) -> PlanesFn:
    """The eval planes of one loaded network at its scale."""
    opts, _ = settle_precision(resolve_options(options), model)  # once, not per image

    def planes(hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
        planes = degrade(hr, scale, model.spec.color_space)
        if model.spec.color_space is ColorSpace.Y:
            lr = torch.from_numpy(planes.lr).float()[None, None]
            sr = upscale_with(lr, model, opts)[0, 0].double().numpy()
            return planes.target.astype(np.float64), quantize(sr * 255.0)
        sr = upscale_with(planes.lr, model, opts)  # the uint8 LR image a user would have
        return measured_plane(hr), measured_plane(sr)

    return planes


BASELINE_SCALES = (2, 3, 4)


def default_scales(name: str, weights: Optional[Path] = None) -> list[int]:
    """The scales ``eval`` measures when none are named: every scale the model has weights for.

    A weights file's own scales; else the scales the shipped files serve (LapSRN's x3
    runs through its x4 file); a model with none gets all of its scales, so the first
    one reports what is missing. Baselines: x2, x3 and x4.
    """
    key = name.lower()
    if key in BASELINES:
        return list(BASELINE_SCALES)
    spec = get_spec(key)
    if weights is not None:
        _, meta = read_weights(weights)
        return served_scales(meta)
    return [s for s in spec.scales if has_shipped_weights(spec, s)] or list(spec.scales)


def resolve_method(
    name: str, scales: Sequence[int], weights: Optional[Path] = None, options: InferenceOptions = InferenceOptions()
) -> PlanesFn:
    """The planes function of a baseline or of a registered network at each of ``scales``.

    Every scale's network is loaded now, once, so that a missing weights file is
    reported before a benchmark set is fetched or an hour of evaluation runs.
    """
    key = name.lower()
    if key in BASELINES:
        return BASELINES[key]
    spec = get_spec(key)
    at_scale = {scale: network_planes(load_model(spec.name, scale, weights), options) for scale in scales}
    return lambda hr, scale: at_scale[scale](hr, scale)

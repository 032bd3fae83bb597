"""Loading a network for inference: the shipped weights or a file, or a module built in code."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from torch import nn

from ..errors import WeightsError
from ..hub.choice import describe_shipped
from ..hub.fetch import weights_cache_dir
from ..hub.manifest import read_manifest
from ..hub.weights import load_into, read_weights, shipped_weights, weights_dir
from ..models import ModelSpec, create_model, get_spec
from ..models.registry import build_model, make_config


@dataclass
class LoadedModel:
    """A network ready for inference at one scale, with the metadata of its weights."""

    spec: ModelSpec
    scale: int
    net: nn.Module
    meta: dict = field(default_factory=dict)
    source: Optional[Path] = None  # the weights file, when loaded from one
    # LR pixels of context a tile needs: measured for a shipped file (evaluation/tile_context.py,
    # the manifest's "context"); None: the pipeline's whole receptive radius
    context: Optional[int] = None
    activation_rate: Optional[float] = field(default=None, repr=False)  # cache of memory.activation_floats_per_pixel
    cpu_precision: Optional[Any] = field(default=None, repr=False)  # cache of precision.choose_cpu_precision

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
    return LoadedModel(spec, scale, net.eval(), meta, source=path, context=shipped_context(path, scale))


def shipped_context(path: Path, scale: int) -> Optional[int]:
    """The tile context the manifest records for ``path`` at ``scale``, if ``path`` is a shipped file.

    Shipped means in the weights folder or the download cache, under its manifest name
    and size: the measurement belongs to those weights, not to a file that borrows a name.
    """
    entry = read_manifest(weights_dir()).get(path.name)
    if entry is None or "context" not in entry:
        return None
    homes = {weights_dir().resolve(), weights_cache_dir().resolve()}
    if path.resolve().parent not in homes or path.stat().st_size != entry["bytes"]:
        return None
    value = entry["context"].get(f"x{scale}")
    return int(value) if value is not None else None


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

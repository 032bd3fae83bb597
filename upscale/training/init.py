"""``--init``: start a network from another file's weights, as the papers fine-tuned across scales.

Every tensor whose name, shape and layer type fit is loaded; the rest keep their fresh
initialisation. The layer type matters where depths differ: LapSRN x8 has 5 convolutions
a level and x4 has 10, so x8's transposed convolution sits at the index of one of x4's
convolutions, with the same weight shape. Across scales, the layers the spec marks as
scale-specific (the upsampler) stay fresh even when their shapes happen to match: FSRCNN
x2 from x3 retrains its deconvolution, RDN x4 from x2 its upsampler. A file of another
architecture is an error, not a partial load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelError, UpscaleError, UsageError
from ..hub.weights import read_weights
from ..models import ModelSpec, get_spec
from ..models.registry import build_model, make_config


@dataclass(frozen=True)
class InitReport:
    source: Path
    scale: int  # the scale the file was trained for
    loaded: tuple[str, ...]
    fresh: tuple[str, ...]  # tensors of the network the file did not provide
    unused: tuple[str, ...]  # tensors of the file the network did not take
    meta: dict


def init_from_file(net: nn.Module, spec: ModelSpec, net_scale: int, path: Path) -> InitReport:
    """Load what fits of ``path`` into ``net`` (in place: the trainer owns this network)."""
    state, meta = read_weights(path)
    accepted = (spec.name, spec.starts_from) if spec.starts_from else (spec.name,)
    if meta.get("arch") not in accepted:
        raise UsageError(f"--init {path}: weights of {meta.get('arch')!r}, not {' or '.join(map(repr, accepted))}")
    own = net.state_dict()
    source_layers = _layer_types(get_spec(meta["arch"]), meta, path)
    other_scale = not spec.multi_scale and meta.get("scale") != net_scale
    loaded, fresh = [], []
    for key, value in own.items():
        specific = other_scale and key.startswith(spec.scale_specific)
        fits = (key in state and state[key].shape == value.shape and not specific
                and source_layers.get(key) is _layer_type(net, key))
        (loaded if fits else fresh).append(key)
    if not loaded:
        raise UsageError(f"--init {path}: no tensor fits {spec.name} x{net_scale}")
    net.load_state_dict({**own, **{k: state[k].to(own[k].dtype) for k in loaded}})
    unused = tuple(sorted(set(state) - set(loaded)))
    return InitReport(Path(path), int(meta.get("scale", net_scale)), tuple(loaded), tuple(fresh), unused, meta)


def start_as_interpolation(net: nn.Module) -> None:
    """Zero the layers ``net`` names in ``residual_layers()`` (in place: the trainer owns this
    network): those whose output is added to an interpolation of the input, so the network
    starts as that interpolation (a recipe's ``zero_output``)."""
    residual_layers = getattr(net, "residual_layers", None)
    if residual_layers is None:
        raise ModelError(f"{type(net).__name__} names no residual layers to start at zero")
    with torch.no_grad():
        for layer in residual_layers():
            for tensor in (layer.weight, layer.bias):
                if tensor is not None:
                    tensor.zero_()


def _layer_type(net: nn.Module, key: str) -> type:
    owner, _, _ = key.rpartition(".")
    return type(net.get_submodule(owner))


def _layer_types(spec: ModelSpec, meta: dict, path: Path) -> dict[str, type]:
    """The layer type that holds each tensor of the file, from the network its metadata describes."""
    try:
        # On the meta device: only the structure is needed, not 22M parameters' worth of memory.
        with torch.device("meta"):
            source = build_model(spec, make_config(spec, meta.get("config", {})), int(meta["scale"]))
    except (UpscaleError, KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"--init {path}: its metadata does not describe a {spec.name} network ({exc})") from exc
    return {key: _layer_type(source, key) for key in source.state_dict()}

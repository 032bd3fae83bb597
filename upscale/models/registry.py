"""One explicit registry of architectures, each described by a typed spec.

The engine, the trainer and the CLI read the spec; no code outside a model's own
module branches on a model's name.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Mapping, Optional

from torch import nn

from ..errors import ModelError, UnknownModelError, UnsupportedScaleError
from .recipe import Recipe


class InputKind(str, Enum):
    """What the network is fed."""

    LR = "lr"  # the low-resolution image itself; the network upsamples
    PRE_UPSAMPLED = "pre_upsampled"  # the LR image bicubic-upsampled to the HR size


class ColorSpace(str, Enum):
    """Which channels the network sees."""

    Y = "y"  # BT.601 studio-swing luma; chroma is bicubic-upsampled
    RGB = "rgb"


@dataclass(frozen=True)
class OpenCVPeer:
    """OpenCV's dnn_superres model of the same network: its algorithm name, file pattern and scales."""

    algorithm: str
    file_pattern: str  # with {scale}
    scales: tuple[int, ...]


@dataclass(frozen=True)
class ModelSpec:
    """Everything the engine needs to know about an architecture.

    ``receptive_radius`` is counted in pixels of the network's input (LR pixels for
    LR models, HR pixels for pre-upsampled ones): an output pixel depends on no input
    pixel farther away than this, so tiles padded by it reproduce untiled output.
    ``scale_map`` sends a requested scale to the scale the network actually runs at;
    the engine resizes the output to the requested size with the MATLAB bicubic
    (LapSRN runs x3 as x4 plus a resize, as its authors did).
    """

    name: str
    paper: str
    scales: tuple[int, ...]
    input_kind: InputKind
    color_space: ColorSpace
    config_cls: type
    build: Callable[[Any, int], nn.Module]
    receptive_radius: int
    multi_scale: bool = False  # one set of weights serves every scale (VDSR)
    scale_map: dict[int, int] = field(default_factory=dict)
    radius_of: Optional[Callable[[Any, int], int]] = None  # reach of a config at a network scale
    discriminator: Optional[Callable[[], nn.Module]] = None  # for adversarial training (SRGAN)
    # The model whose trained weights this one's training starts from (SRGAN: srresnet, the
    # same generator trained on MSE): --init accepts that model's files too.
    starts_from: Optional[str] = None
    # State-dict prefixes of the layers that depend on the scale (the upsampler): a
    # network started from another scale's weights (--init) gets these afresh.
    scale_specific: tuple[str, ...] = ()
    # The network as an exported graph should hold it, where its forward derives weights
    # from its parameters on every call (FSRCNN's subpixel deconvolution): traced, that
    # derivation would land in the graph. Same outputs, to float32 rounding.
    export_module: Optional[Callable[[nn.Module], nn.Module]] = None
    # What the model's module knows about its paper: the training recipe, the published
    # Y-channel (PSNR, SSIM) by (set, scale), the parameter counts of the paper or its
    # reference code by network scale, and OpenCV's dnn_superres model of the same network.
    recipe: Optional[Recipe] = None
    published: Mapping[tuple[str, int], tuple[float, Optional[float]]] = field(default_factory=dict)
    reference_parameters: Mapping[int, int] = field(default_factory=dict)
    opencv_peer: Optional["OpenCVPeer"] = None

    @property
    def pre_upsampled(self) -> bool:
        return self.input_kind is InputKind.PRE_UPSAMPLED

    def input_side(self, lr_side: int, scale: int) -> int:
        """The network's input side for an LR side: the HR side where it is fed the bicubic upsampling."""
        return lr_side * scale if self.pre_upsampled else lr_side

    def network_scale(self, scale: int) -> int:
        """The scale the network runs at to serve ``scale``."""
        self.check_scale(scale)
        return self.scale_map.get(scale, scale)

    def check_scale(self, scale: int) -> None:
        if scale not in self.scales:
            allowed = ", ".join(f"x{s}" for s in self.scales)
            raise UnsupportedScaleError(f"{self.name} does not support x{scale} (supported: {allowed})")

    @property
    def in_channels(self) -> int:
        return 1 if self.color_space is ColorSpace.Y else 3


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry; a second spec under the same name is an error."""
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is registered twice")
    if not dataclasses.is_dataclass(spec.config_cls):
        raise TypeError(f"{spec.name}: config_cls must be a dataclass")
    _REGISTRY[spec.name] = spec
    return spec


def list_models() -> list[str]:
    """Registered model names, in registration order."""
    return list(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The spec of ``name``; an unknown name raises ModelError naming the valid ones."""
    key = name.lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(key, _REGISTRY, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownModelError(f"unknown model {name!r}{hint}; known models: {', '.join(_REGISTRY)}")


def make_config(spec: ModelSpec, overrides: dict[str, Any]) -> Any:
    """The spec's default config with ``overrides`` applied; unknown keys are an error."""
    fields = {f.name for f in dataclasses.fields(spec.config_cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ModelError(
            f"{spec.name} has no config field {', '.join(unknown)}; "
            f"valid fields: {', '.join(sorted(fields)) or '(none)'}"
        )
    return spec.config_cls(**overrides)


def build_model(spec: ModelSpec, cfg: Any, net_scale: int) -> nn.Module:
    """``spec.build`` after checking that the config stays within the registered radius.

    Tiling pads by the spec's radius, so a deeper config would tile with seams.
    """
    reach = spec.radius_of(cfg, net_scale) if spec.radius_of else spec.receptive_radius
    if reach > spec.receptive_radius:
        raise ModelError(
            f"{spec.name} config reaches {reach} px, past its registered radius {spec.receptive_radius}"
        )
    return spec.build(cfg, net_scale)


def create_model(name: str, scale: int, **config: Any) -> nn.Module:
    """Build the network ``name`` for ``scale`` with its paper's default config.

    ``config`` overrides fields of the model's config dataclass; a misspelled field
    raises instead of silently keeping its default.
    """
    spec = get_spec(name)
    return build_model(spec, make_config(spec, config), spec.network_scale(scale))


def count_parameters(model: nn.Module) -> int:
    """Weights, biases and every other learned scalar."""
    return sum(p.numel() for p in model.parameters())

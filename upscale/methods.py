"""Turning a model name into the function that eval measures."""

from __future__ import annotations

from .baseline import bicubic_planes
from .errors import NotBuiltError
from .evaluate import PlanesFn
from .models import get_spec

BASELINES: dict[str, PlanesFn] = {"bicubic": bicubic_planes}


def resolve_method(name: str) -> PlanesFn:
    """The planes function of a baseline or a registered network."""
    key = name.lower()
    if key in BASELINES:
        return BASELINES[key]
    get_spec(key)  # an unknown name fails here, listing the known ones
    raise NotBuiltError(f"evaluating {key} needs the inference engine, which is not built yet; try --model bicubic")

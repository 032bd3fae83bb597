"""The model core: every architecture, registered by name.

Each architecture module is imported here by name (no folder scanning); importing
it registers its spec.
"""

from .registry import (
    ColorSpace,
    InputKind,
    ModelSpec,
    OpenCVPeer,
    count_parameters,
    create_model,
    get_spec,
    list_models,
    register,
)

# Importing an architecture module registers it; the order is the listing order.
from . import srcnn, fsrcnn, espcn, vdsr, drcn, lapsrn, srdensenet, rdn, srgan  # noqa: F401

__all__ = [
    "ColorSpace",
    "InputKind",
    "ModelSpec",
    "OpenCVPeer",
    "count_parameters",
    "create_model",
    "get_spec",
    "list_models",
    "register",
]

"""upscale: classic super-resolution networks behind one command-line tool.

Public API::

    import upscaleNone
    net = upscale.create_model("fsrcnn", scale=3)          # a fresh torch module
    model = upscale.load_model("fsrcnn", 3)                 # shipped weights, or weights="file"
    out = upscale.upscale_image(image, model, tile=None)    # PIL, uint8/uint16 array or tensor in, same out
"""

from ._version import __version__
from .inference.engine import upscale_image
from .inference.loading import LoadedModel, load_model
from .inference.options import InferenceOptions
from .models import create_model, list_models

__all__ = ["InferenceOptions", "LoadedModel", "__version__", "create_model", "list_models", "load_model", "upscale_image"]

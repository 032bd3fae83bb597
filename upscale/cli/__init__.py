"""The command-line interface: thin commands over the library."""

from . import pending as _pending  # noqa: F401  (registers `upscale`, `train`, `bench` first)
from . import eval_cmd as _eval  # noqa: F401
from . import models_cmd as _models  # noqa: F401
from . import demo_cmd as _demo  # noqa: F401
from .app import app


def main() -> None:
    """Console-script entry point."""
    app(prog_name="upscale")


__all__ = ["app", "main"]

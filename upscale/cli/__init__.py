"""The command-line interface: thin commands over the library."""

from . import upscale_cmd as _upscale  # noqa: F401  (the default command is listed first)
from . import train_cmd as _train  # noqa: F401
from . import eval_cmd as _eval  # noqa: F401
from . import bench_cmd as _bench  # noqa: F401
from . import models_cmd as _models  # noqa: F401
from . import demo_cmd as _demo  # noqa: F401
from . import weights_cmd as _weights  # noqa: F401
from . import compare_cmd as _compare  # noqa: F401
from . import zoo_cmd as _zoo  # noqa: F401
from . import curve_cmd as _curve  # noqa: F401
from . import export_cmd as _export  # noqa: F401
from . import gpu_check_cmd as _gpu_check  # noqa: F401  (hidden: the GPU day's measurements)
from ..machine import keep_freed_memory
from .app import app


def main() -> None:
    """Console-script entry point."""
    keep_freed_memory()  # this process is the command's own: reuse activation buffers (machine.py says why)
    app(prog_name="upscale")


__all__ = ["app", "main"]

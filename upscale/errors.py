"""The one error hierarchy of the library.

The library raises these and never prints or exits; the CLI turns each into one
line on stderr and the exit code carried by the class.
"""

from __future__ import annotations


class UpscaleError(Exception):
    """Base of every error the library raises on purpose (exit code 1)."""

    exit_code: int = 1


class UsageError(UpscaleError):
    """The caller asked for something malformed (exit code 2)."""

    exit_code = 2


class NotBuiltError(UsageError):
    """A command or feature that exists in the interface but not yet in the code."""


class DatasetError(UpscaleError):
    """A benchmark or training set cannot be found, fetched or verified."""


class DownloadError(UpscaleError):
    """A download (a benchmark set or a weights file) failed or its checksum did not match."""


class ImageReadError(UpscaleError):
    """An image file cannot be read or decoded."""


class ModelError(UpscaleError):
    """An unknown model, an unsupported scale, or a bad model config."""


class UnknownModelError(ModelError, UsageError):
    """A model name that is not registered (a usage error, exit code 2)."""


class UnsupportedScaleError(ModelError, UsageError):
    """A scale the model was not built for (a usage error, exit code 2)."""


class WeightsError(UpscaleError):
    """Weights are missing, malformed, or do not fit the architecture."""


class DependencyError(UpscaleError):
    """An optional dependency a feature needs is not installed."""


class ExportError(UpscaleError):
    """A network could not be exported, or the export does not reproduce PyTorch."""

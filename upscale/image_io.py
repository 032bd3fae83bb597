"""Reading images into numpy arrays: the one place files are decoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ImageReadError


def read_image(path: Path) -> np.ndarray:
    """Decode ``path`` to uint8: ``HxW`` for grayscale, ``HxWx3`` for everything else."""
    try:
        with Image.open(path) as im:
            im.load()
            gray = im.mode in ("L", "1", "I;16", "I")
            return np.asarray(im.convert("L" if gray else "RGB"))
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageReadError(f"{path}: cannot decode image ({exc})") from None

"""OpenCV's dnn_superres models, run in the same process for a side-by-side comparison.

Only for ``upscale bench --vs opencv``: the third-party model files are the user's,
found under ``--opencv-models DIR``; nothing here ships or downloads them. OpenCV 5
dropped the TensorFlow importer these ``.pb`` files need, so 4.x with contrib is required.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .errors import UpscaleError

# Our model name -> (OpenCV's algorithm name, file name pattern, scales with a file)
PEERS: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "fsrcnn": ("fsrcnn", "FSRCNN_x{scale}.pb", (2, 3, 4)),
    "espcn": ("espcn", "ESPCN_x{scale}.pb", (2, 3, 4)),
    "lapsrn": ("lapsrn", "LapSRN_x{scale}.pb", (2, 4, 8)),
}


def _cv2():
    try:
        import cv2
    except ImportError:
        raise UpscaleError("--vs opencv needs OpenCV: pip install 'opencv-contrib-python-headless>=4.8,<5'") from None
    if not hasattr(cv2, "dnn_superres"):
        raise UpscaleError(f"--vs opencv needs OpenCV's contrib modules (cv2 {cv2.__version__} has no dnn_superres)")
    if int(cv2.__version__.split(".")[0]) >= 5:
        raise UpscaleError(f"--vs opencv needs OpenCV 4.x: OpenCV {cv2.__version__} cannot read the .pb models")
    return cv2


def find_model_file(models_dir: Path, name: str, scale: int) -> Path:
    """The ``.pb`` file of ``name`` at ``scale`` anywhere under ``models_dir``."""
    if name not in PEERS or scale not in PEERS[name][2]:
        raise UpscaleError(f"OpenCV dnn_superres has no {name} x{scale} (it has fsrcnn, espcn x2-4 and lapsrn x2/4/8)")
    pattern = PEERS[name][1].format(scale=scale)
    if not models_dir.is_dir():
        raise UpscaleError(f"--opencv-models {models_dir}: no such folder")
    found = sorted(models_dir.rglob(pattern))
    if not found:
        raise UpscaleError(f"no {pattern} under {models_dir} (OpenCV dnn_superres model files)")
    return found[0]


def opencv_upscaler(models_dir: Path, name: str, scale: int) -> Callable[[np.ndarray], np.ndarray]:
    """RGB uint8 in, RGB uint8 out, through ``cv2.dnn_superres``."""
    cv2 = _cv2()
    path = find_model_file(models_dir, name, scale)
    sr = cv2.dnn_superres.DnnSuperResImpl_create()
    sr.readModel(str(path))
    sr.setModel(PEERS[name][0], scale)

    def run(rgb: np.ndarray) -> np.ndarray:
        return sr.upsample(rgb[..., ::-1].copy())[..., ::-1]

    return run

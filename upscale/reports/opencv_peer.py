"""OpenCV's dnn_superres models, run in the same process for a side-by-side comparison.

Only for ``upscale bench --vs opencv``: the third-party model files are the user's,
found under ``--opencv-models DIR``; nothing here ships or downloads them. OpenCV 5
dropped the TensorFlow importer these ``.pb`` files need, so 4.x with contrib is required.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import UpscaleError
from ..models import get_spec, list_models
from ..models.registry import OpenCVPeer

def peer_of(name: str, scale: int) -> Optional[OpenCVPeer]:
    """OpenCV's model of ``name`` at ``scale``, if OpenCV has one."""
    peer = get_spec(name).opencv_peer
    return peer if peer is not None and scale in peer.scales else None


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


def _peer_list() -> str:
    peers = {n: get_spec(n).opencv_peer for n in list_models()}
    return "it has " + ", ".join(f"{n} x{'/'.join(map(str, p.scales))}" for n, p in peers.items() if p)


def find_model_file(models_dir: Path, name: str, scale: int) -> Path:
    """The ``.pb`` file of ``name`` at ``scale`` anywhere under ``models_dir``."""
    peer = peer_of(name, scale)
    if peer is None:
        raise UpscaleError(f"OpenCV dnn_superres has no {name} x{scale} ({_peer_list()})")
    pattern = peer.file_pattern.format(scale=scale)
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
    sr.setModel(get_spec(name).opencv_peer.algorithm, scale)  # find_model_file checked it has one

    def run(rgb: np.ndarray) -> np.ndarray:
        return sr.upsample(rgb[..., ::-1].copy())[..., ::-1]

    return run

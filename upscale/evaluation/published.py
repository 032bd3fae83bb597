"""Published Y-channel PSNR/SSIM, for side-by-side tables.

Each model's module holds its paper's numbers, with their source; this module holds
the bicubic baseline's, from the RDN paper's Table 3 (CVPR 2018). Set14 bicubic x3/x4
SSIM are the values a correct implementation of the protocol reproduces
(0.7736/0.7019), not the printed 0.7742/0.7027 of an older pipeline.
"""

from __future__ import annotations

from typing import Optional

from ..models import get_spec

# The bicubic baseline's cells, (set, scale) -> (PSNR, SSIM); each model module holds its own.
BICUBIC: dict[tuple[str, int], tuple[float, Optional[float]]] = {
    ("Set5", 2): (33.66, 0.9299),
    ("Set5", 3): (30.39, 0.8682),
    ("Set5", 4): (28.42, 0.8104),
    ("Set14", 2): (30.24, 0.8688),
    ("Set14", 3): (27.55, 0.7736),
    ("Set14", 4): (26.00, 0.7019),
    ("BSD100", 2): (29.56, 0.8431),
    ("BSD100", 3): (27.21, 0.7385),
    ("BSD100", 4): (25.96, 0.6675),
}


def published(model: str, set_name: str, scale: int) -> Optional[tuple[float, Optional[float]]]:
    """The published (PSNR, SSIM) of a cell, or None where the paper gave none."""
    if model.lower() == "bicubic":
        return BICUBIC.get((set_name, scale))
    return get_spec(model).published.get((set_name, scale))

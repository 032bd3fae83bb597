"""``--model auto``: the best shipped model for a scale, by the manifest's Set5 PSNR.

The manifest records what ``upscale eval`` measured when each file was added, so the
choice follows the weights that ship: it becomes RDN once RDN's weights do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import UsageError, WeightsError
from ..models import get_spec, list_models
from .manifest import read_manifest
from .weights import read_weights, weights_filename

AUTO = "auto"
CHOICE_SET = "Set5"  # the validation set: choosing on a test set would leak it


@dataclass(frozen=True)
class ShippedModel:
    name: str
    scale: int
    set5_psnr: float


def shipped_models(scale: int) -> list[ShippedModel]:
    """Every model with a shipped file for ``scale``, best Set5 PSNR first."""
    entries = read_manifest()
    found = []
    for name in list_models():
        spec = get_spec(name)
        if scale not in spec.scales:
            continue
        entry = entries.get(weights_filename(spec, scale))
        score = (entry or {}).get("scores", {}).get(f"x{scale}", {}).get(CHOICE_SET, {}).get("psnr")
        if score is not None:
            found.append(ShippedModel(name, scale, float(score)))
    return sorted(found, key=lambda m: -m.set5_psnr)


def describe_shipped(scale: int) -> str:
    """``"fsrcnn, espcn"``: the models a user can run at ``scale``, or a note that none ships."""
    names = [m.name for m in shipped_models(scale)]
    return f"weights ship for x{scale}: {', '.join(names)}" if names else f"no weights ship for x{scale} yet"


def choose_model(name: str, scale: int, weights: Optional[Path] = None) -> str:
    """``name`` itself, or for ``auto`` the architecture of ``weights`` or the best shipped model at ``scale``."""
    if name.lower() != AUTO:
        return name
    if weights is not None:
        return str(read_weights(Path(weights))[1].get("arch", ""))
    if not any(scale in get_spec(n).scales for n in list_models()):
        raise UsageError(f"no model supports x{scale}")
    best = shipped_models(scale)
    if not best:
        raise WeightsError(f"model auto: {describe_shipped(scale)}; choose bicubic or give a weights file")
    return best[0].name

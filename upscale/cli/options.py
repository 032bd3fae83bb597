"""Option parsing shared by the commands."""

from __future__ import annotations

import typer

MAX_SCALE = 8


def parse_scales(text: str) -> list[int]:
    """``"2,3,4"`` -> ``[2, 3, 4]``; anything else is a usage error (exit 2)."""
    scales = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = int(part)
        except ValueError:
            raise typer.BadParameter(f"{part!r} is not an integer scale (e.g. -x 4 or -x 2,3,4)") from None
        if not 2 <= value <= MAX_SCALE:
            raise typer.BadParameter(f"scale must be between 2 and {MAX_SCALE}, got {value}")
        scales.append(value)
    return list(dict.fromkeys(scales))


def parse_names(text: str) -> list[str]:
    """``"Set5, Set14"`` -> ``["Set5", "Set14"]``."""
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise typer.BadParameter("expected at least one name")
    return names

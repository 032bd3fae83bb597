"""Options and option parsing shared by the commands."""

from __future__ import annotations

import re
from typing import Annotated

import typer

MAX_SCALE = 8

DeviceOption = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps.")]
"""Not an Enum: ``cuda:N`` picks one GPU (the library checks the value)."""

ScaleOption = Annotated[str, typer.Option("--scale", "-x", help="Upscaling factor.")]
"""One factor, for the commands that take one: read with :func:`parse_scales`."""


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


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([hms])")


def parse_duration(text: str) -> float:
    """``"2h30m"``, ``"90m"``, ``"45s"`` or plain seconds -> seconds; anything else is a usage error."""
    t = text.strip().lower()
    try:
        seconds = float(t)
    except ValueError:
        parts = _DURATION.findall(t)
        if not parts or "".join(n + u for n, u in parts) != t:
            raise typer.BadParameter(f"{text!r} is not a duration (e.g. 2h30m, 90m, 45s)") from None
        seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if seconds <= 0:
        raise typer.BadParameter(f"a time limit must be positive, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds -> ``"2h05m"``, ``"2m15s"`` or ``"45s"``: the form :func:`parse_duration` reads."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m" + (f"{secs:02d}s" if secs else "")
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"

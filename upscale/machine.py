"""What machine this is, in words: for keying measurements by CPU and for naming it beside every number."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_name() -> str:
    """The processor model from /proc/cpuinfo (Linux), else the platform's word for it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"

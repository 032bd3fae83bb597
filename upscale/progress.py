"""Progress reporting: the library calls a callback, the CLI decides how to show it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional


@dataclass(frozen=True)
class Progress:
    """One step of long work: ``done`` of ``total`` units of ``task`` are finished."""

    task: str
    done: int
    total: Optional[int]
    detail: str = ""


ProgressFn = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """The default callback: report nothing."""

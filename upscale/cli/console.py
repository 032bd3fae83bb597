"""The two consoles: results on stdout, progress and errors on stderr."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..progress import Progress as Step
from ..progress import ProgressFn

out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


@contextmanager
def progress_bar() -> Iterator[ProgressFn]:
    """A ProgressFn drawing one rich bar per task on stderr; silent when stderr is no terminal."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    tasks: dict[str, int] = {}

    def report(step: Step) -> None:
        if step.task not in tasks:
            tasks[step.task] = bar.add_task(step.task, total=step.total, detail="")
        bar.update(tasks[step.task], completed=step.done, total=step.total, detail=step.detail)
        if step.total is not None and step.done >= step.total and len(tasks) > 1:
            # A finished part of longer work (one set of the zoo) makes room for the next.
            bar.remove_task(tasks.pop(step.task))

    with bar:
        yield report


def emit_json(data: Any) -> None:
    """Plain JSON on stdout: no colour, no wrapping, safe to pipe into ``jq``."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")

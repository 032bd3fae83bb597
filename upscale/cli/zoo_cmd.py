"""``upscale zoo``: the model-zoo table, measured from the shipped weights."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..evaluation.datasets import resolve_set
from ..hub.weights import weights_dir
from ..models import get_spec
from ..reports.markdown import replace_block
from ..reports.zoo import zoo_markdown, zoo_rows
from ..reports.zoo_cache import zoo_cache_dir
from ..reports.zoo_record import read_record, write_record
from .app import VersionFlag, command
from .console import progress_bar
from .options import parse_names


@command("zoo")
def zoo_command(
    _version: VersionFlag = False,
    sets: Annotated[str, typer.Option("--set", help="Benchmark sets.")] = "Set5,Set14,BSD100",
    readme: Annotated[Optional[Path], typer.Option("--readme", help="Write the table into this file's zoo block.")] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Measure every row anew, not only the first set (rows are kept either way).")
    ] = False,
    models: Annotated[
        Optional[str],
        typer.Option("--models", help="Measure only these models' rows (comma-separated); keep the others "
                     "as last measured, from weights/ZOO.json."),
    ] = None,
) -> None:
    """Evaluate every shipped weights file next to the papers.

    Every file in weights/MANIFEST.json, with the published numbers and bicubic. The
    first set is measured every time; a row measured before on this CPU, by this
    version, is taken from the user cache when that first set gives the same again.
    With --readme, the rows are also recorded in weights/ZOO.json, with the CPU that
    timed them, so that a later `--models NAME` measures only that model's rows.
    """
    names = parse_names(sets)
    only = {get_spec(m).name for m in parse_names(models)} if models is not None else None
    folder = weights_dir()
    with progress_bar() as report:
        benches = [resolve_set(n, progress=report) for n in names]
        rows = zoo_rows(benches, report, cache=zoo_cache_dir(), reuse=not fresh, only=only,
                        record=read_record(folder) if only is not None else ())
    text = zoo_markdown(rows, [b.name for b in benches], "upscale " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    if readme:
        replace_block(readme, "zoo", text)
        write_record(folder, [r.to_record() for r in rows])
    else:
        typer.echo(text)

"""``upscale models``: the registry as a table or JSON."""

from __future__ import annotations

import typer
from rich.table import Table

from ..catalog import model_rows
from .app import VersionFlag, command
from .console import emit_json, out_console


@command("models")
def models_command(_version: VersionFlag = False, as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout.")) -> None:
    """List the architectures: paper, scales, input, colour space and parameter counts."""
    rows = model_rows()
    if as_json:
        emit_json(rows)
        return
    table = Table(title="Architectures")
    for col in ("name", "paper", "scales", "input", "colour", "parameters", "weights"):
        table.add_column(col, justify="right" if col == "parameters" else "left")
    for r in rows:
        params = " / ".join(f"x{s}: {n:,}" for s, n in r["parameters"].items())
        table.add_row(r["name"], r["paper"], ", ".join(f"x{s}" for s in r["scales"]), r["input"], r["colour"], params, ", ".join(f"x{s}" for s in r["weights"]) or "none yet")
    out_console.print(table)

"""``upscale weights``: register shipped weights in the manifest with their measured scores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from ..errors import UsageError, WeightsError
from ..evaluation.datasets import resolve_set
from ..evaluation.scoring import (
    CHECK_TOLERANCE_DB,
    STORAGE_TOLERANCE_DB,
    file_check,
    file_contexts,
    score_changes,
    score_file,
    score_stored,
)
from ..files import write_bytes_atomic
from ..hub.manifest import make_entry, read_manifest, verify_entry, write_manifest
from ..hub.weights import Storage, weights_dir
from .app import VersionFlag, app
from .console import out_console, progress_bar
from .options import parse_names

weights_app = typer.Typer(help="Register and check the shipped weights (the manifest).", no_args_is_help=True)
app.add_typer(weights_app, name="weights")


@weights_app.callback()
def weights_group(_version: VersionFlag = False) -> None:
    """Register and check the shipped weights (the manifest)."""


@weights_app.command("add")
def add_command(  # keyword-only, so the required FILES may follow --version
    *,
    _version: VersionFlag = False,
    files: Annotated[List[Path], typer.Argument(help="Weights files inside the weights folder.")],
    sets: Annotated[str, typer.Option("--set", help="Sets to measure and record.")] = "Set5,Set14",
    store: Annotated[
        Optional[Storage],
        typer.Option("--store", help="Rewrite each file with its tensors in this dtype, if that moves no "
                     "PSNR on the first set by more than 0.005 dB (default: as it is)."),
    ] = None,
) -> None:
    """Measure weights files and record them in the manifest.

    Each file is measured with `upscale eval` at every scale it serves.
    """
    folder = weights_dir()
    entries = read_manifest(folder)
    with progress_bar() as report:
        benches = [resolve_set(name, progress=report) for name in parse_names(sets)]
        first = benches[0].name if benches else "-"
        for path in files:
            if store is None:
                scores, drift = score_file(path, benches, report)
            else:
                stored = score_stored(path, store, benches, report)
                write_bytes_atomic(path, stored.data)  # only once the stored file has measured the same
                scores, drift = stored.scores, stored.drift
                changes = ", ".join(f"{x} {d:+.4f} dB" for x, d in stored.change.items())
                out_console.print(f"{path.name}: stored as {store.value} ({first} PSNR change: {changes})", soft_wrap=True)
            contexts = file_contexts(path, benches[0], report) if benches else {}
            for x, m in contexts.items():
                steps = ", ".join(f"{c} px {e:.3f}" for c, e in m.errors) or "none measurable"
                out_console.print(f"{path.name} {x}: tile context {m.context} px of radius {m.radius} "
                                  f"(worst error in 8-bit levels at {steps})", soft_wrap=True)
            check = file_check(path, benches[0], report) if benches else None
            entries[path.name] = make_entry(path, scores, drift, {x: m.context for x, m in contexts.items()}, check)
            out_console.print(f"{path.name}: {scores}, drift from fp32 on {first}: {drift}", soft_wrap=True)
    out_console.print(f"wrote {write_manifest(entries, folder)}")


@weights_app.command("store")
def store_command(  # keyword-only, so the required FILE may follow --version
    *,
    _version: VersionFlag = False,
    source: Annotated[Path, typer.Argument(help="Weights file to store anew.")],
    storage: Annotated[Storage, typer.Option("--as", help="The dtype to store its tensors in.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write it (not the source).")],
    check: Annotated[str, typer.Option("--set", help="Set on which the stored file must measure the same.")] = "Set5",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
) -> None:
    """Write a copy of a weights file with its tensors in another dtype.

    Only if the copy measures within 0.005 dB of the file on the set at every scale:
    for run files that are kept but not shipped (weights/training/).
    """
    if output.resolve() == source.resolve():
        raise UsageError(f"{output}: the output would replace its source; name another file")
    if output.exists() and not force:
        raise UsageError(f"{output} exists; pass --force to replace it")
    with progress_bar() as report:
        bench = resolve_set(check, progress=report)
        stored = score_stored(source, storage, [bench], report, with_drift=False)
    write_bytes_atomic(output, stored.data)
    changes = ", ".join(f"{x} {d:+.4f} dB" for x, d in stored.change.items())
    out_console.print(
        f"wrote {output} ({storage.value}, {len(stored.data) / 2**20:.1f} MiB; {bench.name} PSNR change: {changes}, "
        f"limit {STORAGE_TOLERANCE_DB} dB)",
        soft_wrap=True,
    )


@weights_app.command("verify")
def verify_command(
    _version: VersionFlag = False,
    measure: Annotated[
        bool,
        typer.Option("--measure", help="Also re-measure every recorded score (fp32, the full sets): minutes "
                     "per file for the large networks."),
    ] = False,
) -> None:
    """Check the weights files against the manifest.

    Every entry's size and sha256, and that every weights file is listed. With
    --measure, every file's PSNR on each set it records, within 0.01 dB.
    """
    folder = weights_dir()
    entries = read_manifest(folder)
    for name, entry in entries.items():
        verify_entry(folder / name, entry)
    unlisted = sorted(p.name for p in folder.glob("*.safetensors") if p.name not in entries)
    if unlisted:
        raise WeightsError(f"not in the manifest: {', '.join(unlisted)} (run 'upscale weights add')")
    if measure:
        with progress_bar() as report:
            benches = {}
            for name, entry in entries.items():
                wanted = sorted({s for sets in entry["scores"].values() for s in sets})
                for set_name in wanted:
                    benches.setdefault(set_name, resolve_set(set_name, progress=report))
                measured, _ = score_file(folder / name, [benches[s] for s in wanted], report, with_drift=False)
                changes = score_changes(entry["scores"], measured)
                if changes:
                    raise WeightsError(f"{name}: {changes[0]} (tolerance {CHECK_TOLERANCE_DB} dB)")
                out_console.print(f"{name}: {len(wanted)} set(s) measure as recorded", soft_wrap=True)
    out_console.print(f"{len(entries)} weights files match {folder / 'MANIFEST.json'}")

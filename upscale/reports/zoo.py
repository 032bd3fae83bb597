"""The model-zoo table: every shipped file measured, next to the papers and bicubic.

The first set is measured on every run; the rest of a row may come from the user
cache when that first set repeats what it gave (zoo_cache.py says why that is enough).
With ``only``, the rows of other models are taken from the committed record as last
measured, on whatever CPU measured them (zoo_record.py), and the table names that CPU.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Mapping, Optional, Sequence

from ..evaluation.bicubic import bicubic_planes
from ..evaluation.datasets import BenchmarkSet
from ..evaluation.evaluate import EvalResult, evaluate
from ..evaluation.published import published
from ..evaluation.restorers import network_planes
from ..evaluation.scoring import REDUCED, precision_drift
from ..hub.fetch import find_shipped
from ..hub.manifest import read_manifest
from ..hub.weights import weights_dir
from ..inference.loading import load_model
from ..inference.options import InferenceOptions, InferencePrecision
from ..machine import cpu_name
from ..models import count_parameters
from ..progress import Progress, ProgressFn, no_progress
from .bench import bench_model
from .zoo_cache import KeptRow, agrees, read_row, row_key, set_digests, write_row
from .zoo_record import plain, recorded_row


@dataclass(frozen=True)
class ZooRow:
    model: str
    scale: int
    file: str
    parameters: int
    results: tuple[EvalResult, ...]
    bicubic: tuple[EvalResult, ...]
    cpu_ms_256: float
    drift: tuple[tuple[str, float], ...] = ()  # (precision, PSNR change from fp32 on the first set)
    cached: bool = False  # the sets after the first, the drift and the time as kept (zoo_cache.py)
    sha256: str = ""
    cpu: str = ""  # the CPU that measured the drift and the time
    measured: str = ""  # the date of the run that measured it, or confirmed its cached copy (ISO)
    recorded: bool = False  # taken whole from the committed record, not measured by this run

    def to_record(self) -> dict[str, Any]:
        """The row as weights/ZOO.json keeps it (zoo_record.py); :meth:`from_record` reads it back."""
        return {"file": self.file, "sha256": self.sha256, "model": self.model, "scale": self.scale,
                "parameters": self.parameters, "results": [plain(r) for r in self.results],
                "bicubic": [plain(b) for b in self.bicubic], "cpu_ms_256": self.cpu_ms_256,
                "drift": [list(d) for d in self.drift], "cpu": self.cpu, "measured": self.measured}

    @classmethod
    def from_record(cls, row: Mapping[str, Any]) -> "ZooRow":
        return cls(row["model"], int(row["scale"]), row["file"], int(row["parameters"]),
                   tuple(EvalResult.from_dict(r) for r in row["results"]),
                   tuple(EvalResult.from_dict(b) for b in row["bicubic"]), float(row["cpu_ms_256"]),
                   tuple((p, float(d)) for p, d in row["drift"]), sha256=row["sha256"], cpu=row["cpu"],
                   measured=row["measured"], recorded=True)


def zoo_rows(
    benches: Sequence[BenchmarkSet],
    progress: ProgressFn = no_progress,
    time_cpu: bool = True,
    cache: Optional[Path] = None,
    reuse: bool = True,
    only: Optional[Collection[str]] = None,
    record: Sequence[Mapping[str, Any]] = (),
) -> list[ZooRow]:
    """Measure every manifest entry at every scale it serves (fp32, exact protocol).

    With a ``cache`` folder, every row measured is kept there, and (with ``reuse``) a
    row kept there is reused when the first set, measured now, gives what it gave then.
    With ``only`` (model names), the other models' rows come from ``record`` as they
    were last measured; a row the record cannot give (another file, other sets) raises
    StaleZooRowError before anything is measured.
    """
    rows, bicubic_cache = [], {}
    work = [(name, entry, int(key[1:])) for name, entry in read_manifest().items() for key in entry["scores"]]
    set_names = [b.name for b in benches]
    kept = {(name, scale): recorded_row(record, name, entry["sha256"], scale, set_names)
            for name, entry, scale in work if only is not None and entry["arch"] not in only}
    digests = set_digests(benches) if cache and len(kept) < len(work) else []
    today, here = datetime.date.today().isoformat(), cpu_name()
    for done, (name, entry, scale) in enumerate(work):
        # One bar over the whole zoo, so a run of many minutes shows how much is left.
        progress(Progress("zoo", done, len(work), f"{entry['arch']} x{scale}"))
        if (name, scale) in kept:
            rows.append(ZooRow.from_record(kept[name, scale]))
            continue
        path = find_shipped(weights_dir(), name)  # a large file may live in the cache
        model = load_model(entry["arch"], scale, path)
        planes = network_planes(model, InferenceOptions(precision=InferencePrecision.FP32))
        for b in benches:
            if (b.name, scale) not in bicubic_cache:
                bicubic_cache[b.name, scale] = evaluate("bicubic", bicubic_planes, b, scale, progress)
        bicubic = tuple(bicubic_cache[b.name, scale] for b in benches)
        head = (entry["arch"], scale, name, count_parameters(model.net))
        first = evaluate(entry["arch"], planes, benches[0], scale, progress) if benches else None
        key = row_key(entry["sha256"], scale, digests, time_cpu) if cache else ""
        cached = read_row(cache, key) if cache and reuse else None
        if cached and first and cached.results and agrees(cached.results[0], first):
            rows.append(ZooRow(*head, (first, *cached.results[1:]), bicubic, cached.cpu_ms_256, cached.drift, cached=True,
                               sha256=entry["sha256"], cpu=here, measured=today))
            continue
        results = (first, *(evaluate(entry["arch"], planes, b, scale, progress) for b in benches[1:])) if first else ()
        drift = precision_drift(model, benches[0], first.psnr, progress) if first else ()
        cpu_fp32 = InferenceOptions(device="cpu", precision=InferencePrecision.FP32)
        ms = bench_model(model, 256, 256, cpu_fp32).median_seconds * 1000 if time_cpu else float("nan")
        if cache:
            write_row(cache, key, KeptRow(results, drift, ms))
        rows.append(ZooRow(*head, results, bicubic, ms, drift, sha256=entry["sha256"], cpu=here, measured=today))
    progress(Progress("zoo", len(work), len(work)))
    return rows


def _pub(model: str, set_name: str, scale: int) -> str:
    value: Optional[tuple] = published(model, set_name, scale)
    return "–" if value is None else f"{value[0]:.2f}"


def _cpu_labels(rows: Sequence[ZooRow]) -> dict[str, str]:
    """CPU name -> A, B, ... in order of first appearance (only needed when rows differ)."""
    labels: dict[str, str] = {}
    for r in rows:
        labels.setdefault(r.cpu, chr(ord("A") + len(labels)))
    return labels


def zoo_markdown(rows: Sequence[ZooRow], set_names: Sequence[str], command: str) -> str:
    if not rows:
        return f"No weights are shipped yet (weights/MANIFEST.json is empty). Generated by `{command}`."
    labels = _cpu_labels(rows)
    several = len(labels) > 1  # a column saying which CPU timed each row, only when they differ
    head = ["model", "scale", "params"] + [f"{s} ours (PSNR / SSIM)" for s in set_names]
    head += [f"{s} paper / bicubic" for s in set_names] + ["CPU ms, 256² LR"]
    head += [f"{set_names[0]} Δ {' / '.join(p.value for p in REDUCED)}"] + (["CPU"] if several else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ours = [f"{e.psnr:.2f} / {e.ssim:.4f}" for e in r.results]
        ref = [f"{_pub(r.model, e.set, r.scale)} / {b.psnr:.2f}" for e, b in zip(r.results, r.bicubic)]
        drift = " / ".join(f"{d:+.3f}" for _, d in r.drift)
        lines.append("| " + " | ".join([r.model, f"x{r.scale}", f"{r.parameters:,}", *ours, *ref,
                                        f"{r.cpu_ms_256:.0f}", drift, *([labels[r.cpu]] if several else [])]) + " |")
    if several:
        where = "; ".join(f"{label}: {cpu or 'not recorded'}" for cpu, label in labels.items())
        machine = f"the CPU of each row ({where})"
    else:
        machine = next(iter(labels)) or "the machine that ran the command"
    kept = sum(r.cached for r in rows)
    reused = (f" {kept} of {len(rows)} rows measured {set_names[0]} again, found it unchanged, and took the "
              f"other sets, Δ and time from the user cache (measured earlier by this version on this CPU)."
              if kept else "")
    recorded = sum(r.recorded for r in rows)
    dates = sorted({r.measured for r in rows if r.recorded})
    since = f" ({dates[0]})" if len(dates) == 1 else f" ({dates[0]} to {dates[-1]})" if dates else ""
    others = f"; this run measured the other {len(rows) - recorded}" if recorded < len(rows) else ""
    record = (f" {recorded} of {len(rows)} rows are kept as last measured{since}, from the record "
              f"weights/ZOO.json{others}." if recorded else "")
    lines += ["", f"Y-channel PSNR (dB) / SSIM, border shaved by the scale. Time and Δ on {machine}; Δ: the PSNR "
              f"change (dB) when the network runs under {' and '.join(p.value for p in REDUCED)} autocast instead "
              f"of fp32.{reused}{record} Generated by `{command}`."]
    return "\n".join(lines)

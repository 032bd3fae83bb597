"""The validation curve of training runs, drawn as a picture: where a campaign stands, at a glance.

A run folder's ``log.jsonl`` (written by the trainer, appended to by every resumed
call) holds a validation PSNR every ``--val-every`` steps. The picture plots them
by step, with the paper's value for the run's model and scale and the best shipped
file at that scale as dashed lines: the two bars a campaign is measured against.
A run that keeps a weight average (``--ema``) validates the average; the live weights'
PSNR, logged beside it, is drawn as a lighter line, so the picture shows what the
average gains. A multi-scale run (VDSR) logs a PSNR per scale: each scale gets its own
panel, with that scale's paper value, since their mean is no paper's number.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence, TypeVar

from PIL import Image, ImageDraw, ImageFont

from ..errors import UsageError
from ..evaluation.published import published
from ..hub.manifest import read_manifest

LOG_NAME = "log.jsonl"
Box = tuple[float, float, float, float]  # (left, top, right, bottom) in pixels
T = TypeVar("T")
COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14))
LINE_COLOURS = ((90, 90, 90), (160, 110, 20), (120, 120, 200))


@dataclass(frozen=True)
class Curve:
    label: str
    model: str
    scale: int
    val_set: str
    points: tuple[tuple[int, float], ...]  # (step, validation PSNR), by step
    live: tuple[tuple[int, float], ...] = ()  # the live weights' PSNR where an average was validated


@dataclass(frozen=True)
class Line:
    label: str
    value: float
    scale: Optional[int] = None  # drawn on that scale's panel only; None: on every panel


# The trainer's per-scale keys of a multi-scale run: val_psnr_x2, val_psnr_x3, ...
_PER_SCALE = "val_psnr_x"


def _continued_from(start: dict, scale: int) -> int:
    """Steps already behind a run's first step: those of the file it started from with
    ``--init`` at its own scale, so a branch is drawn on from its source, not over it. A
    fine-tune from another scale starts at 0: its curve is on another panel, and its
    source's steps trained another task."""
    init = start.get("init")
    if isinstance(init, dict) and init.get("scale") == scale and isinstance(init.get("steps"), int):
        return init["steps"]
    return 0


def read_curves(run: Path) -> list[Curve]:
    """The validation curves of a run folder: one, or a multi-scale run's one per scale (the
    live weights are logged as a mean only, so not drawn there). A later call's point for a
    step replaces an earlier one. A run started with ``--init`` from a file of its own scale
    is drawn from that file's step on (logs from before 2026-12-07 did not record it)."""
    path = run / LOG_NAME
    if not path.is_file():
        raise UsageError(f"{run}: no {LOG_NAME} here; give a run folder (the --out of upscale train)")
    model, scale, val_set, points, live, offset = "", 0, "", {}, {}, 0
    by_scale: dict[int, dict[int, float]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a killed run
        if record.get("event") == "start" and not model:
            model, scale = str(record.get("model", "")), int(record.get("scale", 0))
            offset = _continued_from(record, scale)
        if "val_psnr" in record and math.isfinite(record["val_psnr"]):
            step = int(record["step"]) + offset
            points[step] = float(record["val_psnr"])
            val_set = str(record.get("val_set", val_set))
            if math.isfinite(record.get("val_psnr_live", math.nan)):
                live[step] = float(record["val_psnr_live"])
            else:
                live.pop(step, None)  # a resumed call without an average replaced the step
            for key, value in record.items():
                if key.startswith(_PER_SCALE) and key[len(_PER_SCALE):].isdigit() and math.isfinite(value):
                    by_scale.setdefault(int(key[len(_PER_SCALE):]), {})[step] = float(value)
    if not points:
        raise UsageError(f"{path}: no validation points yet")
    if by_scale:
        return [Curve(f"{model} x{s} ({run.name})", model, s, val_set, tuple(sorted(p.items())))
                for s, p in sorted(by_scale.items())]
    return [Curve(f"{model} x{scale} ({run.name})", model, scale, val_set, tuple(sorted(points.items())),
                  tuple(sorted(live.items())))]


def curve_panels(curves: Sequence[Curve], extra: Sequence[Line] = ()) -> Image.Image:
    """:func:`curve_picture` per scale, stacked: each panel with its scale's curves, the paper's
    value and the best shipped file there (:func:`reference_lines`), and the ``extra`` lines
    meant for it."""
    scales = sorted({c.scale for c in curves})
    panels = []
    for scale in scales:
        group = [c for c in curves if c.scale == scale]
        lines = reference_lines(group[0]) + [line for line in extra if line.scale in (None, scale)]
        title = f"{group[0].val_set} PSNR (dB, Y) during training, x{scale}" if len(scales) > 1 else None
        panels.append(curve_picture(group, lines, title))
    image = Image.new("RGB", (max(p.width for p in panels), sum(p.height for p in panels)), "white")
    top = 0
    for panel in panels:
        image.paste(panel, (0, top))
        top += panel.height
    return image


def reference_lines(curve: Curve) -> list[Line]:
    """The paper's value for the curve's model and scale, and the best shipped file there, on its set."""
    lines = []
    paper = published(curve.model, curve.val_set, curve.scale)
    if paper is not None:
        lines.append(Line(f"{curve.model} paper {paper[0]:.2f}", paper[0]))
    key, shipped = f"x{curve.scale}", []
    for entry in read_manifest().values():
        score = entry["scores"].get(key, {}).get(curve.val_set)
        if score:
            shipped.append((score["psnr"], entry["arch"]))
    if shipped:
        value, arch = max(shipped)
        lines.append(Line(f"best shipped {key}: {arch} {value:.2f}", value))
    return lines


def _nice_step(span: float, ticks: int = 6) -> float:
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def curve_picture(curves: Sequence[Curve], lines: Sequence[Line], title: Optional[str] = None) -> Image.Image:
    """Validation PSNR by step: one polyline per curve, one dashed line per reference."""
    width, height, left, right, top, bottom = 960, 540, 70, 24, 44, 56
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font, small = ImageFont.load_default(size=15), ImageFont.load_default(size=13)
    values = [v for c in curves for _, v in c.points + c.live] + [line.value for line in lines]
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.08, 0.1)
    lo, hi = lo - pad, hi + pad
    last = max(s for c in curves for s, _ in c.points) or 1
    x0, x1, y0, y1 = left, width - right, height - bottom, top

    def at(step: float, psnr: float) -> tuple[float, float]:
        return x0 + (x1 - x0) * step / last, y0 + (y1 - y0) * (psnr - lo) / (hi - lo)

    # Axes, grid and tick labels
    dy = _nice_step(hi - lo)
    v = math.ceil(lo / dy) * dy
    while v <= hi:
        _, y = at(0, v)
        draw.line([(x0, y), (x1, y)], fill=(232, 232, 232))
        draw.text((x0 - 8, y), f"{v:.2f}" if dy < 0.1 else f"{v:.1f}", fill="black", font=small, anchor="rm")
        v += dy
    dx = _nice_step(last)
    s = 0.0
    while s <= last:
        x, _ = at(s, lo)
        draw.line([(x, y0), (x, y0 + 4)], fill="black")
        draw.text((x, y0 + 8), f"{s:,.0f}", fill="black", font=small, anchor="mt")
        s += dx
    draw.rectangle([x0, y1, x1, y0], outline="black")
    draw.text(((x0 + x1) / 2, height - 18), "training step", fill="black", font=font, anchor="mm")
    set_name = curves[0].val_set if curves else ""
    draw.text((x0, 14), title or f"{set_name} PSNR (dB, Y) during training", fill="black", font=font)

    # Reference lines, dashed, each labelled at its right end above it, else below it, else
    # further left in 8-pixel steps, else a row further off: the first place that no curve
    # runs through and no earlier label or line covers (a run ends near its bars).
    # Each curve's pixels, its average's and its live weights', computed once: drawn below,
    # and kept clear by the labels and the legend.
    main_xy = [[at(step, psnr) for step, psnr in c.points] for c in curves]
    live_xy = [[at(step, psnr) for step, psnr in c.live] for c in curves]
    paths = main_xy + live_xy
    # Every line's own strip is taken before any label is placed: a label set above its line
    # must not land on a later line drawn close over it (a paper value beside a shipped one).
    taken: list[Box] = [(x0, y - 2, x1, y + 2) for y in (at(0, line.value)[1] for line in lines)]
    # The margins hold the title and the tick labels: no label of ours may reach into them
    # (a short early run's last value, right-aligned to its point, ran into the y ticks).
    taken += [(0, 0, width, y1), (0, 0, x0, height), (0, y0 + 1, width, height), (x1, 0, width, height)]
    over_curves: list[tuple[tuple[tuple[tuple[float, float], str], Box], str, tuple[int, int, int]]] = []
    for i, line in enumerate(lines):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        _, y = at(0, line.value)
        for xs in range(int(x0), int(x1), 12):
            draw.line([(xs, y), (min(xs + 7, x1), y)], fill=colour, width=2)
        # Beside the line first; then a row further off each time (two bars a few pixels
        # apart with a run flat just under them leave no place beside the line).
        places = [((x1 - 6 - d, y + sign * (4 + 14 * row)), anchor) for row in range(4)
                  for d in range(0, int(x1 - x0) // 2, 8) for sign, anchor in ((-1, "rb"), (1, "rt"))]
        candidates = [text_box(draw, line.label, small, p) for p in places]
        found = first_clear(candidates, taken, paths)
        if found is None:
            # Every place crosses a curve: the first clear of the other lines and labels,
            # drawn over the curves on white, rather than one label over another.
            found = first_clear(candidates, taken) or candidates[0]
            over_curves.append((found, line.label, colour))
        else:
            write_text(draw, found, line.label, colour, small)
        left_edge, top_edge, right_edge, bottom_edge = found[1]
        taken.append((left_edge - 8, top_edge, right_edge + 8, bottom_edge))  # a word's gap to the next label

    # Curves, with a dot at every validation and the last value written beside the last one;
    # the live weights of an averaged run first, lighter and thinner, under their average.
    legend = [(c.label, COLOURS[i % len(COLOURS)]) for i, c in enumerate(curves)]
    for i, curve in enumerate(curves):
        if curve.live:
            colour = lighter(COLOURS[i % len(COLOURS)])
            xy = live_xy[i]
            if len(xy) > 1:
                draw.line(xy, fill=colour, width=1)
            for x, y in xy:
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], outline=colour)
            legend.append((f"{curve.label}: live weights, where the darker line is their average", colour))
    for i, curve in enumerate(curves):
        colour = COLOURS[i % len(COLOURS)]
        xy = main_xy[i]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        for x, y in xy:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        step, psnr = curve.points[-1]
        text, (x, y) = f"{psnr:.2f} at {step:,}", xy[-1]
        # Below the last point, else above it, else further off in 4-pixel steps: the first
        # place that covers no reference line or label (a curve ending near reference lines).
        below = [((x - 6, y + 8 + d), "rt") for d in range(0, 64, 4)]
        above = [((x - 6, y - 8 - d), "rb") for d in range(0, 64, 4)]
        # Left of the point first (a run ends at the right edge); right of it where the
        # left would reach the axis' labels.
        after = [((x + 6, y + sign * (8 + d)), anchor) for d in range(0, 64, 4) for sign, anchor in ((1, "lt"), (-1, "lb"))]
        places = below[:1] + above[:1] + below[1:] + above[1:] + after
        # Not the curves: its own ends right beside it.
        clear = first_clear((text_box(draw, text, small, p) for p in places), taken)
        (xy_text, anchor), box = clear or text_box(draw, text, small, places[0])
        # No free place: the curve itself runs through the lines and labels, so a white backing.
        write_text(draw, ((xy_text, anchor), box), text, colour, small, backed=clear is None)
        taken.append(box)
    for place, label, colour in over_curves:
        write_text(draw, place, label, colour, small, backed=True)
    # The legend in the lower right, where a rising curve leaves room; else the first other
    # corner that no curve, line or label crosses (runs compared that end low).
    rows = list(reversed(legend))
    wide = max((draw.textlength(label, font=font) for label, _ in rows), default=0)
    tall = 18 * len(rows)
    corners = [("r", y0 - 10), ("l", y0 - 10), ("l", y1 + 10 + tall), ("r", y1 + 10 + tall)]
    boxes = (((side, base), (x1 - 10 - wide if side == "r" else x0 + 10, base - tall,
                             x1 - 10 if side == "r" else x0 + 10 + wide, base)) for side, base in corners)
    clear = first_clear(boxes, taken, paths)
    if clear is None:  # no corner is clear: the picture grows, and the legend goes under the axis
        grown = Image.new("RGB", (width, height + tall + 8), "white")
        grown.paste(image, (0, 0))
        image, draw = grown, ImageDraw.Draw(grown)
    (side, base), _ = clear or (("l", height + tall), None)
    for row, (label, colour) in enumerate(rows):
        x = x1 - 10 if side == "r" else x0 + 10
        draw.text((x, base - 18 * row), label, fill=colour, font=font, anchor=side + "b")
    return image


def write_text(draw: ImageDraw.ImageDraw, place: tuple[tuple[tuple[float, float], str], Box], text: str,
               colour: tuple[int, int, int], font: ImageFont.ImageFont, backed: bool = False) -> None:
    """``text`` at a :func:`text_box` place; ``backed``: on a white box, over what is drawn there."""
    (xy, anchor), box = place
    if backed:
        draw.rectangle([box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1], fill="white")
    draw.text(xy, text, fill=colour, font=font, anchor=anchor)


def lighter(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """Half way to white."""
    return tuple((c + 255) // 2 for c in colour)  # type: ignore[return-value]


def overlaps(a: Box, b: Box) -> bool:
    """Whether two (left, top, right, bottom) boxes share any area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def text_box(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont,
             place: tuple[tuple[float, float], str]) -> tuple[tuple[tuple[float, float], str], Box]:
    """A ((x, y), anchor) place with the box its text would cover there."""
    return place, draw.textbbox(place[0], text, font=font, anchor=place[1])


def first_clear(candidates: Iterable[tuple[T, Box]], taken: Sequence[Box],
                paths: Sequence[Sequence[tuple[float, float]]] = ()) -> Optional[tuple[T, Box]]:
    """The first (place, box) whose box covers nothing taken and that no curve runs through."""
    return next(((place, box) for place, box in candidates
                 if not any(overlaps(box, other) for other in taken) and not crosses(box, paths)), None)


def crosses(box: Box, paths: Sequence[Sequence[tuple[float, float]]]) -> bool:
    """Whether a polyline (or its dots, 3 pixels round) passes through a box."""
    left, top, right, bottom = box[0] - 3, box[1] - 3, box[2] + 3, box[3] + 3
    for path in paths:
        for (ax, ay), (bx, by) in zip(path, path[1:] or path):
            n = max(1, int(max(abs(bx - ax), abs(by - ay))))  # a sample every pixel along the segment
            if any(left <= ax + (bx - ax) * k / n <= right and top <= ay + (by - ay) * k / n <= bottom
                   for k in range(n + 1)):
                return True
    return False

"""Tiled application of an image-to-image function: pure functions, no tiler object.

A tile is a core box of the input plus context padding on every side that has
image there. The function sees the padded crop; only the core's part of its result
is kept. With padding at least the function's receptive radius, the stitched
output equals the output of one call on the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..progress import Progress, ProgressFn, no_progress


@dataclass(frozen=True)
class Tile:
    """Core rows/cols ``[y0, y1) x [x0, x1)`` and the padded crop around it, in input pixels."""

    y0: int
    y1: int
    x0: int
    x1: int
    py0: int
    py1: int
    px0: int
    px1: int


def plan_tiles(height: int, width: int, tile: int, pad: int) -> list[Tile]:
    """Cover an image with cores of at most ``tile`` px, each padded by ``pad`` px.

    ``tile`` 0, or a tile at least as large as the image, gives one tile.
    Cores are balanced so the last row/column is not a sliver.
    """
    if tile <= 0:
        tile = max(height, width)

    def edges(length: int) -> list[int]:
        count = -(-length // tile)
        return [round(i * length / count) for i in range(count + 1)]

    rows, cols = edges(height), edges(width)
    return [
        Tile(y0, y1, x0, x1, max(y0 - pad, 0), min(y1 + pad, height), max(x0 - pad, 0), min(x1 + pad, width))
        for y0, y1 in zip(rows, rows[1:])
        for x0, x1 in zip(cols, cols[1:])
    ]


def batch_tiles(tiles: list[Tile], batch: int) -> list[list[Tile]]:
    """Consecutive tiles of one padded shape, at most ``batch`` per group.

    Only tiles of the same shape share a forward pass: padding a smaller border tile
    up to the common shape would change what the network sees at the image border.
    """
    groups: list[list[Tile]] = []
    for t in tiles:
        shape = (t.py1 - t.py0, t.px1 - t.px0)
        last = groups[-1] if groups else None
        if last and len(last) < batch and (last[0].py1 - last[0].py0, last[0].px1 - last[0].px0) == shape:
            last.append(t)
        else:
            groups.append([t])
    return groups


def run_tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    scale: int,
    tiles: list[Tile],
    write: Callable[[Tile, torch.Tensor], None],
    progress: ProgressFn = no_progress,
    task: str = "tiles",
    batch: int = 1,
) -> None:
    """Apply ``fn`` (``N,C,h,w -> N,C',h*scale,w*scale``) tile by tile, ``batch`` tiles per call.

    ``write(tile, core)`` receives the core's output, so the caller decides where it
    goes (a preallocated uint8 array, a float tensor) and nothing holds a second
    full-size float copy. Batching several same-shape tiles into one call keeps a
    GPU busy; the outputs are the same as one tile per call.
    """
    done, n = 0, x.shape[0]
    for group in batch_tiles(tiles, max(batch, 1)):
        progress(Progress(task, done, len(tiles)))
        crops = [x[..., t.py0 : t.py1, t.px0 : t.px1] for t in group]
        out = fn(crops[0] if len(crops) == 1 else torch.cat(crops, dim=0))
        for i, t in enumerate(group):
            oy, ox = (t.y0 - t.py0) * scale, (t.x0 - t.px0) * scale
            core = out[i * n : (i + 1) * n, ..., oy : oy + (t.y1 - t.y0) * scale, ox : ox + (t.x1 - t.x0) * scale]
            write(t, core)
        done += len(group)
    progress(Progress(task, len(tiles), len(tiles)))

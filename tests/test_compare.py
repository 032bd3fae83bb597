"""`upscale compare`: labelled crops of several methods with their PSNR."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from upscale import create_model
from upscale.models import get_spec
from upscale.hub.weights import describe, save_weights


def test_compare_bicubic_and_a_network(cli, tmp_path):
    y, x = np.mgrid[0:60, 0:64]
    hr = np.stack([x * 4, y * 4, (x + y) * 2], -1) % 256
    Image.fromarray(hr.astype(np.uint8)).save(tmp_path / "hr.png")
    torch.manual_seed(0)
    spec = get_spec("espcn")
    w = tmp_path / "espcn_x2.safetensors"
    save_weights(w, create_model("espcn", 2), describe(spec, 2, spec.config_cls()))
    out = tmp_path / "cmp.png"
    result = cli(["compare", str(tmp_path / "hr.png"), "--models", "bicubic,espcn", "-x", "2",
                  "--weights", str(w), "--crop", "10,10,32,24", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "bicubic:" in result.stdout and "espcn:" in result.stdout and "dB" in result.stdout
    sheet = Image.open(out)
    assert sheet.width >= 4 * 32 * 2 and sheet.height >= 24 * 2  # LR, two methods and HR, zoomed x2
    stacked = cli(["compare", str(tmp_path / "hr.png"), "--models", "bicubic,espcn", "-x", "2", "--weights", str(w),
                   "--crop", "10,10,32,24", "--columns", "2", "-o", str(tmp_path / "stacked.png")])
    assert stacked.exit_code == 0, stacked.stderr
    assert Image.open(tmp_path / "stacked.png").size == ((sheet.width + 4) // 2, 2 * sheet.height - 4)
    same = cli(["compare", str(tmp_path / "hr.png"), "-o", str(tmp_path / "hr.png")])
    assert same.exit_code == 2 and "overwrite" in same.stderr


def test_long_comparisons_wrap_into_balanced_rows():
    from upscale.reports.compare import Panel, comparison_sheet, sheet_columns

    assert [sheet_columns(n) for n in (1, 7, 8, 9, 14, 15)] == [1, 7, 4, 5, 7, 5]
    assert sheet_columns(9, 3) == 3 and sheet_columns(2, 5) == 2 and sheet_columns(0) == 1
    panels = [Panel(str(i), np.full((10, 12, 3), 20 * i, np.uint8), 30.0 + i) for i in range(9)]
    one_row = comparison_sheet(panels[:7])
    two_rows = comparison_sheet(panels)
    assert two_rows.width == one_row.width - 2 * (24 + 4)  # five columns of 24 px, not seven
    assert two_rows.height == 2 * one_row.height - 4  # two rows share the gap between them
    # The sixth panel opens the second row: its pixels sit under the first panel's.
    sheet = np.asarray(two_rows)
    assert (sheet[one_row.height + 2, 4 + 5] == 20 * 5).all()
    assert comparison_sheet(panels, columns=3).height == 3 * one_row.height - 2 * 4

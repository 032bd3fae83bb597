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
    same = cli(["compare", str(tmp_path / "hr.png"), "-o", str(tmp_path / "hr.png")])
    assert same.exit_code == 2 and "overwrite" in same.stderr
